// Video end to end: each tiny video family through `mgen generate` to an MP4 (and the other formats), checked with
// the encoder's own probe (python -m mgen_runtime.media probe: frames, size, fps, duration, the mgen comment tag),
// `--from clip.mp4` re-running the recorded request, bad input failing before any file, and one serve request.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {execFileSync} from 'node:child_process';
import {existsSync, readdirSync, statSync, writeFileSync} from 'node:fs';
import {mkdtemp, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {buildPng} from '../helpers/png.js';
import {cli, ROOT, spawnServe, testEnv, testPython, tiny, type SpawnedServe} from './support.js';

let out: string;
let python: string;
const SMALL = ['--width', '32', '--height', '32', '--frames', '9', '--steps', '2', '--seed', '3'];

interface Probe {
  format: string;
  codec: string;
  width: number;
  height: number;
  frames: number;
  fps: number;
  pix_fmt: string;
  duration_s: number;
  metadata: Record<string, string>;
}

function probe(path: string): Probe {
  const text = execFileSync(python, ['-m', 'mgen_runtime.media', 'probe', path], {
    env: {...testEnv(), PYTHONPATH: join(ROOT, 'python-runtime')}, encoding: 'utf8',
  });
  return JSON.parse(text) as Probe;
}

beforeAll(async () => {
  python = await testPython();
  out = await mkdtemp(join(tmpdir(), 'mgen-video-'));
  for (const name of ['tiny-wan', 'tiny-wan22', 'tiny-cogvideox', 'tiny-ltxv', 'tiny-ltxv-i2v', 'tiny-hunyuanvideo']) await tiny(name);
}, 600_000);
afterAll(async () => {
  await rm(out, {recursive: true, force: true});
});

describe('mgen generate with video families', () => {
  it.each([
    ['tiny-wan', 'WanPipeline', 16],
    ['tiny-cogvideox', 'CogVideoXPipeline', 8],
    ['tiny-ltxv', 'LTXPipeline', 25],
    ['tiny-hunyuanvideo', 'HunyuanVideoPipeline', 24],
  ])('%s writes an H.264 yuv420p MP4 with the requested frames, size and the family fps', async (name, pipeline, fps) => {
    const r = await cli(['generate', `builtin:${name}`, '--prompt', 'a red cube', ...SMALL, '--out', join(out, `${name}-{seed}`), '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as {images: Array<Record<string, unknown>>; plan: {pipeline: string}};
    expect(doc.plan.pipeline).toBe(pipeline);
    const file = doc.images[0]!;
    expect(file).toMatchObject({path: join(out, `${name}-3.mp4`), media_type: 'video/mp4', frames: 9, fps, width: 32, height: 32});
    expect(file.bytes).toBe(statSync(file.path as string).size);
    const p = probe(file.path as string);
    expect(p).toMatchObject({codec: 'h264', pix_fmt: 'yuv420p', width: 32, height: 32, frames: 9, fps});
    expect(p.duration_s).toBeCloseTo(9 / fps, 1);
    const mgen = JSON.parse(p.metadata.comment!) as {model: string; request: {frames: number; fps: number; format: string}};
    expect(mgen.model).toBe(`builtin:${name}`);
    expect(mgen.request).toMatchObject({frames: 9, fps, format: 'mp4'});
  }, 240_000);

  it('Wan 2.2 two experts (transformer_2, boundary_ratio) and LTX-Video image-to-video from --image (a PNG frame)', async () => {
    const w = await cli(['generate', 'builtin:tiny-wan22', '--prompt', 'x', ...SMALL, '--out', join(out, 'w22.mp4'), '--json']);
    expect(w.stderr).toBe('');
    expect(w.code).toBe(0);
    expect(probe(join(out, 'w22.mp4'))).toMatchObject({frames: 9, width: 32, height: 32, fps: 16});
    // Any picture is a first frame: it is resized to --width/--height.
    writeFileSync(join(out, 'first.png'), buildPng(40, 24, [], (x, y) => [x * 6, y * 10, 128]));
    const r = await cli(['generate', 'builtin:tiny-ltxv-i2v', '--prompt', 'x', ...SMALL, '--image', join(out, 'first.png'), '--out', join(out, 'i2v.mp4'), '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).plan.pipeline).toBe('LTXImageToVideoPipeline');
    expect(probe(join(out, 'i2v.mp4'))).toMatchObject({frames: 9, width: 32, height: 32, fps: 25});
  }, 240_000);

  it('--fps, --format webm / png-frames; --from clip.mp4 re-runs the recorded request', async () => {
    const a = await cli(['generate', 'builtin:tiny-wan', '--prompt', 'waves', ...SMALL, '--fps', '12', '--out', join(out, 'a.mp4')]);
    expect(a.code).toBe(0);
    expect(probe(join(out, 'a.mp4'))).toMatchObject({frames: 9, fps: 12});
    for (const [fmt, codec] of [['webm', 'vp9']] as const) { // gif and webp: python-runtime/tests/test_media.py
      const r = await cli(['generate', 'builtin:tiny-wan', '--prompt', 'waves', ...SMALL, '--format', fmt, '--out', join(out, 'a.mp4')]);
      expect(r.code).toBe(0);
      expect(r.stdout.trim()).toBe(join(out, `a.${fmt}`)); // the extension follows the format
      expect(probe(join(out, `a.${fmt}`))).toMatchObject({codec, width: 32, height: 32});
    }
    const f = await cli(['generate', 'builtin:tiny-wan', '--prompt', 'waves', ...SMALL, '--format', 'png-frames', '--out', join(out, 'frames')]);
    expect(f.code).toBe(0);
    expect(readdirSync(join(out, 'frames')).sort()).toEqual(Array.from({length: 9}, (_, i) => `frame-0000${i}.png`));
    const again = await cli(['generate', '--from', join(out, 'a.mp4'), '--out', join(out, 'again.mp4'), '--json']);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).images[0]).toMatchObject({frames: 9, fps: 12, width: 32, height: 32});
    expect(JSON.parse(probe(join(out, 'again.mp4')).metadata.comment!).request).toMatchObject({prompt: 'waves', seed: 3, frames: 9, fps: 12});
  }, 240_000);

  it.each([
    [['builtin:tiny-wan', '--frames', '10'], '--frames 10 must be 4k+1 frames for wan (try 9)'],
    [['builtin:tiny-ltxv', '--frames', '12'], '--frames 12 must be 8k+1 frames for ltxv (try 9)'],
    [['builtin:tiny-ltxv', '--width', '48'], '--width 48 is not a multiple of 32 for ltxv (try 32 or 64)'],
    [['builtin:tiny-wan', '--format', 'wav'], '--format wav is not a video format; use mp4, webm, gif, webp, png-frames'],
    [['builtin:tiny-wan', '--duration', '2'], '--duration is for audio models; Wan makes video (use --frames and --fps)'],
  ])('%j fails with exit 2 before any worker or file', async (args, message) => {
    const dir = join(out, 'bad');
    const r = await cli(['generate', ...args, '--prompt', 'x', '--out', join(dir, 'x.mp4')]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`mgen: error: ${message}`);
    expect(existsSync(dir) ? readdirSync(dir) : []).toEqual([]);
  });

  it('--image for a text-to-video model: exit 2 naming it, no file', async () => {
    const r = await cli(['generate', 'builtin:tiny-wan', '--prompt', 'x', ...SMALL, '--image', join(out, 'a.mp4'), '--out', join(out, 'img', 'x.mp4')]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('mgen: error: --image needs an image-to-video model; builtin:tiny-wan is text-to-video (WanPipeline)');
    expect(existsSync(join(out, 'img', 'x.mp4'))).toBe(false);
  });
});

describe('mgen serve with a video model', () => {
  let serve: SpawnedServe;
  beforeAll(async () => {
    serve = await spawnServe(['builtin:tiny-wan'], 240_000);
  }, 300_000);
  afterAll(() => {
    serve?.proc.kill('SIGTERM');
  });

  it('POST /v1/generate returns the MP4 (b64 or a /v1/files URL) with media_type, frames, fps, duration_s', async () => {
    const body = {prompt: 'a red cube', width: 64, height: 64, frames: 5, steps: 1, seed: 1};
    const res = await fetch(`${serve.url}/v1/generate`, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify(body)});
    expect(res.status).toBe(200);
    const doc = (await res.json()) as {images: Array<Record<string, unknown>>};
    expect(doc.images[0]).toMatchObject({media_type: 'video/mp4', frames: 5, fps: 16, width: 64, height: 64, duration_s: 5 / 16});
    const bytes = Buffer.from(doc.images[0]!.b64_json as string, 'base64');
    expect(bytes.toString('latin1', 4, 8)).toBe('ftyp');
    const url = await fetch(`${serve.url}/v1/generate`, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({...body, response_format: 'url'})});
    const file = ((await url.json()) as {images: Array<{url: string}>}).images[0]!.url;
    expect(new URL(file).pathname).toMatch(/\.mp4$/); // a signed URL: the query carries expires + signature
    const got = await fetch(file);
    expect(got.headers.get('content-type')).toBe('video/mp4');
    const bad = await fetch(`${serve.url}/v1/generate`, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({...body, frames: 6})});
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as {error: {message: string}}).error.message).toMatch(/frames 6 must be 4k\+1 frames for wan \(try 5\)/);
  }, 240_000);
});
