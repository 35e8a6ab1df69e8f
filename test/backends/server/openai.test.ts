// The OpenAI Images dialect: per-model defaults and refusals (pure), and the real serve app around a session
// without Python on loopback sockets: signed file URLs, edits/variations multipart with OpenAI masks, models,
// streaming events, proxy headers.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {existsSync, readFileSync, writeFileSync} from 'node:fs';
import http from 'node:http';
import {dirname, join} from 'node:path';
import {FileStore} from '../../../src/backends/server/file-store.js';
import {forwardedOrigin} from '../../../src/backends/server/forwarded.js';
import {checkOpenAIRequest, nativeToOpenAI, openAIToNative, parseSize} from '../../../src/backends/server/openai.js';
import {inpaintMaskPng, readPngAlpha} from '../../../src/backends/server/openai-mask.js';
import {startServe, type RunningServe} from '../../../src/backends/server/server.js';
import {DEFAULT_CAPS, type NativeResponse} from '../../../src/backends/server/types.js';
import type {SessionGenerateInput} from '../../../src/backends/server/session-port.js';
import {rgbaPng} from '../../helpers/png-rgba.js';
import {useTmpDir} from '../../helpers/tmp.js';
import {fakeSession, type FakeSession} from './fake-session.js';

const res: NativeResponse = {
  images: [{b64_json: 'AAAA', seed: 7, width: 64, height: 64}, {b64_json: 'BBBB', seed: 8, width: 64, height: 64}],
  metadata: {model: 'm'},
  timings: {queue_s: 0, worker_s: 1, worker_total_s: 1, denoise_s: 1, total_s: 1, steps: 2},
};

const holeInTopLeft = (x: number, y: number): number => (x < 4 && y < 4 ? 0 : 255);

describe('OpenAI dialect: per-model rules', () => {
  const check = (b: Record<string, unknown>) => checkOpenAIRequest({prompt: 'p', ...b}, 'builtin:tiny-sd', 'generations');
  it('defaults response_format as OpenAI does for the model: url for dall-e-2/3, b64_json for GPT image models and the served model', () => {
    expect(check({model: 'dall-e-2'}).responseFormat).toBe('url');
    expect(check({model: 'dall-e-3'}).responseFormat).toBe('url');
    expect(check({model: 'gpt-image-1'}).responseFormat).toBe('b64_json');
    expect(check({}).responseFormat).toBe('b64_json');
    expect(check({model: 'builtin:tiny-sd', response_format: 'url'}).responseFormat).toBe('url');
  });
  it('refuses, naming the field, what the emulated model or this server cannot do', () => {
    const param = (b: Record<string, unknown>): string | undefined => {
      try {
        check(b);
      } catch (err) {
        return (err as {param?: string}).param;
      }
      return 'accepted';
    };
    expect(param({model: 'gpt-image-1', response_format: 'url'})).toBe('response_format');
    expect(param({background: 'transparent'})).toBe('background');
    expect(param({output_format: 'gif'})).toBe('output_format');
    expect(param({output_compression: 50})).toBe('output_compression');
    expect(param({output_format: 'jpeg', output_compression: 50})).toBe('accepted');
    expect(param({model: 'dall-e-3', n: 2})).toBe('n');
    expect(param({model: 'dall-e-2', output_format: 'png'})).toBe('output_format');
    expect(param({model: 'dall-e-2', quality: 'hd'})).toBe('quality');
    expect(param({model: 'gpt-image-1', style: 'vivid'})).toBe('style');
    expect(param({model: 'some-other-model'})).toBe('model');
    expect(param({svg: {model: 'x'}})).toBe('svg');
    expect(param({input_fidelity: 'high'})).toBe('input_fidelity');
    expect(param({model: 'gpt-image-1', background: 'opaque', moderation: 'low', output_format: 'png', output_compression: 100, quality: 'low', stream: true, partial_images: 2})).toBe('accepted');
    expect(param({model: 'dall-e-2', stream: false})).toBe('accepted');
  });
  it('maps quality to a share of the model\'s default steps; explicit steps win', () => {
    const c = check({model: 'gpt-image-1', quality: 'low'});
    expect(openAIToNative({prompt: 'p', quality: 'low'}, c, {defaultSteps: 20, caps: DEFAULT_CAPS}).steps).toBe(10);
    expect(openAIToNative({prompt: 'p', quality: 'low', steps: 3}, c, {defaultSteps: 20, caps: DEFAULT_CAPS}).steps).toBe(3);
    expect(openAIToNative({prompt: 'p'}, check({}), {defaultSteps: 20, caps: DEFAULT_CAPS}).steps).toBeUndefined();
  });
  it('maps n, size and the extension fields', () => {
    expect(openAIToNative({prompt: 'a cat', n: 2, size: '64x64', negative_prompt: 'dog', steps: 3, guidance: 2, seed: 5}, check({}), {caps: DEFAULT_CAPS})).toEqual({
      prompt: 'a cat', width: 64, height: 64, num_images: 2, negative_prompt: 'dog', steps: 3, guidance_scale: 2, seed: 5, response_format: 'b64_json',
    });
    expect(openAIToNative({prompt: 'a cat', output_format: 'webp', output_compression: 40}, check({output_format: 'webp', output_compression: 40}), {caps: DEFAULT_CAPS}).image_format).toEqual({format: 'webp', quality: 40});
    expect(openAIToNative({prompt: 'a cat', output_format: 'jpeg'}, check({output_format: 'jpeg'}), {caps: DEFAULT_CAPS}).image_format).toEqual({format: 'jpeg', quality: 100});
    expect(nativeToOpenAI(res, {created: 1, prompt: 'a cat', choices: check({model: 'gpt-image-1', output_format: 'jpeg'})}).output_format).toBe('jpeg');
    expect(parseSize('auto')).toEqual({});
    expect(() => parseSize('12')).toThrow(/size/);
  });
  it('fills usage and the settings for GPT image models, revised_prompt for dall-e-3, neither for dall-e-2', () => {
    const gpt = nativeToOpenAI(res, {created: 100, prompt: 'a red cube', choices: check({model: 'gpt-image-1'})});
    expect(gpt).toMatchObject({created: 100, background: 'opaque', output_format: 'png', quality: 'high', size: '64x64'});
    expect(gpt.usage).toEqual({
      total_tokens: 3 + 128, input_tokens: 3, output_tokens: 128,
      input_tokens_details: {text_tokens: 3, image_tokens: 0}, output_tokens_details: {image_tokens: 128, text_tokens: 0},
    });
    expect(nativeToOpenAI(res, {created: 1, prompt: 'p', choices: check({model: 'dall-e-3'})}).data[0]).toEqual({b64_json: 'AAAA', revised_prompt: 'p'});
    expect(nativeToOpenAI(res, {created: 1, prompt: 'p', choices: check({model: 'dall-e-2'})})).toEqual({created: 1, data: [{b64_json: 'AAAA'}, {b64_json: 'BBBB'}]});
  });
});

describe('OpenAI masks, signed URLs, proxy headers', () => {
  it('turns an OpenAI mask (transparent = edit) into an inpainting mask (white = repaint)', () => {
    const alpha = readPngAlpha(rgbaPng(8, 8, holeInTopLeft), 'mask');
    expect(alpha.alpha![0]).toBe(0);
    expect(alpha.alpha![63]).toBe(255);
    const grey = readPngAlpha(inpaintMaskPng(alpha), 'x');
    expect(grey.alpha).toBeNull();
    expect(() => readPngAlpha(Buffer.from('not a png at all'), 'mask')).toThrow(/mask: must be a PNG/);
  });
  it('signs file paths; a changed path, signature or a past expiry is refused', () => {
    const store = new FileStore('/nonexistent');
    const url = new URL(`http://x${store.signedPath('a.png')}`);
    expect(store.checkSignature('/v1/files/a.png', url.searchParams)).toBe('valid');
    expect(store.checkSignature('/v1/files/b.png', url.searchParams)).toBe('invalid');
    expect(store.checkSignature('/v1/files/a.png', new URLSearchParams())).toBe('unsigned');
    expect(store.checkSignature('/v1/files/a.png', url.searchParams, Date.now() + 2 * 3_600_000)).toBe('expired');
    const old = new URL(`http://x${store.signedPath('a.png', -60_000)}`);
    expect(store.checkSignature('/v1/files/a.png', old.searchParams)).toBe('expired');
    expect(new FileStore('/nonexistent').checkSignature('/v1/files/a.png', url.searchParams)).toBe('invalid');
  });
  it('reads Forwarded, then X-Forwarded-*, and refuses junk hosts', () => {
    expect(forwardedOrigin({forwarded: 'for=1.2.3.4;proto=https;host="img.example.org"', host: 'internal:7860'})).toBe('https://img.example.org');
    expect(forwardedOrigin({'x-forwarded-proto': 'https', 'x-forwarded-host': 'a.example:8443, b', host: 'internal'})).toBe('https://a.example:8443');
    expect(forwardedOrigin({'x-forwarded-host': 'evil.example/path'})).toBeNull();
    expect(forwardedOrigin({'x-forwarded-proto': 'gopher', host: 'a'})).toBeNull();
  });
});

// -- the real app ------------------------------------------------------------------------------------------
const tmp = useTmpDir('mgen-openai-');
const TOKEN = 'openai-test-token';
const auth = {authorization: `Bearer ${TOKEN}`};
let s: RunningServe;
let proxied: RunningServe;
let session: FakeSession;
const seen: Array<SessionGenerateInput & {maskBytes?: Buffer; imageBytes?: Buffer}> = [];

beforeAll(async () => {
  const env = {MGEN_HOME: join(tmp.dir, 'home'), HF_HUB_CACHE: join(tmp.dir, 'hub'), HF_HUB_OFFLINE: '1'};
  session = fakeSession(env);
  const generate = session.generate.bind(session);
  session.generate = async (input, opts) => {
    if (input.prompt === 'fail me') throw Object.assign(new Error('the pipeline refused this'), {workerType: 'bad_params'});
    seen.push({...input, ...(input.mask ? {maskBytes: readFileSync(input.mask)} : {}), ...(input.image ? {imageBytes: readFileSync(input.image)} : {})});
    // As the worker does for `previews`: a partial image file, its path on a progress event.
    for (let k = 0; k < (input.previews ?? 0); k++) {
      const preview = join(dirname(input.out!), `preview-${k}.png`);
      writeFileSync(preview, rgbaPng(8, 8, () => 255));
      opts?.onProgress?.(k + 1, 4, {image: 0, preview});
    }
    return generate(input, opts);
  };
  const common = {modelId: 'builtin:tiny-sd', report: {family: 'sd1', defaults: {steps: 20}}, session, reopen: async () => session, host: '127.0.0.1', port: 0, home: null};
  s = await startServe({...common, token: TOKEN});
  proxied = await startServe({...common, trustProxy: true});
}, 60_000);
afterAll(async () => {
  await s?.close();
  await proxied?.close();
});

async function postJson(path: string, body: unknown, srv = s): Promise<{status: number; body: any; text: string; type: string | null}> {
  const r = await fetch(`${srv.url}${path}`, {method: 'POST', headers: {...auth, 'content-type': 'application/json'}, body: JSON.stringify(body)});
  const text = await r.text();
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* SSE */
  }
  return {status: r.status, body: parsed, text, type: r.headers.get('content-type')};
}
async function postForm(path: string, fields: Record<string, string>, files: Record<string, Buffer>): Promise<{status: number; body: any}> {
  const fd = new FormData();
  for (const [k, v] of Object.entries(fields)) fd.append(k, v);
  for (const [k, v] of Object.entries(files)) fd.append(k, new Blob([new Uint8Array(v)], {type: 'image/png'}), `${k}.png`);
  const r = await fetch(`${s.url}${path}`, {method: 'POST', headers: auth, body: fd});
  return {status: r.status, body: await r.json()};
}

describe('OpenAI routes on the real app', () => {
  it('dall-e-2 requests get signed url images that load without the bearer token until they expire', async () => {
    const r = await postJson('/v1/images/generations', {prompt: 'a cube', model: 'dall-e-2', size: '64x64'});
    expect(r.status).toBe(200);
    const url = r.body.data[0].url as string;
    expect(url).toMatch(new RegExp(`^${s.url}/v1/files/[^?]+\\?expires=\\d+&signature=[0-9a-f]{64}$`));
    const ok = await fetch(url);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('image/png');
    // A signature with its first hex digit changed (to another digit: replacing a 0 with a 0 would change nothing).
    expect((await fetch(url.replace(/signature=(.)/, (_m, c: string) => `signature=${c === '0' ? '1' : '0'}`))).status).toBe(403);
    expect((await fetch(url.replace(/expires=\d+/, 'expires=1'))).status).toBe(403);
    expect((await fetch(url.split('?')[0]!)).status).toBe(401);
    expect((await fetch(url.split('?')[0]!, {headers: auth})).status).toBe(200);
  });

  it('answers GPT image requests with b64_json, usage and settings; refusals name the field', async () => {
    const r = await postJson('/v1/images/generations', {prompt: 'a cube', model: 'gpt-image-1', size: '64x64', quality: 'low', background: 'opaque', moderation: 'low'});
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({background: 'opaque', output_format: 'png', quality: 'low', size: '8x8', usage: {input_tokens: 2}});
    expect(r.body.data[0].b64_json).toBeDefined();
    expect(seen.at(-1)!.steps).toBe(10);
    const t = await postJson('/v1/images/generations', {prompt: 'x', model: 'gpt-image-1', background: 'transparent'});
    expect(t.status).toBe(400);
    expect(t.body.error).toEqual({message: expect.stringMatching(/^background: transparent/), type: 'invalid_request_error', param: 'background'});
  });

  it('sends a job\'s previews as `preview` events on its own stream (/v1/jobs previews, the playground\'s live view)', async () => {
    const job = await postJson('/v1/jobs', {input: {prompt: 'a cube', width: 64, height: 64}, previews: 2});
    expect(job.status).toBe(202);
    expect(seen.at(-1)!.previews).toBe(2);
    const r = await fetch(`${s.url}/v1/jobs/${job.body.id}/events`, {headers: auth});
    const events = (await r.text()).split('\n\n').map((block) => ({
      event: /^event: (.*)$/m.exec(block)?.[1],
      data: /^data: (.*)$/m.exec(block)?.[1],
    })).filter((e) => e.event);
    const previews = events.filter((e) => e.event === 'preview').map((e) => JSON.parse(e.data!));
    // Each preview is read from its file as it comes, so two may arrive in either order; each names its step.
    expect(previews.map((p) => p.step).sort()).toEqual([1, 2]);
    expect(Buffer.from(previews[0].b64_json, 'base64').subarray(1, 4).toString()).toBe('PNG');
    expect(events.at(-1)!.event).toBe('done');
    expect((await postJson('/v1/jobs', {input: {prompt: 'x'}, previews: 9})).status).toBe(400);
  });

  it('checks sizes with the shared validator and names `size`', async () => {
    const r = await postJson('/v1/images/generations', {prompt: 'x', size: '100x100'});
    expect(r.status).toBe(400);
    expect(r.body.error.param).toBe('size');
    expect(r.body.error.message).toMatch(/^size: width 100 is not a multiple of 8 for sd1/);
  });

  it('streams partial_image events (the worker\'s previews, files removed after) then completed events (SSE)', async () => {
    const r = await postJson('/v1/images/generations', {prompt: 'x', model: 'gpt-image-1', stream: true, partial_images: 2, size: '64x64'});
    expect(r.status).toBe(200);
    expect(r.type).toMatch(/^text\/event-stream/);
    const events = r.text.trim().split('\n\n').map((e) => ({event: /^event: (.*)$/m.exec(e)?.[1], data: JSON.parse(/^data: (.*)$/m.exec(e)![1]!)}));
    expect(events.at(-1)!.event).toBe('image_generation.completed');
    expect(events.at(-1)!.data).toMatchObject({type: 'image_generation.completed', output_format: 'png', background: 'opaque', size: '8x8', usage: {output_tokens: 1}});
    expect(typeof events.at(-1)!.data.b64_json).toBe('string');
    expect(events.map((e) => e.event)).toEqual(['image_generation.partial_image', 'image_generation.partial_image', 'image_generation.completed']);
    expect(events.map((e) => e.data.partial_image_index)).toEqual([0, 1, undefined]);
    expect(events[0]!.data).toMatchObject({size: '8x8', quality: 'high', background: 'opaque', output_format: 'png', b64_json: rgbaPng(8, 8, () => 255).toString('base64')});
    expect(seen.at(-1)!.previews).toBe(2);
    expect(existsSync(join(dirname(seen.at(-1)!.out!), 'preview-0.png'))).toBe(false);
  });

  it('a stream whose job fails ends with one OpenAI error event', async () => {
    const r = await postJson('/v1/images/generations', {prompt: 'fail me', stream: true});
    expect(r.status).toBe(200);
    expect(r.text).toBe(`event: error\ndata: ${JSON.stringify({type: 'error', error: {message: 'the pipeline refused this', type: 'invalid_request_error', param: null, code: null}})}\n\n`);
  });

  it('edits: image + OpenAI mask becomes an inpainting request with a white-where-transparent mask', async () => {
    const image = rgbaPng(16, 16, () => 255);
    const r = await postForm('/v1/images/edits', {prompt: 'a hat', model: 'gpt-image-1', n: '1', seed: '3'}, {image, mask: rgbaPng(16, 16, holeInTopLeft)});
    expect(r.status).toBe(200);
    expect(r.body.data).toHaveLength(1);
    const input = seen.at(-1)!;
    expect(input).toMatchObject({prompt: 'a hat', width: 16, height: 16, seed: 3});
    expect(input.imageBytes!.equals(image)).toBe(true);
    const m = readPngAlpha(input.maskBytes!, 'm');
    expect(m.alpha).toBeNull();
    expect(r.body.usage.input_tokens_details.image_tokens).toBe(4);
  });

  it('edits refuse a mask without transparency or of another size, naming `mask`', async () => {
    const image = rgbaPng(16, 16, () => 255);
    const opaque = await postForm('/v1/images/edits', {prompt: 'a hat'}, {image, mask: rgbaPng(16, 16, () => 255)});
    expect(opaque).toMatchObject({status: 400, body: {error: {param: 'mask'}}});
    const other = await postForm('/v1/images/edits', {prompt: 'a hat'}, {image, mask: rgbaPng(8, 8, holeInTopLeft)});
    expect(other).toMatchObject({status: 400, body: {error: {param: 'mask'}}});
    const noImage = await postForm('/v1/images/edits', {prompt: 'a hat'}, {});
    expect(noImage).toMatchObject({status: 400, body: {error: {param: 'image'}}});
    const badField = await postForm('/v1/images/edits', {prompt: 'a hat', n: 'two'}, {image});
    expect(badField).toMatchObject({status: 400, body: {error: {param: 'n'}}});
  });

  it('a streamed edit sends image_edit.* events', async () => {
    const fd = new FormData();
    fd.append('prompt', 'a hat');
    fd.append('stream', 'true');
    fd.append('partial_images', '1');
    fd.append('image', new Blob([new Uint8Array(rgbaPng(16, 16, () => 255))], {type: 'image/png'}), 'image.png');
    const r = await fetch(`${s.url}/v1/images/edits`, {method: 'POST', headers: auth, body: fd});
    const types = [...(await r.text()).matchAll(/^event: (.*)$/gm)].map((m) => m[1]);
    expect(types).toEqual(['image_edit.partial_image', 'image_edit.completed']);
  });

  it('dall-e-2 edits without a mask use the image\'s transparent areas', async () => {
    const r = await postForm('/v1/images/edits', {prompt: 'a hat', model: 'dall-e-2', response_format: 'b64_json'}, {image: rgbaPng(16, 16, holeInTopLeft)});
    expect(r.status).toBe(200);
    expect(seen.at(-1)!.maskBytes).toBeDefined();
  });

  it('variations are image-to-image with an empty prompt', async () => {
    const r = await postForm('/v1/images/variations', {n: '1', response_format: 'b64_json'}, {image: rgbaPng(16, 16, () => 255)});
    expect(r.status).toBe(200);
    expect(seen.at(-1)).toMatchObject({prompt: '', width: 16, height: 16});
    expect(seen.at(-1)!.mask).toBeUndefined();
  });

  it('lists and retrieves the served model; another id is a 404', async () => {
    const list = await (await fetch(`${s.url}/v1/models`, {headers: auth})).json();
    expect(list).toEqual({object: 'list', data: [{id: 'builtin:tiny-sd', object: 'model', created: expect.any(Number), owned_by: 'mgen'}]});
    expect((await fetch(`${s.url}/v1/models/${encodeURIComponent('builtin:tiny-sd')}`, {headers: auth})).status).toBe(200);
    expect((await fetch(`${s.url}/v1/models/builtin:tiny-sd`, {headers: auth})).status).toBe(200);
    expect((await fetch(`${s.url}/v1/models/dall-e-3`, {headers: auth})).status).toBe(404);
  });

  it('with --trust-proxy, file URLs follow the proxy headers; without it they do not', async () => {
    const viaProxy = (srv: RunningServe): Promise<string> =>
      new Promise((resolve, reject) => {
        const body = JSON.stringify({prompt: 'x', response_format: 'url'});
        const req = http.request(`${srv.url}/v1/images/generations`, {
          method: 'POST',
          headers: {...auth, 'content-type': 'application/json', 'content-length': String(body.length), 'x-forwarded-proto': 'https', 'x-forwarded-host': 'img.example.org'},
        }, (r) => {
          let t = '';
          r.on('data', (c: Buffer) => (t += c.toString()));
          r.on('end', () => resolve(JSON.parse(t).data[0].url));
        });
        req.on('error', reject);
        req.end(body);
      });
    expect(await viaProxy(proxied)).toMatch(/^https:\/\/img\.example\.org\/v1\/files\//);
    expect(await viaProxy(s)).toMatch(new RegExp(`^${s.url}/v1/files/`));
  });
});
