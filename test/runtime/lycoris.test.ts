// Every adapter kind of issue 12's first half on the tiny builtins, through the real CLI and serve: LyCORIS-family
// files (LoHa, LoKr full / low-rank / CP, OFT, BOFT, (IA)^3, DoRA, LoCon, full diff) written once with the real
// key layouts by the runtime (mgen_runtime.tiny_lycoris), A1111 hypernetworks and aesthetic-gradient embeddings.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {spawnSync} from 'node:child_process';
import {mkdtemp, readFile, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {inflateSync} from 'node:zlib';
import {RequestModelPolicy} from '../../src/backends/request-model-policy.js';
import {startTinyServe} from './serve-helpers.js';
import {cli, ROOT, testEnv, testPython, tiny} from './support.js';

let dir = '';
let s: Awaited<ReturnType<typeof startTinyServe>> | undefined;
const SD_FORMATS = ['loha', 'loha-cp', 'lokr', 'lokr-full', 'lokr-cp', 'locon', 'dora', 'oft', 'boft', 'ia3', 'full'];

/** RGB(A) 8-bit PNG pixels (the worker's PNGs), unfiltered. */
function pixels(buf: Buffer): Uint8Array {
  let pos = 8;
  let w = 0;
  let h = 0;
  let bpp = 3;
  const idat: Buffer[] = [];
  while (pos < buf.length) {
    const len = buf.readUInt32BE(pos);
    const type = buf.toString('ascii', pos + 4, pos + 8);
    const body = buf.subarray(pos + 8, pos + 8 + len);
    if (type === 'IHDR') {
      w = body.readUInt32BE(0);
      h = body.readUInt32BE(4);
      bpp = body[9] === 6 ? 4 : 3;
    }
    if (type === 'IDAT') idat.push(body);
    pos += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = w * bpp;
  const out = new Uint8Array(h * stride);
  let prev = new Uint8Array(stride);
  for (let y = 0; y < h; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const cur = out.subarray(y * stride, (y + 1) * stride);
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? cur[x - bpp]! : 0;
      const b = prev[x]!;
      const c = x >= bpp ? prev[x - bpp]! : 0;
      let v = line[x]!;
      if (filter === 1) v += a;
      else if (filter === 2) v += b;
      else if (filter === 3) v += (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      cur[x] = v & 255;
    }
    prev = cur;
  }
  return out;
}

/** Mean absolute pixel difference (0 = the same pixels). */
function diff(a: Uint8Array, b: Uint8Array): number {
  expect(a.length).toBe(b.length);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

async function writeFixtures(base: string, out: string): Promise<void> {
  const py = await testPython();
  const r = spawnSync(py, ['-m', 'mgen_runtime.tiny_lycoris', base, out], {env: {...testEnv(), PYTHONPATH: join(ROOT, 'python-runtime')}, encoding: 'utf8'});
  if (r.status !== 0) throw new Error(`tiny_lycoris failed: ${r.stderr.slice(-2000)}`);
}

const SMALL = ['--prompt', 'a red cube', '--width', '64', '--height', '64', '--steps', '2', '--seed', '3', '--no-reuse'];
async function generate(model: string, extra: string[], name: string): Promise<Uint8Array> {
  const out = join(dir, `${name}.png`);
  const r = await cli(['generate', model, ...SMALL, ...extra, '--out', out]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return pixels(await readFile(out));
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mgen-lycoris-'));
  const [sd, sdxl, flux] = await Promise.all([tiny('tiny-sd'), tiny('tiny-sdxl'), tiny('tiny-flux')]);
  await writeFixtures(sd.dir, join(dir, 'sd'));
  await writeFixtures(sdxl.dir, join(dir, 'sdxl'));
  await writeFixtures(flux.dir, join(dir, 'flux'));
  s = await startTinyServe({policy: new RequestModelPolicy({modelDirs: [dir]})});
}, 400_000);
afterAll(async () => {
  await s?.close(5000);
  if (dir) await rm(dir, {recursive: true, force: true});
}, 60_000);

describe('LyCORIS-family files as per-request LoRAs in serve (tiny-sd)', () => {
  const BODY = {prompt: 'a red cube', width: 64, height: 64, steps: 2, seed: 11};
  async function image(loras?: Array<{name: string; scale: number}>): Promise<Uint8Array> {
    const r = await fetch(`${s!.url}/v1/generate`, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify(loras ? {...BODY, loras} : BODY)});
    const body = (await r.json()) as {images: Array<{b64_json: string}>};
    expect(r.status).toBe(200);
    return pixels(Buffer.from(body.images[0]!.b64_json, 'base64'));
  }

  it('each format changes the image more at strength 1 than 0.5, strength 0 and every later plain request give the base pixels', async () => {
    const base = await image();
    const seen: Record<string, [number, number]> = {};
    for (const f of SD_FORMATS) {
      const name = join(dir, 'sd', `${f}.safetensors`);
      const half = diff(await image([{name, scale: 0.5}]), base);
      const full = diff(await image([{name, scale: 1}]), base);
      seen[f] = [half, full];
      expect(diff(await image(), base)).toBe(0);
    }
    for (const [f, [half, full]] of Object.entries(seen)) {
      expect([f, half > 0]).toEqual([f, true]);
      expect([f, full > half]).toEqual([f, true]);
    }
    expect(diff(await image([{name: join(dir, 'sd', 'loha.safetensors'), scale: 0}]), base)).toBe(0);
    // A weight-patched file and a diffusers-loaded one in one request, then the base again.
    const both = await image([{name: join(dir, 'sd', 'lokr.safetensors'), scale: 1}, {name: 'builtin:tiny-sd-lora-kohya', scale: 1}]);
    expect(diff(both, base)).toBeGreaterThan(0);
    expect(diff(await image(), base)).toBe(0);
  }, 400_000);

  it('refuses a FLUX LyCORIS file for the sd1 model, naming it', async () => {
    const r = await fetch(`${s!.url}/v1/generate`, {method: 'POST', headers: {'content-type': 'application/json'},
      body: JSON.stringify({...BODY, loras: [{name: join(dir, 'flux', 'flux-lokr.safetensors')}]})});
    expect(r.status).toBe(400);
    expect(JSON.stringify(await r.json())).toMatch(/is a LoRA for flux but the loaded model is sd1/);
  }, 60_000);
});

describe('mgen generate --lora with LyCORIS files on SDXL and FLUX', () => {
  it('an SDXL LoHa in SGM names changes the image', async () => {
    const base = await generate('builtin:tiny-sdxl', [], 'sdxl-base');
    expect(diff(await generate('builtin:tiny-sdxl', ['--lora', join(dir, 'sdxl', 'sdxl-loha.safetensors')], 'sdxl-loha'), base)).toBeGreaterThan(0);
  }, 300_000);

  it('a FLUX LoKr in BFL names (fused qkv) with a DoRA changes the image', async () => {
    const base = await generate('builtin:tiny-flux', [], 'flux-base');
    const both = await generate('builtin:tiny-flux', ['--lora', join(dir, 'flux', 'flux-lokr.safetensors'), '--lora', `${join(dir, 'flux', 'flux-dora.safetensors')}:0.5`], 'flux-both');
    expect(diff(both, base)).toBeGreaterThan(0);
  }, 300_000);
});

describe('hypernetworks and aesthetic gradients on tiny-sd', () => {
  let base: Uint8Array;
  beforeAll(async () => {
    base = await generate('builtin:tiny-sd', [], 'sd-base');
  }, 300_000);

  it('inspect says hypernetwork; strength 0 gives the base pixels, the file as MODEL_ID with --base changes them', async () => {
    const r = await cli(['inspect', 'builtin:tiny-sd-hypernetwork', '--json']);
    expect(JSON.parse(r.stdout)).toMatchObject({kind: 'hypernetwork', family: 'sd1', format: 'pickle'});
    expect(diff(await generate('builtin:tiny-sd', ['--hypernetwork', 'builtin:tiny-sd-hypernetwork:0'], 'hn0'), base)).toBe(0);
    expect(diff(await generate('builtin:tiny-sd-hypernetwork', ['--base', 'builtin:tiny-sd'], 'hn1'), base)).toBeGreaterThan(0);
  }, 300_000);

  it('an aesthetic embedding changes the image; weight 0 gives the base pixels', async () => {
    const tuned = await generate('builtin:tiny-sd', ['--aesthetic', 'builtin:tiny-sd-aesthetic', '--aesthetic-steps', '2', '--aesthetic-lr', '0.01'], 'ae');
    expect(diff(tuned, base)).toBeGreaterThan(0);
    expect(diff(await generate('builtin:tiny-sd', ['--aesthetic', 'builtin:tiny-sd-aesthetic', '--aesthetic-weight', '0'], 'ae0'), base)).toBe(0);
  }, 300_000);
});
