// `mgen serve` end to end: a real server on 127.0.0.1:0 around a real worker with the tiny model. One server
// for the whole file (loading costs seconds on CPU); every wait is bounded.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import OpenAI from 'openai';
import {readPngInfo} from '../../src/backends/png-metadata.js';
import {startTinyServe} from './serve-helpers.js';

const TOKEN = 'test-token-0123456789';
let s: Awaited<ReturnType<typeof startTinyServe>>;
const auth = {authorization: `Bearer ${TOKEN}`};

async function post(path: string, body: unknown, headers: Record<string, string> = auth, signal?: AbortSignal): Promise<{status: number; body: any; headers: Headers}> {
  const r = await fetch(`${s.url}${path}`, {method: 'POST', headers: {'content-type': 'application/json', ...headers}, body: JSON.stringify(body), signal});
  const text = await r.text();
  return {status: r.status, body: text ? JSON.parse(text) : null, headers: r.headers};
}
async function get(path: string, headers: Record<string, string> = auth): Promise<{status: number; body: any; text: string; headers: Headers}> {
  const r = await fetch(`${s.url}${path}`, {headers});
  const text = await r.text();
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return {status: r.status, body, text, headers: r.headers};
}
const isPng = (b64: string): boolean => Buffer.from(b64, 'base64').subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
/** The image data of a PNG (from the first IDAT chunk on): equal pixels whatever the text chunks say. */
const pixels = (b64: string): string => {
  const buf = Buffer.from(b64, 'base64');
  return buf.subarray(buf.indexOf('IDAT')).toString('base64');
};
const pngSize = (buf: Buffer): [number, number] => [buf.readUInt32BE(16), buf.readUInt32BE(20)];

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}
const metric = async (name: string): Promise<number> => {
  const t = (await get('/metrics')).text;
  const line = t.split('\n').find((l) => l.startsWith(name + ' ') || l.startsWith(name + '{'));
  return line ? Number(line.split(' ').at(-1)) : 0;
};
const metricsText = async (): Promise<string> => (await get('/metrics')).text;
/** Waits until nothing runs or waits (a previous test's cancelled job has ended). */
const idle = (): Promise<boolean> =>
  until('an idle queue', async () => (await metric('mgen_jobs_running')) === 0 && (await metric('mgen_queue_depth')) === 0);
/** A job long enough to still be running while a test acts on it (cancelled or killed before it ends). */
const LONG = {prompt: 'a long job', steps: 150, width: 256, height: 256};

beforeAll(async () => {
  s = await startTinyServe({token: TOKEN, maxQueue: 1, runsyncWaitMs: 60_000});
}, 180_000);
afterAll(async () => {
  await s?.close(5000);
}, 60_000);

describe('health, auth, model, schema, metrics', () => {
  it('answers /healthz without a token and everything else only with the right one', async () => {
    expect((await get('/healthz', {})).status).toBe(200);
    const none = await get('/readyz', {});
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    expect((await get('/readyz', {authorization: 'Bearer wrong-token-0000000'})).status).toBe(401);
    expect((await post('/v1/generate', {prompt: 'x'}, {})).status).toBe(401);
    const ready = await get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.ready).toBe(true);
  });

  it('serves the model report and the request schema with the pipeline extras', async () => {
    const report = (await get('/v1/model')).body;
    expect(report.family).toBe('sd1');
    expect(report.source.id).toBe('builtin:tiny-sd');
    const schema = (await get('/v1/schema')).body;
    expect(schema.required).toEqual(['prompt']);
    expect(schema.properties.width.multipleOf).toBe(8);
    // StableDiffusionPipeline.__call__ has eta; our own fields replace num_inference_steps.
    expect(schema.properties.eta).toBeDefined();
    expect(schema.properties.params.properties.eta).toBeDefined();
    expect(schema.properties.num_inference_steps).toBeUndefined();
  });
});

describe('POST /v1/generate', () => {
  it('returns base64 PNGs with seeds and metadata; the same seed gives the same pixels', async () => {
    const body = {prompt: 'a cat', steps: 2, width: 64, height: 96, seed: 42, num_images: 2};
    const a = await post('/v1/generate', body);
    expect(a.status).toBe(200);
    expect(a.body.images).toHaveLength(2);
    expect(a.body.images.map((i: {seed: number}) => i.seed)).toEqual([42, 43]);
    expect(isPng(a.body.images[0].b64_json)).toBe(true);
    expect(pngSize(Buffer.from(a.body.images[0].b64_json, 'base64'))).toEqual([64, 96]);
    expect(a.body.metadata).toMatchObject({seed: 42, seeds: [42, 43], model: 'builtin:tiny-sd', request: {prompt: 'a cat', steps: 2, width: 64, height: 96}});
    expect(a.body.metadata.plan).toMatchObject({pipeline: 'StableDiffusionPipeline', task: 'text-to-image'});
    // The PNG carries the same metadata chunks `mgen generate` writes.
    const info = readPngInfo(Buffer.from(a.body.images[0].b64_json, 'base64'));
    expect(info.text.parameters).toMatch(/^a cat\n.*Steps: 2, .*Seed: 42, Size: 64x96/s);
    expect(JSON.parse(info.text.mgen!).request.seed).toBe(42);
    expect(a.body.timings.worker_s).toBeGreaterThan(0);
    const b = await post('/v1/generate', {...body, num_images: 1});
    expect(pixels(b.body.images[0].b64_json) === pixels(a.body.images[0].b64_json)).toBe(true);
    const c = await post('/v1/generate', {...body, num_images: 1, seed: 7});
    expect(pixels(c.body.images[0].b64_json) === pixels(a.body.images[0].b64_json)).toBe(false);
  }, 240_000);

  it('passes pipeline parameters through (top level and under params) and uses a scheduler by name', async () => {
    const r = await post('/v1/generate', {prompt: 'a cat', width: 64, height: 64, steps: 2, seed: 1, eta: 0.0, params: {guidance_rescale: 0.1}, scheduler: 'EulerAncestralDiscreteScheduler'});
    expect(r.status).toBe(200);
    expect(r.body.metadata.request.params).toEqual({eta: 0, guidance_rescale: 0.1});
  }, 60_000);

  it('returns URLs served under /v1/files with response_format url', async () => {
    const r = await post('/v1/generate', {prompt: 'a dog', steps: 2, seed: 3, width: 64, height: 64, response_format: 'url'});
    expect(r.status).toBe(200);
    const url = new URL(r.body.images[0].url);
    expect(url.pathname).toMatch(/^\/v1\/files\/[A-Za-z0-9_-]+-0\.png$/);
    const img = await fetch(`${s.url}${url.pathname}`, {headers: auth});
    expect(img.headers.get('content-type')).toBe('image/png');
    expect(pngSize(Buffer.from(await img.arrayBuffer()))).toEqual([64, 64]);
    expect((await get(url.pathname, {})).status).toBe(401);
    expect((await get('/v1/files/..%2F..%2Fetc%2Fpasswd')).status).toBe(404);
  }, 60_000);

  it.each([
    [{prompt: 'x', width: 65}, 'width'],
    [{prompt: 'x', height: 4096}, 'height'],
    [{prompt: 'x', width: 64, height: 64, steps: 100000}, 'steps'],
    [{prompt: 'x', num_images: 50}, 'num_images'],
    [{width: 64}, 'prompt'],
    [{prompt: 'x', colour: 'red'}, 'colour'],
    [{prompt: 'x', eta: 'high'}, 'eta'],
    [{prompt: 'x', image: 'https://example.com/cat.png'}, 'image'],
    [{prompt: 'x', image: '/etc/passwd'}, 'image'],
    [{prompt: 'x', mask: 'bm90IGFuIGltYWdl'}, 'mask'],
  ])('refuses %j with 400 naming %s', async (body, field) => {
    const r = await post('/v1/generate', body);
    expect(r.status).toBe(400);
    expect(r.body.error.message.startsWith(`${field}:`)).toBe(true);
    expect(r.body.error.param).toBe(field);
  });

  it('refuses a body over the limit and a non-JSON body', async () => {
    const big = await post('/v1/generate', {prompt: 'x', image: 'A'.repeat(33 * 1024 * 1024)});
    expect(big.status).toBe(413);
    const r = await fetch(`${s.url}/v1/generate`, {method: 'POST', headers: {'content-type': 'application/json', ...auth}, body: '{nope'});
    expect(r.status).toBe(400);
  });
});

describe('OpenAI Images API', () => {
  it('works with the official openai client', async () => {
    const client = new OpenAI({baseURL: `${s.url}/v1`, apiKey: TOKEN, maxRetries: 0, timeout: 60_000});
    const res = await client.images.generate({prompt: 'a red cube', size: '64x64' as '256x256', n: 1, response_format: 'b64_json', ...({seed: 5, steps: 2} as object)});
    expect(res.created).toBeGreaterThan(1_600_000_000);
    expect(res.data).toHaveLength(1);
    expect(isPng(res.data![0]!.b64_json!)).toBe(true);
    const bad = new OpenAI({baseURL: `${s.url}/v1`, apiKey: 'wrong-key-000000', maxRetries: 0});
    await expect(bad.images.generate({prompt: 'x'})).rejects.toMatchObject({status: 401});
  }, 60_000);

  it('names size in the error for a size off the grid', async () => {
    const r = await post('/v1/images/generations', {prompt: 'x', size: '100x100'});
    expect(r.status).toBe(400);
    expect(r.body.error.param).toBe('size');
  });
});

describe('AUTOMATIC1111 API', () => {
  it('answers txt2img with base64 images, parameters and info', async () => {
    const req = {prompt: 'a tree', negative_prompt: 'blur', steps: 2, cfg_scale: 4, width: 64, height: 64, seed: 11, batch_size: 2, sampler_name: 'Euler a', enable_hr: false};
    const r = await post('/sdapi/v1/txt2img', req);
    expect(r.status).toBe(200);
    expect(r.body.images).toHaveLength(2);
    expect(isPng(r.body.images[1])).toBe(true);
    expect(r.body.parameters).toEqual(req);
    const info = JSON.parse(r.body.info);
    expect(info).toMatchObject({prompt: 'a tree', negative_prompt: 'blur', seed: 11, all_seeds: [11, 12], sampler_name: 'Euler a', cfg_scale: 4, width: 64, height: 64, steps: 2});
  }, 60_000);

  it('runs Karras samplers and <lora:...> prompt tags: other pixels, the same on a rerun, and says so in info and the PNG', async () => {
    const base = {prompt: 'a red cube', steps: 3, width: 64, height: 64, seed: 21};
    const run = async (extra: Record<string, unknown>): Promise<{px: string; info: any; params: string}> => {
      const r = await post('/sdapi/v1/txt2img', {...base, ...extra});
      expect(r.status).toBe(200);
      const png = readPngInfo(Buffer.from(r.body.images[0], 'base64'));
      return {px: pixels(r.body.images[0]), info: JSON.parse(r.body.info), params: String(png.text?.parameters ?? '')};
    };
    // No sampler named: info and the PNG name the model's own scheduler, the same way.
    const own = await run({});
    expect(own.info.sampler_name).not.toBe('Default');
    expect(own.params).toContain(`Sampler: ${own.info.sampler_name}`);
    const plain = await run({sampler_name: 'DPM++ 2M', scheduler: 'Uniform'});
    const karras = await run({sampler_name: 'DPM++ 2M Karras'});
    const karrasAgain = await run({sampler_name: 'DPM++ 2M Karras'});
    expect(karras.px).not.toBe(plain.px);
    expect(karras.px).toBe(karrasAgain.px);
    expect(karras.info).toMatchObject({sampler_name: 'DPM++ 2M', scheduler: 'Karras'});
    expect(karras.params).toMatch(/Sampler: DPM\+\+ 2M, Schedule type: Karras/);
    const sde = await run({sampler_name: 'DPM++ 2M SDE Karras'});
    expect(sde.px).not.toBe(karras.px);
    const lora = await run({sampler_name: 'Euler', prompt: 'a red cube <lora:builtin:tiny-sd-lora-kohya:1>'});
    const loraAgain = await run({sampler_name: 'Euler', prompt: 'a red cube <lora:builtin:tiny-sd-lora-kohya:1>'});
    const none = await run({sampler_name: 'Euler'});
    expect(lora.px).not.toBe(none.px);
    expect(lora.px).toBe(loraAgain.px);
    // A1111 writes the tag in the prompt part of the PNG text (the encoder never saw it).
    expect(lora.params.split('\n')[0]).toBe('a red cube <lora:builtin:tiny-sd-lora-kohya:1>');
    // The tag is the native loras field: the same pixels as naming the LoRA there.
    const native = await post('/v1/generate', {
      prompt: 'a red cube', steps: 3, width: 64, height: 64, seed: 21, guidance_scale: 7, scheduler: 'EulerDiscreteScheduler',
      loras: [{name: 'builtin:tiny-sd-lora-kohya', scale: 1}], response_format: 'b64_json',
    });
    expect(native.status).toBe(200);
    expect(pixels(native.body.images[0].b64_json)).toBe(lora.px);
    expect(lora.params).toMatch(/Lora hashes: /);
    const missing = await post('/sdapi/v1/txt2img', {...base, prompt: 'x <lora:no-such-lora:1>'});
    expect(missing.status).toBe(400);
    expect(missing.body.error.message).toMatch(/no-such-lora/);
  }, 180_000);

  it('refuses an unknown sampler naming sampler_name, and an img2img input that is not an image', async () => {
    const r = await post('/sdapi/v1/txt2img', {prompt: 'x', sampler_name: 'Warp Drive'});
    expect(r.status).toBe(400);
    expect(r.body.error.param).toBe('sampler_name');
    // img2img runs on a text-to-image serve (the pipeline's image-to-image sibling); a bad image is the client's error.
    expect((await post('/sdapi/v1/img2img', {prompt: 'x', init_images: ['AAAA']})).status).toBe(400);
    expect((await get('/sdapi/v1/samplers')).body.map((x: {name: string}) => x.name)).toContain('DPM++ 2M');
  });
});

describe('async jobs and RunPod aliases', () => {
  it('creates a job idempotently by client id, reports it, and streams progress as SSE', async () => {
    const input = {prompt: 'a job', width: 64, height: 64, steps: 3, seed: 9};
    const a = await post('/v1/jobs', {id: 'job-a', input});
    expect(a.status).toBe(202);
    expect(a.body.id).toBe('job-a');
    const again = await post('/v1/jobs', {id: 'job-a', input});
    expect(again.status).toBe(200);
    expect(again.body.id).toBe('job-a');
    expect((await post('/v1/jobs', {id: 'job-a', input: {...input, seed: 10}})).status).toBe(409);

    const sse = await fetch(`${s.url}/v1/jobs/job-a/events`, {headers: auth});
    expect(sse.headers.get('content-type')).toBe('text/event-stream');
    const text = await sse.text(); // ends when the job is done
    const events = [...text.matchAll(/event: (\w+)\ndata: (.*)\n\n/g)].map((m) => ({event: m[1], data: JSON.parse(m[2]!)}));
    expect(events.at(-1)!.event).toBe('done');
    expect(events.at(-1)!.data.status).toBe('completed');
    const job = await get('/v1/jobs/job-a');
    expect(job.body.status).toBe('completed');
    expect(isPng(job.body.output.images[0].b64_json)).toBe(true);
    // The stream saw the steps unless the job finished before it connected.
    if (events[0]!.data.status !== 'completed') expect(events.some((e) => e.event === 'progress')).toBe(true);
    expect((await get('/v1/jobs/nope')).status).toBe(404);
  }, 60_000);

  it('cancels a job with DELETE', async () => {
    const a = await post('/v1/jobs', {id: 'job-long', input: LONG});
    expect(a.status).toBe(202);
    await until('job-long running', async () => (await get('/v1/jobs/job-long')).body.status === 'running');
    const d = await fetch(`${s.url}/v1/jobs/job-long`, {method: 'DELETE', headers: auth});
    expect(d.status).toBe(200);
    expect(((await d.json()) as {status: string}).status).toBe('cancelled');
    expect((await fetch(`${s.url}/v1/jobs/job-long`, {method: 'DELETE', headers: auth})).status).toBe(409);
  }, 60_000);

  it('speaks RunPod: /run + /status and /runsync', async () => {
    const run = await post('/run', {input: {prompt: 'runpod', width: 64, height: 64, steps: 2, seed: 4}});
    expect(run.status).toBe(200);
    expect(['IN_QUEUE', 'IN_PROGRESS', 'COMPLETED']).toContain(run.body.status);
    const done = await until('runpod job', async () => {
      const st = await get(`/status/${run.body.id}`);
      return st.body.status === 'COMPLETED' ? st.body : null;
    });
    expect(isPng(done.output.images[0].b64_json)).toBe(true);
    const sync = await post('/runsync', {input: {prompt: 'runpod', width: 64, height: 64, steps: 2, seed: 4}});
    expect(sync.body.status).toBe('COMPLETED');
    expect(pixels(sync.body.output.images[0].b64_json) === pixels(done.output.images[0].b64_json)).toBe(true);
    // A request that does not validate is a job that FAILED, as RunPod reports it.
    const bad = await post('/runsync', {input: {prompt: 'x', width: 7}});
    expect(bad.status).toBe(200);
    expect(bad.body).toEqual({id: expect.any(String), status: 'FAILED', error: expect.stringMatching(/^width: /)});
  }, 60_000);
});

describe('queue, disconnects, worker crashes', () => {
  it('answers 429 with Retry-After when the queue is full', async () => {
    const running = await post('/v1/jobs', {id: 'q-running', input: LONG});
    await until('q-running running', async () => (await get('/v1/jobs/q-running')).body.status === 'running');
    const waiting = await post('/v1/jobs', {id: 'q-waiting', input: {prompt: 'wait', width: 64, height: 64, steps: 2}});
    expect(waiting.status).toBe(202);
    const over = await post('/v1/generate', {prompt: 'one too many', width: 64, height: 64, steps: 2});
    expect(over.status).toBe(429);
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(over.body.error.type).toBe('queue_full');
    expect(await metric('mgen_queue_depth')).toBe(1);
    await fetch(`${s.url}/v1/jobs/q-waiting`, {method: 'DELETE', headers: auth});
    await fetch(`${s.url}/v1/jobs/${running.body.id}`, {method: 'DELETE', headers: auth});
  }, 60_000);

  it('cancels the job of a client that disconnects from a sync request', async () => {
    const before = await metric('mgen_jobs_total{status="cancelled"}');
    const ctl = new AbortController();
    await idle();
    const req = post('/v1/generate', LONG, auth, ctl.signal).then(() => 'answered', (e: {name?: string}) => e.name);
    await until('the sync job running', async () => (await metric('mgen_jobs_running')) === 1);
    ctl.abort();
    expect(await req).toBe('AbortError');
    await until('the job cancelled', async () => (await metricsText()).includes(`mgen_jobs_total{status="cancelled"} ${before + 1}`), 30_000);
    const after = await post('/v1/generate', {prompt: 'after', width: 64, height: 64, steps: 2});
    expect(after.status).toBe(200);
  }, 60_000);

  it('fails the running job with 503 when the worker dies, restarts it, and serves the next job', async () => {
    await idle();
    const restarts = await metric('mgen_worker_restarts_total');
    const pid = s.engine.worker.pid!;
    const req = post('/v1/generate', LONG);
    await until('the job running', async () => (await metric('mgen_jobs_running')) === 1);
    process.kill(pid, 'SIGKILL');
    const r = await req;
    expect(r.status).toBe(503);
    expect(r.body.error.type).toBe('worker_died');
    await until('ready again', async () => (await get('/readyz')).status === 200, 120_000);
    expect(s.engine.worker.pid).not.toBe(pid);
    const next = await post('/v1/generate', {prompt: 'after the crash', width: 64, height: 64, steps: 2});
    expect(next.status).toBe(200);
    expect(await metric('mgen_worker_restarts_total')).toBe(restarts + 1);
  }, 180_000);

  it('counts requests by route and status in /metrics', async () => {
    const t = await metricsText();
    expect(t).toMatch(/mgen_http_requests_total\{route="\/v1\/generate",method="POST",status="200"\} \d+/);
    expect(t).toMatch(/mgen_http_requests_total\{route="\/v1\/generate",method="POST",status="400"\} \d+/);
    expect(t).toMatch(/mgen_http_requests_total\{route="\/v1\/generate",method="POST",status="429"\} 1/);
    expect(t).toMatch(/mgen_http_request_duration_seconds_bucket\{route="\/v1\/generate",le="\+Inf"\} \d+/);
    expect(await metric('mgen_denoise_steps_total')).toBeGreaterThan(0);
    expect(await metric('mgen_denoise_steps_per_second')).toBeGreaterThan(0);
  });
});
