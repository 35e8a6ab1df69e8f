// Image-to-video end to end: the tiny Wan 2.1 I2V (CLIP vision image encoder), CogVideoX 1.5 I2V (3-D patches, ofs)
// and HunyuanVideo I2V (Llava text encoder reading the frame) builtins through `mgen generate --image` to an MP4,
// checked with the encoder's own probe (frames, size, fps); `inspect` calls each folder image-to-video; a missing
// first frame is exit 2 before the model loads and before any file; one serve request with an image.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {execFileSync} from 'node:child_process';
import {existsSync, readdirSync, writeFileSync} from 'node:fs';
import {mkdtemp, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {buildPng} from '../helpers/png.js';
import {cli, ROOT, spawnServe, testEnv, testPython, tiny, type SpawnedServe} from './support.js';

let out: string;
let python: string;
let first: string;
const SMALL = ['--width', '32', '--height', '32', '--frames', '9', '--steps', '2', '--seed', '3'];
const MODELS = ['tiny-wan-i2v', 'tiny-cogvideox-i2v', 'tiny-hunyuanvideo-i2v'];
const dirs: Record<string, string> = {};

function probe(path: string): Record<string, unknown> {
  const text = execFileSync(python, ['-m', 'mgen_runtime.media', 'probe', path], {
    env: {...testEnv(), PYTHONPATH: join(ROOT, 'python-runtime')}, encoding: 'utf8',
  });
  return JSON.parse(text) as Record<string, unknown>;
}

beforeAll(async () => {
  python = await testPython();
  out = await mkdtemp(join(tmpdir(), 'mgen-i2v-'));
  // Any picture is a first frame: the pipelines resize it to --width x --height.
  first = join(out, 'first.png');
  writeFileSync(first, buildPng(40, 24, [], (x, y) => [x * 6, y * 10, 128]));
  for (const name of MODELS) dirs[name] = (await tiny(name)).dir;
}, 600_000);
afterAll(async () => {
  await rm(out, {recursive: true, force: true});
});

describe('mgen generate --image with image-to-video models', () => {
  it.each([
    ['tiny-wan-i2v', 'WanImageToVideoPipeline', 'wan', 16],
    ['tiny-cogvideox-i2v', 'CogVideoXImageToVideoPipeline', 'cogvideox', 16], // CogVideoX 1.5: 16 fps (1.0: 8)
    ['tiny-hunyuanvideo-i2v', 'HunyuanVideoImageToVideoPipeline', 'hunyuanvideo', 24],
  ])('%s: inspect says image-to-video; --image makes an H.264 MP4 with the requested frames and size', async (name, pipeline, family, fps) => {
    const inspect = await cli(['inspect', dirs[name]!, '--json']);
    expect(inspect.code).toBe(0);
    expect(JSON.parse(inspect.stdout)).toMatchObject({family, task: 'image-to-video', pipeline});

    const r = await cli(['generate', `builtin:${name}`, '--prompt', 'a red cube', ...SMALL, '--image', first, '--out', join(out, `${name}.mp4`), '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as {images: Array<Record<string, unknown>>; plan: {pipeline: string}};
    expect(doc.plan.pipeline).toBe(pipeline);
    expect(doc.images[0]).toMatchObject({path: join(out, `${name}.mp4`), media_type: 'video/mp4', frames: 9, fps, width: 32, height: 32});
    const p = probe(join(out, `${name}.mp4`));
    expect(p).toMatchObject({codec: 'h264', pix_fmt: 'yuv420p', width: 32, height: 32, frames: 9, fps});
    const mgen = JSON.parse((p.metadata as Record<string, string>).comment!) as {request: {image: string; frames: number}};
    expect(mgen.request).toMatchObject({image: first, frames: 9});
  }, 300_000);

  it('an image-to-video model without --image: exit 2 naming the flag, no file', async () => {
    const r = await cli(['generate', 'builtin:tiny-wan-i2v', '--prompt', 'x', ...SMALL, '--out', join(out, 'none', 'x.mp4')]);
    expect(r.stderr.trim()).toBe('mgen: error: builtin:tiny-wan-i2v is an image-to-video model (WanImageToVideoPipeline): the request needs a first frame (pass --image PATH)');
    expect(r.code).toBe(2);
    expect(existsSync(join(out, 'none')) ? readdirSync(join(out, 'none')) : []).toEqual([]);
  }, 60_000);
  // --image for a text-to-video model (exit 2, no file): test/runtime/video.test.ts.
});

describe('mgen serve with an image-to-video model', () => {
  let serve: SpawnedServe;
  beforeAll(async () => {
    serve = await spawnServe(['builtin:tiny-wan-i2v'], 240_000);
  }, 300_000);
  afterAll(() => {
    serve?.proc.kill('SIGTERM');
  });

  it('POST /v1/generate with a base64 first frame returns the MP4; without one, a 400 on `image`', async () => {
    const image = buildPng(64, 64, [], (x, y) => [x * 4, y * 4, 200]).toString('base64');
    const body = {prompt: 'a red cube', width: 64, height: 64, frames: 5, steps: 1, seed: 1};
    const post = (b: object) => fetch(`${serve.url}/v1/generate`, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify(b)});
    const res = await post({...body, image});
    expect(res.status).toBe(200);
    const doc = (await res.json()) as {images: Array<Record<string, unknown>>};
    expect(doc.images[0]).toMatchObject({media_type: 'video/mp4', frames: 5, fps: 16, width: 64, height: 64});
    expect(Buffer.from(doc.images[0]!.b64_json as string, 'base64').toString('latin1', 4, 8)).toBe('ftyp');
    const bad = await post(body);
    expect(bad.status).toBe(400);
    const err = ((await bad.json()) as {error: {message: string; param?: string}}).error;
    expect(err.message).toMatch(/is an image-to-video model \(WanImageToVideoPipeline\): the request needs a first frame/);
    expect(err.param).toBe('image');
  }, 240_000);
});
