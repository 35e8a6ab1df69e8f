// `mgen upscale` with the tiny upscaler builtins (random weights in their released key layouts: ESRGAN, SwinIR, DAT,
// HAT), loaded through spandrel: the real CLI, the worker's `upscale` verb, tiling, and the one-line refusals.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {cli, spawnServe, testPython} from './support.js';

let dir = '';

/** Width and height from a PNG's IHDR. */
function size(buf: Buffer): [number, number] {
  return [buf.readUInt32BE(16), buf.readUInt32BE(20)];
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mgen-upscale-'));
  const py = await testPython();
  const {spawnSync} = await import('node:child_process');
  const r = spawnSync(py, ['-c', 'import sys\nfrom PIL import Image\nImage.new("RGB", (40, 30), (200, 60, 20)).save(sys.argv[1])\nImage.effect_noise((48, 40), 60).convert("RGB").save(sys.argv[2])', join(dir, 'flat.png'), join(dir, 'noise.png')]);
  expect(r.status).toBe(0);
}, 120_000);

afterAll(async () => {
  if (dir) await rm(dir, {recursive: true, force: true});
});

describe('mgen upscale', () => {
  it('makes each image 4x (the model\'s own scale), --scale 2 resizes, --json reports it', async () => {
    const r = await cli(['upscale', 'builtin:tiny-esrgan', join(dir, 'flat.png'), join(dir, 'noise.png'), '--out', join(dir, '{name}-x4.png')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(size(await readFile(join(dir, 'flat-x4.png')))).toEqual([160, 120]);
    expect(size(await readFile(join(dir, 'noise-x4.png')))).toEqual([192, 160]);
    const j = await cli(['upscale', 'builtin:tiny-esrgan', join(dir, 'flat.png'), '--scale', '2', '--json', '--out', join(dir, '{name}-x2.png')]);
    expect(j.code).toBe(0);
    const doc = JSON.parse(j.stdout) as {architecture: string; native_scale: number; images: Array<{width: number; height: number}>};
    expect(doc).toMatchObject({architecture: 'ESRGAN', native_scale: 4});
    expect(doc.images[0]).toMatchObject({width: 80, height: 60});
    expect(size(await readFile(join(dir, 'flat-x2.png')))).toEqual([80, 60]);
  }, 240_000);

  it('tiles: 16-pixel tiles give the same pixels as one pass', async () => {
    const r = await cli(['upscale', 'builtin:tiny-esrgan', join(dir, 'noise.png'), '--tile', '16', '--out', join(dir, '{name}-tiled.png')]);
    expect(r.code).toBe(0);
    expect(await readFile(join(dir, 'noise-tiled.png'))).toEqual(await readFile(join(dir, 'noise-x4.png')));
  }, 240_000);

  it('generate --upscale ID:factor upscales each image in place and keeps its parameters text', async () => {
    const out = join(dir, 'gen.png');
    const r = await cli(['generate', 'builtin:tiny-sd', '--prompt', 'a red cube', '--width', '64', '--height', '64', '--steps', '2', '--seed', '1', '--upscale', 'builtin:tiny-esrgan:2', '--out', out, '--json']);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as {images: Array<{width: number}>}).images[0]!.width).toBe(128);
    const png = await readFile(out);
    expect(size(png)).toEqual([128, 128]);
    expect(png.includes(Buffer.from('parameters'))).toBe(true);
    const bad = await cli(['generate', 'builtin:tiny-sd', '--prompt', 'x', '--upscale', 'builtin:tiny-esrgan:0']);
    expect(bad.code).toBe(2);
  }, 240_000);

  it('refuses a file that is no upscaler in one line (exit 6), and a missing image (exit 3)', async () => {
    const bad = join(dir, 'bad.safetensors');
    const header = Buffer.from('{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    await writeFile(bad, Buffer.concat([len, header, Buffer.alloc(4)]));
    const r = await cli(['upscale', bad, join(dir, 'flat.png')]);
    expect(r.code).toBe(6);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/is not an upscaler/);
    const m = await cli(['upscale', 'builtin:tiny-esrgan', join(dir, 'nope.png')]);
    expect(m.code).toBe(3);
  }, 240_000);

  it.each([
    ['tiny-swinir', 'SwinIR', 2],
    ['tiny-dat', 'DAT', 3],
    ['tiny-hat', 'HAT', 4],
  ] as const)('%s (spandrel: %s) writes each image at its scale x its size, tiled or not', async (name, arch, scale) => {
    const r = await cli(['upscale', `builtin:${name}`, join(dir, 'flat.png'), join(dir, 'noise.png'), '--tile', '32', '--json', '--out', join(dir, `{name}-${name}.png`)]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as {architecture: string; native_scale: number; images: Array<{width: number; height: number}>};
    expect(doc).toMatchObject({architecture: arch, native_scale: scale});
    expect(size(await readFile(join(dir, `flat-${name}.png`)))).toEqual([40 * scale, 30 * scale]);
    expect(size(await readFile(join(dir, `noise-${name}.png`)))).toEqual([48 * scale, 40 * scale]);
  }, 240_000);

  it('refuses in one line (exit 6) a file detection calls an upscaler but spandrel does not know', async () => {
    // ESRGAN's first tensors without its trunk and tail: no architecture spandrel has.
    const tensors: Array<[string, number[]]> = [['conv_first.weight', [8, 3, 3, 3]], ['body.0.rdb1.conv1.weight', [32, 8, 3, 3]]];
    let offset = 0;
    const header: Record<string, unknown> = {};
    for (const [name, shape] of tensors) {
      const bytes = shape.reduce((a, b) => a * b, 4);
      header[name] = {dtype: 'F32', shape, data_offsets: [offset, offset + bytes]};
      offset += bytes;
    }
    const json = Buffer.from(JSON.stringify(header));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    const file = join(dir, 'half-esrgan.safetensors');
    await writeFile(file, Buffer.concat([len, json, Buffer.alloc(offset)]));
    const r = await cli(['upscale', file, join(dir, 'flat.png')]);
    expect(r.code).toBe(6);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/spandrel knows no upscaler architecture/);
  }, 240_000);
  it('serve --upscaler: /v1/upscale and A1111 extra-single-image upscale an inline image; upscalers lists it', async () => {
    const s = await spawnServe(['builtin:tiny-sd', '--upscaler', 'builtin:tiny-esrgan', '--no-state'], 240_000);
    try {
      const image = (await readFile(join(dir, 'flat.png'))).toString('base64');
      const post = async (path: string, body: unknown) => {
        const r = await fetch(s.url + path, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify(body)});
        return {status: r.status, body: (await r.json()) as Record<string, unknown>};
      };
      const n = await post('/v1/upscale', {image, scale: 2});
      expect(n.status).toBe(200);
      expect(n.body).toMatchObject({width: 80, height: 60});
      expect(size(Buffer.from(n.body.image as string, 'base64'))).toEqual([80, 60]);
      const a = await post('/sdapi/v1/extra-single-image', {image, upscaler_1: 'tiny-esrgan-x4', upscaling_resize: 4});
      expect(a.status).toBe(200);
      expect(size(Buffer.from(a.body.image as string, 'base64'))).toEqual([160, 120]);
      const other = await post('/sdapi/v1/extra-single-image', {image, upscaler_1: 'R-ESRGAN 4x+'});
      expect(other.status).toBe(404);
      const list = (await (await fetch(s.url + '/sdapi/v1/upscalers')).json()) as Array<{name: string; model_name: string | null; scale: number}>;
      expect(list.map((u) => u.name)).toEqual(['None', 'Lanczos', 'Nearest', 'tiny-esrgan-x4']); // the plain resizes hr_upscaler takes, then the model
      expect(list.at(-1)).toMatchObject({model_name: 'ESRGAN', scale: 4}); // what detection read from the file
    } finally {
      s.proc.kill('SIGTERM');
    }
  }, 300_000);
});
