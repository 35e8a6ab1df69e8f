// --out onto a folder, output-path errors that name the path, and a full disk while the images are written.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {mkdirSync, mkdtempSync, readdirSync, writeFileSync} from 'node:fs';
import {rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {checkOutputTarget, outputWriteError, resolveOutputPaths, writeImagesAtomically} from '../../src/backends/output-paths.js';
import {GenerationError, StorageError, UsageError} from '../../src/errors.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mgen-outpaths-'));
});
afterAll(async () => {
  await rm(dir, {recursive: true, force: true});
});

const now = new Date(2026, 0, 2, 3, 4, 5);

describe('--out naming a folder (like cp: the default names inside it)', () => {
  it('an existing folder, or a name ending in /, gets the default file names inside it', () => {
    mkdirSync(join(dir, 'pics'));
    expect(resolveOutputPaths(join(dir, 'pics'), {seed: 7, numImages: 2, model: 'm', now})).toEqual([
      join(dir, 'pics', 'mgen-20260102-030405-7-0.png'), join(dir, 'pics', 'mgen-20260102-030405-8-1.png'),
    ]);
    expect(resolveOutputPaths('later/', {seed: 1, numImages: 1, model: 'm', now, cwd: '/w'})).toEqual(['/w/later/mgen-20260102-030405-1-0.png']);
  });

  it('made-up names inside the folder never replace an earlier image', () => {
    const exists = (p: string) => p.endsWith('-7-0.png');
    expect(resolveOutputPaths(join(dir, 'pics'), {seed: 7, numImages: 1, model: 'm', now, exists})).toEqual([join(dir, 'pics', 'mgen-20260102-030405-7-0-2.png')]);
  });

  it('checkOutputTarget accepts a writable folder, an absent one and the default', () => {
    expect(() => checkOutputTarget(join(dir, 'pics'))).not.toThrow();
    expect(() => checkOutputTarget(join(dir, 'none', 'x-{seed}.png'))).not.toThrow();
    expect(() => checkOutputTarget(undefined, dir)).not.toThrow();
    expect(readdirSync(dir).filter((n) => n.startsWith('.mgen-probe'))).toEqual([]);
  });
});

describe('errors while writing outputs name the path', () => {
  it('ENOSPC (from Node or the worker\'s Python) is a StorageError (exit 7) naming the image', () => {
    const e = outputWriteError(Object.assign(new Error('ENOSPC: no space left on device, write'), {code: 'ENOSPC'}), '/w/a.png') as StorageError;
    expect(e).toBeInstanceOf(StorageError);
    expect(e.exitCode).toBe(7);
    expect(e.message).toBe('no space left on the device to write /w/a.png');
    const py = outputWriteError(new GenerationError('OSError: [Errno 28] No space left on device'), '/w/b.png');
    expect(py).toBeInstanceOf(StorageError);
    expect(outputWriteError(Object.assign(new Error('x'), {code: 'EISDIR'}), '/w/c.png')).toBeInstanceOf(UsageError);
  });

  it('a full disk while the worker writes: StorageError with the path, and nothing half-written is left', async () => {
    const out = join(dir, 'full');
    mkdirSync(out);
    const targets = [join(out, 'a-0.png'), join(out, 'a-1.png')];
    const err = await writeImagesAtomically(targets, async (outDir, stem) => {
      // The worker wrote the first image whole, then the disk filled up on the second (its own temp file is gone).
      writeFileSync(join(outDir, `${stem}-0.png`), 'png');
      throw new GenerationError('OSError: [Errno 28] No space left on device');
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).message).toBe(`no space left on the device to write ${targets[0]}`);
    expect(readdirSync(out)).toEqual([]);
  });

  it('a target that is an existing folder is exit 2 naming it (not EISDIR exit 6)', async () => {
    const out = join(dir, 'clash');
    mkdirSync(join(out, 'x.png'), {recursive: true});
    const err = await writeImagesAtomically([join(out, 'x.png')], async (outDir, stem) => {
      const p = join(outDir, `${stem}-0.png`);
      writeFileSync(p, 'png');
      return {worker: {images: [{path: p, seed: 1, width: 8, height: 8}], timings: {denoise_s: 0, total_s: 0, steps: 1}} as never, finish: (paths: string[]) => paths};
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toMatch(new RegExp(`^cannot write ${join(out, 'x.png')}`));
    expect(readdirSync(out)).toEqual(['x.png']);
  });
});
