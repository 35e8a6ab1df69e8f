// `mgen generate <HF id>`: the model is pulled from the (loopback) Hub into the HF cache and loaded from
// there; an all-in-one single file also gets its family's configs pulled, so from_single_file runs offline.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {existsSync, readdirSync} from 'node:fs';
import {join} from 'node:path';
import {repoFromFolder} from '../helpers/hub-fixtures.js';
import {startHub, type LoopbackHub} from '../helpers/loopback-hub.js';
import {makeTmpDir} from '../helpers/tmp.js';
import {cli, testPython, tiny} from './support.js';

const SMALL = ['--steps', '2', '--width', '64', '--height', '64', '--seed', '3'];
let hub: LoopbackHub;
let tmp: {dir: string; cleanup: () => Promise<void>};
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  await testPython();
  const sd = await tiny('tiny-sd');
  const single = await tiny('tiny-sd-single');
  tmp = await makeTmpDir('mgen-generate-remote-');
  // The tiny sd1 folder stands in for the sd1 config repo that from_single_file reads its configs from.
  hub = await startHub(
    repoFromFolder('tiny/sd', sd.path),
    repoFromFolder('tiny/single', single.dir),
    repoFromFolder('stable-diffusion-v1-5/stable-diffusion-v1-5', sd.path),
  );
  env = {HF_ENDPOINT: hub.url, HF_HOME: join(tmp.dir, 'hf'), HF_HUB_OFFLINE: '0', HF_TOKEN: ''};
}, 600_000);
afterAll(async () => {
  await hub?.close();
  await tmp?.cleanup();
});

describe('mgen generate with a HuggingFace MODEL_ID', () => {
  it('pulls a diffusers repo into the HF cache, generates, and works offline afterwards', async () => {
    const r = await cli(['generate', 'tiny/sd', '--prompt', 'a cat', ...SMALL, '--out', join(tmp.dir, 'sd-{n}.png')], {env});
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(existsSync(join(tmp.dir, 'sd-0.png'))).toBe(true);
    const snaps = join(tmp.dir, 'hf', 'hub', 'models--tiny--sd', 'snapshots');
    expect(readdirSync(snaps)).toEqual([hub.repos.get('tiny/sd')!.commit]);
    const before = hub.log.length;
    const off = await cli(['generate', 'tiny/sd', '--prompt', 'a cat', ...SMALL, '--out', join(tmp.dir, 'off-{n}.png')], {env: {...env, HF_HUB_OFFLINE: '1'}});
    expect(off.code).toBe(0);
    expect(hub.log.length).toBe(before);
  }, 600_000);

  it('loads one single-file checkpoint of a repo with its family configs pulled (config files only)', async () => {
    const file = readdirSync(join((await tiny('tiny-sd-single')).dir)).find((n) => n.endsWith('.safetensors'));
    expect(file).toBeTruthy();
    const r = await cli(['generate', `tiny/single/${file}`, '--prompt', 'a cat', ...SMALL, '--out', join(tmp.dir, 'single-{n}.png')], {env});
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(existsSync(join(tmp.dir, 'single-0.png'))).toBe(true);
    // Only configs and tokenizer files of the config repo came down, no weights.
    const weights = hub.requestsTo(/stable-diffusion-v1-5\/.*\.safetensors$/).filter((q) => q.method === 'GET' && !q.range);
    expect(weights).toHaveLength(0);
  }, 600_000);
});
