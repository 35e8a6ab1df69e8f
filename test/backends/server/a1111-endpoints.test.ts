// The A1111 read and control endpoints through the real app, engine and queue around a session without Python:
// A1111's shapes, /options read and written (what maps, what is read-only, what is unknown), /progress while a job
// runs, /interrupt stopping it, /png-info's parse, `info` with every Processed.js key, and --api-auth Basic.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {join} from 'node:path';
import {startServe, type RunningServe} from '../../../src/backends/server/server.js';
import {parseApiAuth} from '../../../src/backends/server/auth.js';
import {previewCount} from '../../../src/backends/server/a1111-control.js';
import {upscalerList} from '../../../src/backends/server/a1111-read.js';
import {buildPng} from '../../helpers/png.js';
import {useTmpDir} from '../../helpers/tmp.js';
import {fakeSession, type FakeSession} from './fake-session.js';

const tmp = useTmpDir('mgen-a1111-endpoints-');
const env = (): NodeJS.ProcessEnv => ({MGEN_HOME: join(tmp.dir, 'home'), HF_HUB_CACHE: join(tmp.dir, 'hub'), HF_HUB_OFFLINE: '1'});
let serve: RunningServe;
let session: FakeSession;
const TOKEN = 'bearer-token-123';
const basic = (user: string, pass: string): string => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
const AUTH = {authorization: basic('alice', 'wonder:land')};

async function call(path: string, body?: unknown, headers: Record<string, string> = AUTH): Promise<{status: number; body: any}> {
  const r = await fetch(`${serve.url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: {...headers, ...(body === undefined ? {} : {'content-type': 'application/json'})},
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return {status: r.status, body: text ? JSON.parse(text) : undefined};
}

beforeAll(async () => {
  session = fakeSession(env());
  session.schema = async () => ({type: 'object', properties: {clip_skip: {type: 'integer'}, eta: {type: 'number'}}});
  // A single-file checkpoint: A1111 lists it by file name and short hash.
  session.checkpointInfo = async () => ({id: 'civitai:1@2', pinnedId: 'civitai:1@2', file: '/models/dream.safetensors', sha256: 'ab'.repeat(32), path: '/models/dream.safetensors'});
  serve = await startServe({
    modelId: 'civitai:1@2', report: {}, session, reopen: async () => session, host: '127.0.0.1', port: 0, home: null, env: env(),
    token: TOKEN, apiAuth: parseApiAuth('alice:wonder:land'), log: () => undefined,
  });
}, 60_000);
afterAll(async () => {
  await serve?.close(100);
});

describe('--api-auth', () => {
  it('takes HTTP Basic credentials and the token as a Basic password beside the bearer token', async () => {
    expect((await call('/sdapi/v1/samplers', undefined, {})).status).toBe(401);
    expect((await call('/sdapi/v1/samplers', undefined, {authorization: basic('alice', 'wrong')})).status).toBe(401);
    expect((await call('/sdapi/v1/samplers', undefined, {authorization: basic('bob', 'wonder:land')})).status).toBe(401);
    expect((await call('/sdapi/v1/samplers')).status).toBe(200);
    expect((await call('/sdapi/v1/samplers', undefined, {authorization: basic('anyone', TOKEN)})).status).toBe(200);
    expect((await call('/sdapi/v1/samplers', undefined, {authorization: `Bearer ${TOKEN}`})).status).toBe(200);
    const r = await fetch(`${serve.url}/sdapi/v1/options`);
    expect(r.headers.get('www-authenticate')).toMatch(/Basic/);
  });
});

describe('read endpoints', () => {
  it('lists the loaded single-file checkpoint as A1111 does', async () => {
    const r = await call('/sdapi/v1/sd-models');
    expect(r.body).toEqual([{title: 'dream.safetensors [abababab]'.replace('abababab', 'ab'.repeat(5)), model_name: 'dream', hash: 'ab'.repeat(5), sha256: 'ab'.repeat(32), filename: '/models/dream.safetensors', config: null}]);
  });

  it('names a loaded upscaler by its architecture and native scale, as detection read them', () => {
    const list = upscalerList({name: '4x-hat', path: '/m/4x-hat.safetensors', architecture: 'hat', scale: 2});
    expect(list.at(-1)).toEqual({name: '4x-hat', model_name: 'HAT', model_path: '/m/4x-hat.safetensors', model_url: null, scale: 2});
    expect(upscalerList({name: 'x', path: '/m/x.pth'}).at(-1)).toMatchObject({model_name: 'ESRGAN', scale: 4});
  });

  it('answers the list endpoints in A1111 shapes', async () => {
    expect((await call('/sdapi/v1/scripts')).body).toEqual({txt2img: [], img2img: []});
    expect((await call('/sdapi/v1/upscalers')).body).toEqual(['None', 'Lanczos', 'Nearest'].map((name) => ({name, model_name: null, model_path: null, model_url: null, scale: 4})));
    expect((await call('/sdapi/v1/sd-vae')).body).toEqual([]);
    expect((await call('/sdapi/v1/embeddings')).body).toEqual({loaded: {}, skipped: {}});
    expect(Array.isArray((await call('/sdapi/v1/loras')).body)).toBe(true);
    const flags = (await call('/sdapi/v1/cmd-flags')).body;
    expect(flags).toMatchObject({api: true, nowebui: true, ckpt: 'civitai:1@2', api_auth: '(set)'});
    expect(JSON.stringify(flags)).not.toContain('wonder');
  });

  it('refuses extras (upscaling) in A1111 error shape, naming the missing upscaler support', async () => {
    const r = await call('/sdapi/v1/extra-single-image', {image: buildPng(8, 8).toString('base64'), upscaler_1: 'R-ESRGAN 4x+'});
    expect(r.status).toBe(501);
    expect(r.body).toEqual({error: 'HTTPException', detail: expect.stringMatching(/upscal/), body: '', errors: expect.stringMatching(/upscal/)});
  });

  it('parses a PNG infotext as A1111 png-info does', async () => {
    const text = 'a cat <lora:style:0.8>\nNegative prompt: dog\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 5, Size: 512x768, Model: "org/x@abc", Lora hashes: "style: 0123456789ab"';
    const png = buildPng(8, 8, [{type: 'tEXt', keyword: 'parameters', text}, {type: 'tEXt', keyword: 'mgen', text: '{}'}]);
    const r = await call('/sdapi/v1/png-info', {image: png.toString('base64')});
    expect(r.status).toBe(200);
    expect(r.body.info).toBe(text);
    expect(r.body.items).toEqual({mgen: '{}'});
    expect(r.body.parameters).toMatchObject({
      Prompt: 'a cat <lora:style:0.8>', 'Negative prompt': 'dog', Steps: '20', Sampler: 'Euler a', 'Size-1': '512', 'Size-2': '768',
      Model: 'org/x@abc', 'Lora hashes': 'style: 0123456789ab', 'Clip skip': '1',
    });
  });
});

describe('/options', () => {
  it('reads the settings that map and writes CLIP_stop_at_last_layers, applied to later requests', async () => {
    const o = (await call('/sdapi/v1/options')).body;
    expect(o).toMatchObject({sd_model_checkpoint: `dream.safetensors [${'ab'.repeat(5)}]`, CLIP_stop_at_last_layers: 1, samples_format: 'png'});
    const w = await call('/sdapi/v1/options', {CLIP_stop_at_last_layers: 2});
    expect(w.status).toBe(200);
    expect(w.body).toBeNull();
    expect((await call('/sdapi/v1/options')).body.CLIP_stop_at_last_layers).toBe(2);
    const sent: unknown[] = [];
    const gen = session.generate.bind(session);
    session.generate = async (input, opts) => {
      sent.push(input.params?.clip_skip);
      return gen(input, opts);
    };
    expect((await call('/sdapi/v1/txt2img', {prompt: 'x', steps: 1, width: 64, height: 64})).status).toBe(200);
    expect(sent).toEqual([1]);
    session.generate = gen;
    expect((await call('/sdapi/v1/options', {CLIP_stop_at_last_layers: 1})).status).toBe(200);
  });

  it('turns live previews on and off and sets their interval: partial images asked of the worker per image', async () => {
    expect((await call('/sdapi/v1/options')).body).toMatchObject({live_previews_enable: true, show_progress_every_n_steps: 10});
    expect((await call('/sdapi/v1/options', {live_previews_enable: false, show_progress_every_n_steps: 5})).status).toBe(200);
    expect((await call('/sdapi/v1/options')).body).toMatchObject({live_previews_enable: false, show_progress_every_n_steps: 5});
    expect((await call('/sdapi/v1/options', {live_previews_enable: 'yes'})).body.detail).toMatch(/live_previews_enable: must be true or false/);
    expect((await call('/sdapi/v1/options', {live_previews_enable: true, show_progress_every_n_steps: 10})).status).toBe(200);
    const on = {clipStop: 1, livePreviews: true, previewEvery: 10, samplesFormat: 'png' as const, jpegQuality: 80};
    expect([previewCount(on, 5), previewCount(on, 20), previewCount(on, 150), previewCount({...on, previewEvery: -1}, 150), previewCount({...on, livePreviews: false}, 150)]).toEqual([0, 2, 8, 0, 0]);
  });

  it('accepts the loaded model and the values it has, and refuses the rest naming the setting', async () => {
    const before = (await call('/sdapi/v1/options')).body;
    expect((await call('/sdapi/v1/options', before)).status).toBe(200);
    expect((await call('/sdapi/v1/options', {sd_model_checkpoint: before.sd_model_checkpoint})).status).toBe(200);
    const other = await call('/sdapi/v1/options', {sd_model_checkpoint: 'v1-5-pruned.safetensors'});
    expect(other.status).toBe(400);
    expect(other.body.detail).toMatch(/sd_model_checkpoint.*not found.*one model per mgen serve/);
    expect((await call('/sdapi/v1/options', {samples_format: 'gif'})).body.detail).toMatch(/samples_format.*png, jpg or webp/);
    expect((await call('/sdapi/v1/options', {samples_format: 'JPEG', jpeg_quality: 70})).status).toBe(200);
    expect((await call('/sdapi/v1/options')).body).toMatchObject({samples_format: 'jpg', jpeg_quality: 70});
    expect((await call('/sdapi/v1/options', {samples_format: 'png', jpeg_quality: 80})).status).toBe(200);
    expect((await call('/sdapi/v1/options', {samples_save: true})).body.detail).toMatch(/samples_save: fixed at false/);
    const unknown = await call('/sdapi/v1/options', {CLIP_stop_at_last_layers: 3, not_a_setting: 1});
    expect(unknown.status).toBe(400);
    expect(unknown.body.detail).toMatch(/^not_a_setting: not a setting this server has/);
    // All or nothing: the refused POST changed nothing.
    expect((await call('/sdapi/v1/options')).body.CLIP_stop_at_last_layers).toBe(1);
  });

  it('takes override_settings.sd_model_checkpoint naming the loaded model and refuses another', async () => {
    const ok = await call('/sdapi/v1/txt2img', {prompt: 'x', steps: 1, width: 64, height: 64, override_settings: {sd_model_checkpoint: 'dream'}});
    expect(ok.status).toBe(200);
    const other = await call('/sdapi/v1/txt2img', {prompt: 'x', steps: 1, width: 64, height: 64, override_settings: {sd_model_checkpoint: 'other'}});
    expect(other.status).toBe(400);
    expect(other.body.error.param).toBe('override_settings.sd_model_checkpoint');
  });
});

describe('/progress, /interrupt, /skip', () => {
  it('is idle as A1111 reports it (what webuiapi.util_wait_for_ready waits for)', async () => {
    const p = (await call('/sdapi/v1/progress?skip_current_image=false')).body;
    expect(p).toMatchObject({progress: 0, eta_relative: 0, current_image: null, textinfo: null});
    expect(p.state).toMatchObject({job_count: 0, job_no: 0, sampling_step: 0, sampling_steps: 0, interrupted: false, skipped: false});
    expect(p.state.job_timestamp).toMatch(/^\d{14}$/);
  });

  it('reports the running job, and /interrupt stops it', async () => {
    session.hold = true;
    const running = call('/sdapi/v1/txt2img', {prompt: 'x', steps: 4, width: 64, height: 64, batch_size: 2});
    let p: any;
    for (let i = 0; i < 200; i++) {
      p = (await call('/sdapi/v1/progress')).body;
      if (p.state.job_count > 0) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(p.state.job_count).toBe(2);
    expect(p.progress).toBeGreaterThan(0);
    expect(p.current_task).toEqual(expect.any(String));
    expect((await call('/sdapi/v1/interrupt', {})).body).toEqual({});
    const r = await running;
    expect(r.status).toBe(499);
    session.hold = false;
    expect((await call('/sdapi/v1/progress')).body.state.job_count).toBe(0);
    expect((await call('/sdapi/v1/skip', {})).status).toBe(200);
  });
});

describe('info', () => {
  it('has every key A1111 Processed.js() writes, infotexts read from the images', async () => {
    const r = await call('/sdapi/v1/txt2img', {prompt: 'x', steps: 1, width: 64, height: 64});
    const info = JSON.parse(r.body.info);
    for (const k of [
      'prompt', 'all_prompts', 'negative_prompt', 'all_negative_prompts', 'seed', 'all_seeds', 'subseed', 'all_subseeds', 'subseed_strength',
      'width', 'height', 'sampler_name', 'cfg_scale', 'steps', 'batch_size', 'restore_faces', 'face_restoration_model', 'sd_model_name',
      'sd_model_hash', 'sd_vae_name', 'sd_vae_hash', 'seed_resize_from_w', 'seed_resize_from_h', 'denoising_strength',
      'extra_generation_params', 'index_of_first_image', 'infotexts', 'styles', 'job_timestamp', 'clip_skip',
      'is_using_inpainting_conditioning', 'version',
    ]) {
      expect(info).toHaveProperty(k);
    }
    expect(info.infotexts).toHaveLength(1);
    expect(info.job_timestamp).toMatch(/^\d{14}$/);
  });
});
