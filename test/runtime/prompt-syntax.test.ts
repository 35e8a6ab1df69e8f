// A1111 prompt syntax end to end: `mgen generate` on the tiny sd1 builtin with weighted prompts, and a cached
// textual inversion activated by its file name in the prompt.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync} from 'node:fs';
import {mkdtemp, rm} from 'node:fs/promises';
import {createHash} from 'node:crypto';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {pixelDigest} from '../helpers/png.js';
import {cli, TEST_HOME, testPython, tiny} from './support.js';

let out: string;
let home: string;
const SMALL = ['--width', '64', '--height', '64', '--steps', '2', '--seed', '5', '--no-reuse'];

async function gen(name: string, prompt: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const file = join(out, `${name}.png`);
  const r = await cli(['generate', 'builtin:tiny-sd', '--prompt', prompt, ...SMALL, ...extra, '--out', file], {env});
  expect({code: r.code, stderr: r.stderr}).toEqual({code: 0, stderr: expect.any(String)});
  return pixelDigest(readFileSync(file));
}

beforeAll(async () => {
  await testPython();
  out = await mkdtemp(join(tmpdir(), 'mgen-prompt-'));
  const ti = await tiny('tiny-sd-ti');
  await tiny('tiny-sd');
  // A home of its own with one cached CivitAI embedding (the builtins shared with the test home).
  home = join(out, 'home');
  mkdirSync(home);
  symlinkSync(join(TEST_HOME, 'builtin'), join(home, 'builtin'));
  const src = join(ti.dir, 'tiny-sd-ti.safetensors');
  const sha = createHash('sha256').update(readFileSync(src)).digest('hex');
  const dir = join(home, 'models', sha);
  mkdirSync(dir, {recursive: true});
  copyFileSync(src, join(dir, 'tinyemb.safetensors'));
  writeFileSync(join(dir, 'mgen.json'), JSON.stringify({
    sha256: sha, file_name: 'tinyemb.safetensors', size: 1, source: 'civitai', id: 'civitai:1@2',
    civitai: {modelId: 1, versionId: 2, modelName: 'Tiny Emb'}, pulled_at: '2026-01-01T00:00:00Z', summary: {family: 'sd1', kind: 'textual-inversion'},
  }));
}, 600_000);
afterAll(async () => {
  await rm(out, {recursive: true, force: true});
});

describe('mgen generate with A1111 prompt syntax', () => {
  it('weights change the image, (a:1.0) equals a, and a cached embedding named in the prompt applies', async () => {
    const base = await gen('plain', 'a tinyemb cat', ['--prompt-syntax', 'plain']);
    expect(await gen('one', '(a tinyemb cat:1.0)')).toBe(base);
    expect(await gen('weighted', 'a tinyemb (cat:1.5)')).not.toBe(base);
    expect(await gen('emb', 'a tinyemb cat', [], {MGEN_HOME: home})).not.toBe(base);
  }, 900_000);

  it('refuses an embedding:NAME that is not cached (exit 3) and a1111 syntax for FLUX (exit 2)', async () => {
    const r = await cli(['generate', 'builtin:tiny-sd', '--prompt', 'a cat, embedding:ghost', ...SMALL, '--out', join(out, 'x.png')], {env: {MGEN_HOME: home}});
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/embedding:ghost is not a cached textual inversion/);
    const f = await cli(['generate', 'builtin:tiny-flux', '--prompt', 'a cat', '--prompt-syntax', 'a1111', ...SMALL, '--out', join(out, 'y.png')]);
    expect(f.code).toBe(2);
    expect(f.stderr).toMatch(/--prompt-syntax a1111 needs CLIP text encoders/);
  }, 600_000);
});
