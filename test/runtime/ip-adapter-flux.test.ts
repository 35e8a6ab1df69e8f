// FLUX IP-Adapter in XLabs' layout through the real CLI and diffusers' FluxIPAdapterMixin: the tiny builtin steers
// tiny-flux, --ip-scale 0 gives the base pixels; the same adapter from a (loopback) XLabs-style repo without an encoder
// gets openai/clip-vit-large-patch14 pulled into the HF cache and gives the same pixels; offline with no encoder: exit 3.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {spawnSync} from 'node:child_process';
import {copyFile, mkdir} from 'node:fs/promises';
import {existsSync} from 'node:fs';
import {join} from 'node:path';
import {repoFromFolder} from '../helpers/hub-fixtures.js';
import {commitOf, startHub, type LoopbackHub} from '../helpers/loopback-hub.js';
import {makeTmpDir} from '../helpers/tmp.js';
import {cli, testPython, tiny} from './support.js';

let tmp: {dir: string; cleanup: () => Promise<void>};
let py = '';
let hub: LoopbackHub;
let hubEnv: NodeJS.ProcessEnv;

/** Max per-channel difference between two PNGs (decoded by the runtime's PIL). */
function maxDiff(a: string, b: string): number {
  const r = spawnSync(py, ['-c', 'import sys, numpy as np\nfrom PIL import Image\nx, y = (np.asarray(Image.open(p), dtype=int) for p in sys.argv[1:])\nprint(abs(x - y).max())', a, b], {encoding: 'utf8'});
  return Number(r.stdout.trim());
}

beforeAll(async () => {
  tmp = await makeTmpDir('mgen-ipa-flux-');
  py = await testPython();
  const r = spawnSync(py, ['-c', 'import sys\nfrom PIL import Image\nImage.new("RGB", (40, 40), (255, 0, 0)).save(sys.argv[1])', join(tmp.dir, 'red.png')]);
  expect(r.status).toBe(0);
  await tiny('tiny-flux');
  const b = await tiny('tiny-flux-ip-adapter');
  // XLabs-AI/flux-ip-adapter holds ip_adapter.safetensors and no encoder; the encoder repo is the builtin's CLIP.
  await mkdir(join(tmp.dir, 'xlabs'));
  await copyFile(b.path, join(tmp.dir, 'xlabs', 'ip_adapter.safetensors'));
  hub = await startHub(repoFromFolder('XLabs-AI/flux-ip-adapter', join(tmp.dir, 'xlabs')), repoFromFolder('openai/clip-vit-large-patch14', join(b.dir, 'image_encoder')));
  hubEnv = {HF_ENDPOINT: hub.url, HF_HOME: join(tmp.dir, 'hf'), HF_HUB_OFFLINE: '0', HF_TOKEN: ''};
}, 600_000);

afterAll(async () => {
  await hub?.close();
  await tmp?.cleanup();
});

const gen = (extra: string[], out: string, env: NodeJS.ProcessEnv = {}) => cli(['generate', 'builtin:tiny-flux', '--prompt', 'a red cube', '--width', '64', '--height', '64', '--steps', '2', '--seed', '1', '--out', join(tmp.dir, out), ...extra], {env});

describe('--ip-adapter on FLUX.1 (XLabs layout)', () => {
  it('the reference image changes the result; --ip-scale 0 gives the base model\'s pixels', async () => {
    const ip = ['--ip-adapter', 'builtin:tiny-flux-ip-adapter', '--ip-image', join(tmp.dir, 'red.png')];
    for (const [args, out] of [[ip, 'ip.png'], [[...ip, '--ip-scale', '0'], 'zero.png'], [[], 'base.png']] as const) {
      const r = await gen([...args], out);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    }
    expect(maxDiff(join(tmp.dir, 'ip.png'), join(tmp.dir, 'base.png'))).toBeGreaterThan(0);
    expect(maxDiff(join(tmp.dir, 'zero.png'), join(tmp.dir, 'base.png'))).toBe(0);
  }, 400_000);

  it('an XLabs repo without its encoder: openai/clip-vit-large-patch14 is pulled into the HF cache, same pixels', async () => {
    const r = await gen(['--ip-adapter', 'XLabs-AI/flux-ip-adapter', '--ip-image', join(tmp.dir, 'red.png')], 'remote.png', hubEnv);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/fetching image encoder openai\/clip-vit-large-patch14 for this IP-Adapter/);
    const snap = join(tmp.dir, 'hf', 'hub', 'models--openai--clip-vit-large-patch14', 'snapshots', commitOf('openai/clip-vit-large-patch14'));
    expect(existsSync(join(snap, 'model.safetensors'))).toBe(true);
    expect(maxDiff(join(tmp.dir, 'remote.png'), join(tmp.dir, 'ip.png'))).toBe(0);
  }, 400_000);

  it('offline with the encoder in no cache: one line, exit 3, before loading', async () => {
    const r = await gen(['--ip-adapter', join(tmp.dir, 'xlabs', 'ip_adapter.safetensors'), '--ip-image', join(tmp.dir, 'red.png')], 'never.png',
      {HF_HOME: join(tmp.dir, 'empty-hf'), HF_HUB_OFFLINE: '1'});
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/openai\/clip-vit-large-patch14.*not in the cache/);
    expect(existsSync(join(tmp.dir, 'never.png'))).toBe(false);
  }, 400_000);
});
