// The one gate between hub/API values and cache paths (src/sources/cache/safe-path.ts), and the writers that use it:
// HfRepoCache (links, refs, blobs, locks), the download's partial files.
import {describe, expect, it} from '@jest/globals';
import {lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, symlinkSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {HfRepoCache} from '../../../src/sources/cache/hf-cache.js';
import {checkCommit, checkDownloadPaths, checkOid, checkRepoPath, checkSegment, pathInside, quoteValue, safeFileName, UnsafePathError} from '../../../src/sources/cache/safe-path.js';
import {downloadFile} from '../../../src/sources/download/fetch-file.js';

const SHA1 = 'a'.repeat(40);
const SHA256 = 'b'.repeat(64);

function refused(fn: () => unknown): UnsafePathError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UnsafePathError);
    expect((err as UnsafePathError).exitCode).toBe(6);
    expect((err as Error).message.split('\n')).toHaveLength(1);
    return err as UnsafePathError;
  }
  throw new Error('expected a refusal');
}

describe('repo paths, names, shas and oids', () => {
  it('takes ordinary repo paths unchanged', () => {
    for (const p of ['model_index.json', 'unet/diffusion_pytorch_model.fp16.safetensors', 'a b/c (1).json', '.gitattributes', 'x..y/z...json']) {
      expect(checkRepoPath(p, 'p')).toBe(p);
    }
  });

  it('refuses .., ., absolute paths, empty segments, backslashes and control characters', () => {
    for (const p of ['../../../../victim.txt', 'a/../../b', '..', '.', 'a/./b', '/etc/passwd', 'a//b', 'a/', '', 'a\\..\\b', 'C:/x', 'a\u0000b', 'a\nb', 'a\u001b]0;x\u0007', 'a\u009bb', 5, null]) {
      refused(() => checkRepoPath(p, 'org/x: a file path'));
    }
    refused(() => checkSegment('a/b', 'component'));
    expect(checkSegment('unet', 'component')).toBe('unet');
  });

  it('commits are 40 hex, oids 64 hex (sha256) or 40 hex (git sha1)', () => {
    expect(checkCommit(SHA1, 'c')).toBe(SHA1);
    for (const c of ['../../..', SHA1.toUpperCase(), SHA1.slice(1), SHA256, 'main']) refused(() => checkCommit(c, 'c'));
    expect(checkOid(SHA256, 'o', 'sha256')).toBe(SHA256);
    expect(checkOid(SHA1, 'o', 'sha1')).toBe(SHA1);
    expect(checkOid(SHA1, 'o')).toBe(SHA1);
    for (const o of ['../../../../victim-oid', SHA1 + '/..', SHA256.slice(2), '']) refused(() => checkOid(o, 'o'));
    refused(() => checkOid(SHA1, 'o', 'sha256'));
  });

  it('names the bad value escaped: quotes and control characters never reach the terminal raw', () => {
    const err = refused(() => checkRepoPath('x\u001b]2;pwned\u0007/\u009b31m', 'org/x: a file path'));
    expect(err.message).toContain('org/x: a file path: refused "x\\u001b]2;pwned\\u0007/\\x9b31m"');
    expect(err.message).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
    expect(quoteValue('a'.repeat(500)).length).toBeLessThan(100);
  });

  it('safeFileName reduces any name to a plain basename', () => {
    expect(safeFileName('model.safetensors')).toBe('model.safetensors');
    expect(safeFileName('../../../../home/.bashrc')).toBe('bashrc');
    expect(safeFileName('..\\..\\evil.ckpt')).toBe('evil.ckpt');
    expect(safeFileName('..')).toBe('model');
    expect(safeFileName('')).toBe('model');
    expect(safeFileName(undefined)).toBe('model');
    expect(safeFileName('a\u001bb/c\u0000d.pt')).toBe('c_d.pt');
    const long = safeFileName('x'.repeat(5000) + '.safetensors');
    expect(long.length).toBeLessThanOrEqual(200);
    expect(long.endsWith('.safetensors')).toBe(true);
  });
});

describe('pathInside', () => {
  it('joins checked parts under the root and refuses what leaves it', () => {
    const root = mkdtempSync(join(tmpdir(), 'mgen-inside-'));
    expect(pathInside(root, ['snap', 'unet/config.json'], {what: 'w'})).toBe(join(root, 'snap', 'unet', 'config.json'));
    refused(() => pathInside(root, '../x', {what: 'w'}));
  });

  it('refuses to go through a symlinked folder that leads out of the root; a symlinked root is fine', () => {
    const base = mkdtempSync(join(tmpdir(), 'mgen-inside-'));
    const outside = join(base, 'outside');
    const real = join(base, 'real-root');
    mkdirSync(outside);
    mkdirSync(real);
    symlinkSync(real, join(base, 'root'));
    const root = join(base, 'root');
    expect(pathInside(root, 'a/b', {what: 'w'})).toBe(join(root, 'a', 'b'));
    mkdirSync(join(real, 'inside-dir'));
    symlinkSync(join(real, 'inside-dir'), join(real, 'ok-link'));
    expect(pathInside(root, 'ok-link/f', {what: 'w'})).toBe(join(root, 'ok-link', 'f'));
    symlinkSync(outside, join(real, 'evil'));
    expect(refused(() => pathInside(root, 'evil/f', {what: 'org/x: blob'})).message).toMatch(/symlink on the way leads out/);
    // The final entry: replaced (not followed) by default, followed (so checked) when it is written through.
    writeFileSync(join(outside, 'secret'), 's');
    symlinkSync(join(outside, 'secret'), join(real, 'final'));
    expect(pathInside(root, 'final', {what: 'w'})).toBe(join(root, 'final'));
    refused(() => pathInside(root, 'final', {what: 'w', final: 'follow'}));
  });
});

describe('writers use it', () => {
  it('HfRepoCache.link refuses a path through a symlinked folder leading outside and leaves the outside file alone', () => {
    const base = mkdtempSync(join(tmpdir(), 'mgen-link-'));
    const victimDir = join(base, 'victim');
    mkdirSync(victimDir);
    writeFileSync(join(victimDir, 'authorized_keys'), 'keep me');
    const cache = new HfRepoCache(join(base, 'hub'), 'org/x');
    mkdirSync(join(cache.snapshotsDir, SHA1), {recursive: true});
    symlinkSync(victimDir, join(cache.snapshotsDir, SHA1, 'unet'));
    refused(() => cache.link(SHA1, 'unet/authorized_keys', SHA256));
    expect(readFileSync(join(victimDir, 'authorized_keys'), 'utf8')).toBe('keep me');
    // And the hostile values themselves.
    refused(() => cache.link('../../..', 'model_index.json', SHA1));
    refused(() => cache.link(SHA1, '../../../../victim.txt', SHA1));
    refused(() => cache.link(SHA1, 'model_index.json', '../../../../victim-oid'));
    refused(() => cache.blobPath('../../x'));
    refused(() => cache.blobLockPath('../../x'));
    refused(() => cache.writeRef('../../../../victim', SHA1));
    refused(() => cache.writeRef('main', '../../..'));
    // A good link still works, and replaces what was there inside the snapshot.
    cache.link(SHA1, 'vae/config.json', SHA1);
    expect(readlinkSync(join(cache.snapshotsDir, SHA1, 'vae', 'config.json'))).toBe(`../../../blobs/${SHA1}`);
    cache.writeRef('refs/pr/1', SHA1);
    expect(readFileSync(join(cache.refsDir, 'refs', 'pr', '1'), 'utf8')).toBe(SHA1);
  });

  it('checkDownloadPaths: a partial file that is a symlink out of the folder is refused before it is opened', async () => {
    const base = mkdtempSync(join(tmpdir(), 'mgen-partial-'));
    const blobs = join(base, 'blobs');
    mkdirSync(blobs);
    writeFileSync(join(base, 'bashrc'), 'decoy');
    symlinkSync(join(base, 'bashrc'), join(blobs, `${SHA256}.incomplete`));
    const dest = join(blobs, SHA256);
    refused(() => checkDownloadPaths(dest, [`${dest}.incomplete`]));
    expect(() => checkDownloadPaths(dest, [`${dest}.other`])).not.toThrow();
    // downloadFile runs the check before any request: the URL is never fetched, the decoy never written.
    await expect(downloadFile({url: 'http://127.0.0.1:9/never', size: 10, sha256: SHA256, dest, label: 'x'})).rejects.toBeInstanceOf(UnsafePathError);
    expect(readFileSync(join(base, 'bashrc'), 'utf8')).toBe('decoy');
    expect(lstatSync(join(blobs, `${SHA256}.incomplete`)).isSymbolicLink()).toBe(true);
  });
});
