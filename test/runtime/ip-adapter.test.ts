// IP-Adapter with the tiny builtin (tiny CLIP vision encoder in image_encoder/ + real `image_proj.*` / `ip_adapter.*`
// keys) through the real CLI: the reference image steers the result, scale 0 gives the base pixels, and the refusals.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {spawnSync} from 'node:child_process';
import {copyFile, mkdir, mkdtemp, readFile, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {cli, testPython, tiny} from './support.js';

let dir = '';
let py = '';

/** Max per-channel difference between two PNGs (decoded by the runtime's PIL). */
function maxDiff(a: string, b: string): number {
  const r = spawnSync(py, ['-c', 'import sys, numpy as np\nfrom PIL import Image\nx, y = (np.asarray(Image.open(p), dtype=int) for p in sys.argv[1:])\nprint(abs(x - y).max())', a, b], {encoding: 'utf8'});
  return Number(r.stdout.trim());
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mgen-ipa-'));
  py = await testPython();
  const r = spawnSync(py, ['-c', 'import sys\nfrom PIL import Image\nImage.new("RGB", (40, 40), (255, 0, 0)).save(sys.argv[1])\nImage.new("RGB", (40, 40), (0, 0, 255)).save(sys.argv[2])', join(dir, 'red.png'), join(dir, 'blue.png')]);
  expect(r.status).toBe(0);
}, 120_000);

afterAll(async () => {
  if (dir) await rm(dir, {recursive: true, force: true});
});

const gen = (extra: string[], out: string) => cli(['generate', 'builtin:tiny-sd', '--prompt', 'a red cube', '--width', '64', '--height', '64', '--steps', '2', '--seed', '1', '--out', join(dir, out), ...extra]);

describe('--ip-adapter', () => {
  it('the reference image changes the result; --ip-scale 0 gives the base model\'s pixels', async () => {
    const ip = ['--ip-adapter', 'builtin:tiny-sd-ip-adapter'];
    for (const [args, out] of [[[...ip, '--ip-image', join(dir, 'red.png')], 'red.png'], [[...ip, '--ip-image', join(dir, 'blue.png')], 'blue.png'],
      [[...ip, '--ip-image', join(dir, 'blue.png'), '--ip-scale', '0'], 'zero.png'], [[], 'base.png']] as const) {
      const r = await gen([...args], `out-${out}`);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    }
    expect(maxDiff(join(dir, 'out-red.png'), join(dir, 'out-blue.png'))).toBeGreaterThan(0);
    expect(maxDiff(join(dir, 'out-zero.png'), join(dir, 'out-base.png'))).toBe(0);
  }, 400_000);

  it('refuses in one line: no image encoder beside the file (3), another family (6), a LoRA (2), no --ip-image (2)', async () => {
    const b = await tiny('tiny-sd-ip-adapter');
    await mkdir(join(dir, 'lone'));
    const lone = join(dir, 'lone', 'ip-adapter_tiny.safetensors');
    await copyFile(b.path, lone);
    const cases: Array<[string[], number, RegExp]> = [
      [['builtin:tiny-sd', '--ip-adapter', lone, '--ip-image', join(dir, 'red.png')], 3, /has no image encoder beside it/],
      [['builtin:tiny-sdxl', '--ip-adapter', 'builtin:tiny-sd-ip-adapter', '--ip-image', join(dir, 'red.png')], 6, /is for sd1 but the model is sdxl/],
      [['builtin:tiny-sd', '--ip-adapter', 'builtin:tiny-sd-lora-kohya', '--ip-image', join(dir, 'red.png')], 2, /is a lora, not an ip-adapter/],
      [['builtin:tiny-sd', '--ip-adapter', 'builtin:tiny-sd-ip-adapter'], 2, /needs --ip-image/],
    ];
    for (const [args, code, re] of cases) {
      const r = await cli(['generate', ...args, '--prompt', 'x']);
      expect(r.code).toBe(code);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(re);
    }
    expect((await readFile(lone)).length).toBeGreaterThan(0);
  }, 400_000);
});
