// The `openai` npm SDK (6.49.0, devDependency) against a real `mgen serve` on tiny-sd, unmodified: generate in both
// response formats (url links fetched without the key), edit with image + mask, createVariation, models,
// streaming events, and errors as the SDK's own classes. The tiny model makes noise, not pictures.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import OpenAI, {toFile} from 'openai';
import {rgbaPng, topLeftHole} from '../helpers/png-rgba.js';
import {spawnServe, testPython, tiny, type SpawnedServe} from '../runtime/support.js';

const TOKEN = 'conformance-openai-node';
let serve: SpawnedServe;
let client: OpenAI;
/** Our extension fields (fast runs), sent as the SDK sends any extra body field. */
const FAST = {steps: 1, seed: 1} as object;
const isPng = (b: Buffer): boolean => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
const image = (): Promise<File> => toFile(rgbaPng(64, 64, () => 255), 'image.png', {type: 'image/png'}) as Promise<File>;

beforeAll(async () => {
  await testPython();
  await tiny('tiny-sd');
  serve = await spawnServe(['builtin:tiny-sd', '--device', 'cpu', '--dtype', 'float32', '--no-state', '--token', TOKEN], 300_000);
  client = new OpenAI({baseURL: `${serve.url}/v1`, apiKey: TOKEN, maxRetries: 0, timeout: 120_000});
}, 420_000);
afterAll(() => {
  serve?.proc.kill('SIGTERM');
});

describe('openai (Node)', () => {
  it('images.generate: b64_json by default for the served model, url for dall-e-2 (fetched without the key)', async () => {
    const b = await client.images.generate({prompt: 'a red cube', size: '64x64' as '1024x1024', ...FAST});
    expect(isPng(Buffer.from(b.data![0]!.b64_json!, 'base64'))).toBe(true);
    expect(b).toMatchObject({size: '64x64', output_format: 'png', usage: {input_tokens_details: {text_tokens: 3}}});
    const u = await client.images.generate({prompt: 'a red cube', model: 'dall-e-2', size: '64x64' as '256x256', ...FAST});
    expect(u.data![0]!.b64_json).toBeUndefined();
    const r = await fetch(u.data![0]!.url!);
    expect(r.status).toBe(200);
    expect(isPng(Buffer.from(await r.arrayBuffer()))).toBe(true);
  }, 120_000);

  it('images.edit with image + mask and createVariation answer PNGs', async () => {
    const mask = await toFile(rgbaPng(64, 64, topLeftHole(64, 64)), 'mask.png', {type: 'image/png'});
    const e = await client.images.edit({image: await image(), mask, prompt: 'a hat', size: '64x64' as '1024x1024', ...FAST});
    expect(isPng(Buffer.from(e.data![0]!.b64_json!, 'base64'))).toBe(true);
    expect(e.usage?.input_tokens_details.image_tokens).toBe(64);
    // Image-to-image runs steps x strength (0.8 by default) of the steps: 2 steps are 1.
    const v = await client.images.createVariation({image: await image(), n: 1, size: '64x64' as '256x256', response_format: 'b64_json', ...({steps: 2, seed: 1} as object)});
    expect(isPng(Buffer.from(v.data![0]!.b64_json!, 'base64'))).toBe(true);
  }, 180_000);

  it('models.list and models.retrieve name the served model', async () => {
    const ids: string[] = [];
    for await (const m of client.models.list()) ids.push(m.id);
    expect(ids).toEqual(['builtin:tiny-sd']);
    expect((await client.models.retrieve('builtin:tiny-sd')).id).toBe('builtin:tiny-sd');
  }, 60_000);

  it('stream: true with partial_images yields image_generation.partial_image events, then image_generation.completed', async () => {
    const stream = await client.images.generate({prompt: 'a red cube', model: 'gpt-image-1', size: '64x64' as '1024x1024', stream: true, partial_images: 2, ...({steps: 3, seed: 1} as object)});
    const events: Array<{type: string; b64_json?: string; partial_image_index?: number}> = [];
    for await (const ev of stream) events.push(ev);
    expect(events.map((e) => e.type)).toEqual(['image_generation.partial_image', 'image_generation.partial_image', 'image_generation.completed']);
    expect(events.map((e) => e.partial_image_index)).toEqual([0, 1, undefined]);
    for (const e of events) expect(isPng(Buffer.from(e.b64_json!, 'base64'))).toBe(true);
  }, 120_000);

  it('errors are the SDK\'s BadRequestError (with the field) and AuthenticationError', async () => {
    const bad = await client.images.generate({prompt: 'x', model: 'gpt-image-1', background: 'transparent'}).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    expect(bad).toMatchObject({status: 400, param: 'background', type: 'invalid_request_error'});
    const wrong = new OpenAI({baseURL: `${serve.url}/v1`, apiKey: 'wrong-key-0000', maxRetries: 0});
    await expect(wrong.images.generate({prompt: 'x'})).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
  }, 60_000);
});
