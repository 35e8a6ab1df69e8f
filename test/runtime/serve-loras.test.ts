// Per-request LoRAs in `mgen serve`: a real server around a real worker with builtin:tiny-sd; the LoRAs are
// the runtime's tiny LoRAs, named by MODEL_ID, and a hand-written SDXL LoRA header for the wrong family.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {mkdtemp, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {readPngInfo} from '../../src/backends/png-metadata.js';
import {kohyaSd, kohyaSdxl} from '../helpers/fixtures/adapters.js';
import {writeSafetensors} from '../helpers/safetensors-writer.js';
import {RequestModelPolicy} from '../../src/backends/request-model-policy.js';
import {dumpPickle, stateDict, torchZip} from '../helpers/pickle-writer.js';
import {startTinyServe} from './serve-helpers.js';
import {a1111LoraEntry, tiny} from './support.js';

let s: Awaited<ReturnType<typeof startTinyServe>>;
let dir = '';
const KOHYA = 'builtin:tiny-sd-lora-kohya';
const PEFT = 'builtin:tiny-sd-lora-peft';
const BASE = {prompt: 'a red cube', width: 64, height: 64, steps: 2, seed: 11};

async function generate(body: Record<string, unknown>): Promise<{status: number; body: any}> {
  const r = await fetch(`${s.url}/v1/generate`, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify(body)});
  return {status: r.status, body: await r.json()};
}
/** The image data of a PNG (from the first IDAT chunk on): equal pixels whatever the text chunks say. */
const pixels = (b64: string): string => {
  const buf = Buffer.from(b64, 'base64');
  return buf.subarray(buf.indexOf('IDAT')).toString('base64');
};
async function image(loras?: Array<{name: string; scale?: number}>): Promise<string> {
  const r = await generate(loras ? {...BASE, loras} : BASE);
  expect(r.status).toBe(200);
  return r.body.images[0].b64_json;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mgen-serve-loras-'));
  // Request paths are read only under --model-dir; pickles allowed, to reach the hash of a pickle LoRA.
  s = await startTinyServe({policy: new RequestModelPolicy({modelDirs: [dir]})}, {allowPickle: true});
}, 240_000);
afterAll(async () => {
  await s?.close(5000);
  if (dir) await rm(dir, {recursive: true, force: true});
}, 60_000);

describe('per-request loras', () => {
  it('applies a LoRA for its request only: scale 1 differs, scale 0 and the next plain request give the base pixels', async () => {
    const base = pixels(await image());
    const withKohya = pixels(await image([{name: KOHYA, scale: 1}]));
    expect(withKohya).not.toBe(base);
    expect(pixels(await image())).toBe(base);
    expect(pixels(await image([{name: KOHYA, scale: 0}]))).toBe(base);
    // The cached adapter gives the same image again; another LoRA format works too.
    expect(pixels(await image([{name: KOHYA}]))).toBe(withKohya);
    const withPeft = pixels(await image([{name: PEFT, scale: 1}]));
    expect(withPeft).not.toBe(base);
    expect(withPeft).not.toBe(withKohya);
    expect(pixels(await image())).toBe(base);
  }, 300_000);

  it('records the request LoRAs in the PNG and the response metadata', async () => {
    const r = await generate({...BASE, loras: [{name: KOHYA, scale: 0.5}]});
    expect(r.status).toBe(200);
    const info = readPngInfo(Buffer.from(r.body.images[0].b64_json, 'base64'));
    expect(info.text.parameters).toContain(`Lora hashes: "${a1111LoraEntry((await tiny('tiny-sd-lora-kohya')).path)}"`);
    const doc = JSON.parse(info.text.mgen!);
    expect(doc.adapters.loras).toEqual([{id: KOHYA, scale: 0.5}]);
    expect(r.body.metadata.request.loras).toEqual([{name: KOHYA, scale: 0.5}]);
    expect(JSON.stringify(r.body.metadata)).not.toContain(dir);
  }, 120_000);

  it.each([
    ['a missing file', () => join(dir, 'missing.safetensors'), /no such model file under the server's model folders/],
    ['a path outside --model-dir', () => '/etc/passwd', /no such model file under the server's model folders/],
    ['an unknown builtin', () => 'builtin:tiny-nothing', /unknown builtin/],
    ['a textual inversion', () => 'builtin:tiny-sd-ti', /is a textual-inversion, not a LoRA/],
    ['an SDXL LoRA on an sd1 model', () => join(dir, 'sdxl-lora.safetensors'), /is a LoRA for sdxl but the loaded model is sd1/],
  ])('refuses %s with 400 naming loras[i].name, and the server keeps working', async (_what, name, re) => {
    await writeSafetensors(join(dir, 'sdxl-lora.safetensors'), kohyaSdxl(), {sparse: true});
    const r = await generate({...BASE, loras: [{name: KOHYA}, {name: name()}]});
    expect(r.status).toBe(400);
    expect(r.body.error.message).toMatch(/^loras\[1\]\.name: /);
    expect(r.body.error.param).toBe('loras[1].name');
    expect(r.body.error.message).toMatch(re);
    expect((await generate(BASE)).status).toBe(200);
  }, 120_000);

  it('refuses a URL (no --allow-model-urls) with 403 and fetches nothing', async () => {
    const r = await generate({...BASE, loras: [{name: 'http://127.0.0.1:9/x.safetensors'}]});
    expect(r.status).toBe(403);
    expect(r.body.error).toMatchObject({type: 'model_not_allowed', param: 'loras[0].name'});
  }, 60_000);

  it('answers a pickle LoRA named .safetensors with an HTTP error, and the server keeps serving (--allow-pickle)', async () => {
    const specs = kohyaSd('sd1');
    const zip = Buffer.from(torchZip(dumpPickle(stateDict(specs)), {storages: specs.length}));
    zip.set([0, 0, 8, 8], 4); // torch.save's first local header: read as a header length, past MAX_SAFE_INTEGER
    await writeFile(join(dir, 'pickled.safetensors'), zip);
    const r = await generate({...BASE, loras: [{name: join(dir, 'pickled.safetensors')}]});
    expect(r.status).toBeGreaterThanOrEqual(200);
    expect(JSON.stringify(r.body)).not.toMatch(/out of range/);
    expect((await generate(BASE)).status).toBe(200);
  }, 120_000);
});
