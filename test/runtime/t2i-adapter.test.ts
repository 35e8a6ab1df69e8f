// T2I-Adapters on the tiny builtins through the real CLI and a real serve: the SD1 adapter is one file in TencentARC's
// original layout (its config derived from the shapes and the base UNet), the SDXL one a diffusers folder. The control
// image changes the result, scale 0 gives the base model's pixels, a serve request takes the same path, and the
// refusals are one line each.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {spawnSync} from 'node:child_process';
import {readFileSync, writeFileSync} from 'node:fs';
import {mkdtemp, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {readPngInfo} from '../../src/backends/png-metadata.js';
import {buildPng, pixelDigest} from '../helpers/png.js';
import {cli, spawnServe, testPython, tiny, type SpawnedServe} from './support.js';

const SD = 'builtin:tiny-sd-t2i-adapter';
const XL = 'builtin:tiny-sdxl-t2i-adapter';
const SIZE = ['--width', '64', '--height', '64', '--steps', '2', '--seed', '5', '--prompt', 'a cube'];

let dir = '';
let control = '';
let py = '';
let serve: SpawnedServe | undefined;

/** A control image with edges: a bright square on diagonal stripes. */
function controlPng(): Buffer {
  return buildPng(64, 64, [], (x, y) => {
    const square = x >= 16 && x < 40 && y >= 20 && y < 44;
    const stripe = (x + y) % 12 < 3;
    return square ? [255, 255, 255] : stripe ? [200, 40, 40] : [0, 0, 0];
  });
}

/** Max per-channel difference between two images (decoded by the runtime's PIL). */
function maxDiff(a: string, b: string): number {
  const r = spawnSync(py, ['-c', 'import sys, numpy as np\nfrom PIL import Image\nx, y = (np.asarray(Image.open(p).convert("RGB"), dtype=int) for p in sys.argv[1:])\nprint(abs(x - y).max())', a, b], {encoding: 'utf8'});
  return Number(r.stdout.trim());
}

const gen = (model: string, extra: string[], out: string) => cli(['generate', model, ...SIZE, '--out', join(dir, out), '--json', ...extra]);

beforeAll(async () => {
  py = await testPython();
  dir = await mkdtemp(join(tmpdir(), 'mgen-t2i-'));
  control = join(dir, 'control.png');
  writeFileSync(control, controlPng());
  await Promise.all(['tiny-sd', 'tiny-sdxl', 'tiny-sd-t2i-adapter', 'tiny-sdxl-t2i-adapter'].map(tiny));
}, 600_000);
afterAll(async () => {
  serve?.proc.kill('SIGTERM');
  if (dir) await rm(dir, {recursive: true, force: true});
});

describe('--t2i-adapter', () => {
  it('SD1, one original-layout file: the control image changes the image; scale 0 gives the base pixels', async () => {
    const base = await gen('builtin:tiny-sd', [], 'sd-base.png');
    expect(base.stderr).toBe('');
    expect(base.code).toBe(0);
    const on = await gen('builtin:tiny-sd', ['--t2i-adapter', SD, '--control-image', control], 'sd-on.png');
    expect(on.stderr).toBe('');
    expect(on.code).toBe(0);
    expect(JSON.parse(on.stdout).plan.pipeline).toBe('StableDiffusionAdapterPipeline');
    const zero = await gen('builtin:tiny-sd', ['--t2i-adapter', `${SD}:0`, '--control-image', control], 'sd-zero.png');
    expect(zero.code).toBe(0);

    const digest = (name: string) => pixelDigest(readFileSync(join(dir, name)));
    expect(digest('sd-on.png')).not.toBe(digest('sd-base.png'));
    expect(digest('sd-zero.png')).toBe(digest('sd-base.png'));
    // The PNG records the adapter, so --from loads it again.
    const doc = JSON.parse(readPngInfo(readFileSync(join(dir, 'sd-on.png'))).text.mgen!);
    expect(doc.adapters.t2i_adapter).toEqual({id: SD, scale: 1});
    expect(doc.plan.t2i_adapter).toMatch(/t2iadapter_tiny_sd\.safetensors$/);
  }, 600_000);

  it('SDXL, a diffusers folder: the adapter at scale 1 and at scale 0 differ', async () => {
    const on = await gen('builtin:tiny-sdxl', ['--t2i-adapter', XL, '--control-image', control], 'xl-on.png');
    expect(on.stderr).toBe('');
    expect(on.code).toBe(0);
    expect(JSON.parse(on.stdout).plan.pipeline).toBe('StableDiffusionXLAdapterPipeline');
    const zero = await gen('builtin:tiny-sdxl', ['--t2i-adapter', `${XL}:0`, '--control-image', control], 'xl-zero.png');
    expect(zero.code).toBe(0);
    expect(maxDiff(join(dir, 'xl-on.png'), join(dir, 'xl-zero.png'))).toBeGreaterThan(0);
  }, 600_000);

  // Both before a worker starts (the families of builtins and local files are known without one); the other refusals
  // (a LoRA as the adapter, --image, a ControlNet beside it) are the load plan's: test/backends/plan-t2i.test.ts.
  it('refuses in one line: an SDXL adapter on SD1 (6), no --control-image (2)', async () => {
    const cases: Array<[string[], number, RegExp]> = [
      [['builtin:tiny-sd', '--t2i-adapter', XL, '--control-image', control], 6, /^mgen: error: T2I-Adapter builtin:tiny-sdxl-t2i-adapter is for sdxl but the model is sd1$/],
      [['builtin:tiny-sd', '--t2i-adapter', SD], 2, /^mgen: error: --t2i-adapter needs --control-image PATH$/],
    ];
    for (const [args, code, re] of cases) {
      // No interpreter at all: an answer proves that no worker (nor the runtime) was asked.
      const r = await cli(['generate', ...args, '--prompt', 'x'], {env: {MGEN_PYTHON: join(dir, 'no-python')}});
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr.trim()).toMatch(re);
      expect(r.code).toBe(code);
    }
  }, 600_000);

  it('serve: a request with control_image gives the CLI\'s pixels; one without is a 400 naming control_image', async () => {
    serve = await spawnServe(['builtin:tiny-sd', '--t2i-adapter', SD], 300_000);
    const post = async (body: Record<string, unknown>) => {
      const r = await fetch(`${serve!.url}/v1/generate`, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify(body)});
      return {status: r.status, body: (await r.json()) as any};
    };
    const req = {prompt: 'a cube', width: 64, height: 64, steps: 2, seed: 5};
    const ok = await post({...req, control_image: readFileSync(control).toString('base64')});
    expect(ok.status).toBe(200);
    writeFileSync(join(dir, 'serve.png'), Buffer.from(ok.body.images[0].b64_json, 'base64'));
    expect(maxDiff(join(dir, 'serve.png'), join(dir, 'sd-on.png'))).toBe(0);
    const missing = await post(req);
    expect(missing.status).toBe(400);
    expect(JSON.stringify(missing.body)).toMatch(/control_image: the loaded T2I-Adapter needs a control image/);
  }, 600_000);
});
