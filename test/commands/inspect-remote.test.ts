// `mgen inspect <HF id>` as a user runs it (built CLI in a subprocess) against the loopback Hub: the report
// carries the pinned commit and the file sizes, and a weight file costs at most two ranged requests.
import {afterAll, beforeAll, describe, expect, test} from '@jest/globals';
import {spawn} from 'node:child_process';
import {existsSync} from 'node:fs';
import {join, resolve} from 'node:path';
import {repoFromFolder} from '../helpers/hub-fixtures.js';
import {startHub, type LoopbackHub} from '../helpers/loopback-hub.js';
import {makeTmpDir} from '../helpers/tmp.js';

const ROOT = resolve(process.cwd());
const CORPUS = resolve(ROOT, '..', 'shared', 'corpus', 'detect');

function mgen(args: string[], env: NodeJS.ProcessEnv): Promise<{code: number | null; stdout: string; stderr: string}> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'mgen'), ...args], {cwd: ROOT, env: {...process.env, NO_COLOR: '1', ...env}});
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => res({code, stdout, stderr}));
  });
}

let hub: LoopbackHub;
let tmp: {dir: string; cleanup: () => Promise<void>};
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  if (!existsSync(join(ROOT, 'dist', 'commands', 'inspect.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  tmp = await makeTmpDir('mgen-inspect-remote-');
  hub = await startHub(
    repoFromFolder('org/sd1-single', join(CORPUS, 'sdmecha-sd1-ldm')),
    repoFromFolder('org/sdxl', join(CORPUS, 'forge-stabilityai-stable-diffusion-xl-base-1.0', 'stable-diffusion-xl-base-1.0')),
  );
  env = {HF_ENDPOINT: hub.url, HF_HOME: join(tmp.dir, 'hf'), MGEN_HOME: join(tmp.dir, 'mgen'), HF_TOKEN: ''};
});
afterAll(async () => {
  await hub?.close();
  await tmp?.cleanup();
});

describe('mgen inspect on a HuggingFace id', () => {
  test('one file of a repo: classified, pinned to the commit, read with at most two ranged requests', async () => {
    const r = await mgen(['inspect', 'org/sd1-single/sd1-ldm.safetensors', '--json'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.family).toBe('sd1');
    expect(report.kind).toBe('checkpoint');
    expect(report.source).toMatchObject({type: 'huggingface', id: 'org/sd1-single', revision: hub.repos.get('org/sd1-single')!.commit, file: 'sd1-ldm.safetensors'});
    const reads = hub.requestsTo(/sd1-ldm\.safetensors$/).filter((q) => q.method === 'GET');
    expect(reads.length).toBeGreaterThan(0);
    expect(reads.length).toBeLessThanOrEqual(2);
    expect(reads.every((q) => q.range !== undefined)).toBe(true);
  });

  test('a diffusers repo: read from model_index.json and configs, no weights downloaded', async () => {
    const r = await mgen(['inspect', 'org/sdxl'], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/sdxl/);
    expect(r.stdout).toMatch(/StableDiffusionXLPipeline/);
    expect(existsSync(join(tmp.dir, 'hf', 'hub', 'models--org--sdxl', 'blobs'))).toBe(false);
  });

  test('a missing repo is exit 3 in one line', async () => {
    const r = await mgen(['inspect', 'org/nothing-here'], env);
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
