// The A1111 routes through the real app, engine and queue around a session without Python: what reaches the
// session (prompt without tags, LoRAs, scheduler + config, images, clip skip) and the 400s that name a field.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {mkdirSync} from 'node:fs';
import {join} from 'node:path';
import {RequestModelPolicy} from '../../../src/backends/request-model-policy.js';
import {startServe, type RunningServe} from '../../../src/backends/server/server.js';
import type {SessionGenerateInput} from '../../../src/backends/server/session-port.js';
import {kohyaSd} from '../../helpers/fixtures/adapters.js';
import {writeSafetensors} from '../../helpers/safetensors-writer.js';
import {useTmpDir} from '../../helpers/tmp.js';
import {fakeSession} from './fake-session.js';

const tmp = useTmpDir('mgen-a1111-');
const env = (): NodeJS.ProcessEnv => ({MGEN_HOME: join(tmp.dir, 'home'), HF_HUB_CACHE: join(tmp.dir, 'hub'), HF_HUB_OFFLINE: '1'});
let serve: RunningServe;
let models = '';
const inputs: SessionGenerateInput[] = [];

async function post(body: unknown, path = '/sdapi/v1/txt2img'): Promise<{status: number; body: any}> {
  const r = await fetch(`${serve.url}${path}`, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify(body)});
  return {status: r.status, body: await r.json()};
}
/** Posts and returns what the session was asked to generate. */
async function sent(body: Record<string, unknown>): Promise<SessionGenerateInput> {
  inputs.length = 0;
  const r = await post(body);
  expect(r.status).toBe(200);
  expect(inputs).toHaveLength(1);
  return inputs[0]!;
}
async function refused(body: Record<string, unknown>, param: string, message?: RegExp): Promise<void> {
  inputs.length = 0;
  const r = await post(body);
  expect(r.status).toBe(400);
  expect(r.body.error.param).toBe(param);
  if (message) expect(r.body.error.message).toMatch(message);
  expect(inputs).toEqual([]);
}

beforeAll(async () => {
  models = join(tmp.dir, 'models');
  mkdirSync(models, {recursive: true});
  await writeSafetensors(join(models, 'style.safetensors'), kohyaSd('sd1'), {sparse: true});
  await writeSafetensors(join(models, 'other.safetensors'), kohyaSd('sd1'), {sparse: true});
  const session = fakeSession(env());
  // The pipeline's __call__ parameters as the worker's schema lists them (SD pipelines take clip_skip and eta).
  session.schema = async () => ({type: 'object', properties: {clip_skip: {type: 'integer'}, eta: {type: 'number'}}});
  const generate = session.generate.bind(session);
  session.generate = async (input, opts) => {
    inputs.push(input);
    return generate(input, opts);
  };
  serve = await startServe({
    modelId: 'fake', report: {id: 'fake'}, session, reopen: async () => session, host: '127.0.0.1', port: 0, home: null,
    policy: new RequestModelPolicy({modelDirs: [models], env: env()}), env: env(), log: () => undefined,
  });
}, 60_000);
afterAll(async () => {
  await serve?.close(100);
});

describe('A1111 prompt LoRA tags', () => {
  it('takes <lora:name:weight> and <lyco:...> out of prompt and negative prompt and applies them as LoRAs', async () => {
    const input = await sent({prompt: 'a cube <lora:style:0.7>, red', negative_prompt: 'blur <lyco:other>'});
    expect(input.prompt).toBe('a cube , red');
    expect(input.negativePrompt).toBe('blur');
    expect(input.loras).toEqual([{id: join(models, 'style.safetensors'), scale: 0.7}, {id: join(models, 'other.safetensors'), scale: 1}]);
    const r = await post({prompt: 'a cube <lora:style:0.7>'});
    expect(JSON.parse(r.body.info).prompt).toBe('a cube <lora:style:0.7>');
  });

  it('accepts the native loras field beside the tags', async () => {
    const input = await sent({prompt: 'x <lora:style:0.5>', loras: [{name: 'other.safetensors', scale: 0.25}]});
    expect(input.loras).toEqual([{id: join(models, 'other.safetensors'), scale: 0.25}, {id: join(models, 'style.safetensors'), scale: 0.5}]);
  });

  it('answers an unresolved tag with a 400 naming it, never ignoring it', async () => {
    await refused({prompt: 'a cube <lora:nosuchlora:1>'}, 'prompt', /<lora:nosuchlora> is not a cached LoRA/);
    await refused({prompt: 'x', negative_prompt: '<lora:missing>'}, 'negative_prompt', /missing/);
    await refused({prompt: '<lora:style:0.5:0.2>'}, 'prompt', /separate text-encoder/);
    await refused({prompt: '<hypernet:foo:1>'}, 'prompt', /hypernetworks/);
  });

  it('sends names with a scheme through the same policy as the native field (403 for a URL)', async () => {
    const r = await post({prompt: '<lora:https://example.org/x.safetensors:1>'});
    expect(r.status).toBe(403);
    expect(r.body.error).toMatchObject({type: 'model_not_allowed', param: 'prompt', message: expect.stringMatching(/^prompt: this server does not fetch models from URLs/)});
  });
});

describe('A1111 prompt tags on the native route', () => {
  it('takes <lora:> tags out as request LoRAs (default a1111 syntax), and leaves them with prompt_syntax plain', async () => {
    inputs.length = 0;
    expect((await post({prompt: 'a cube <lora:style:0.7>'}, '/v1/generate')).status).toBe(200);
    expect(inputs[0]).toMatchObject({prompt: 'a cube', loras: [{id: join(models, 'style.safetensors'), scale: 0.7}]});
    inputs.length = 0;
    expect((await post({prompt: 'a cube <lora:style:0.7>', prompt_syntax: 'plain'}, '/v1/generate')).status).toBe(200);
    expect(inputs[0]).toMatchObject({prompt: 'a cube <lora:style:0.7>', promptSyntax: 'plain'});
    expect(inputs[0]!.loras ?? []).toEqual([]);
    const r = await post({prompt: 'a cube <lora:nosuchlora:1>'}, '/v1/generate');
    expect(r.status).toBe(400);
    expect(r.body.error.message).toMatch(/<lora:nosuchlora> is not a cached LoRA/);
  });
});

describe('A1111 samplers and schedule types', () => {
  it.each([
    ['DPM++ 2M Karras', undefined, 'DPMSolverMultistepScheduler', {use_karras_sigmas: true}, 'DPM++ 2M', 'Karras'],
    ['DPM++ 2M', 'Automatic', 'DPMSolverMultistepScheduler', {use_karras_sigmas: true}, 'DPM++ 2M', 'Karras'],
    ['DPM++ 2M', 'Exponential', 'DPMSolverMultistepScheduler', {use_exponential_sigmas: true}, 'DPM++ 2M', 'Exponential'],
    ['DPM++ 2M SDE', undefined, 'DPMSolverMultistepScheduler', {algorithm_type: 'sde-dpmsolver++', use_exponential_sigmas: true}, 'DPM++ 2M SDE', 'Exponential'],
    ['DPM++ 2M SDE Karras', undefined, 'DPMSolverMultistepScheduler', {algorithm_type: 'sde-dpmsolver++', use_karras_sigmas: true}, 'DPM++ 2M SDE', 'Karras'],
    ['DPM++ SDE Karras', undefined, 'DPMSolverSinglestepScheduler', {use_karras_sigmas: true}, 'DPM++ SDE', 'Karras'],
    ['Euler', 'SGM Uniform', 'EulerDiscreteScheduler', {timestep_spacing: 'trailing'}, 'Euler', 'SGM Uniform'],
    ['Euler a', undefined, 'EulerAncestralDiscreteScheduler', {}, 'Euler a', 'Automatic'],
  ])('%s with schedule type %s runs %s %j', async (sampler, scheduler, cls, config, name, type) => {
    inputs.length = 0;
    const r = await post({prompt: 'x', sampler_name: sampler, ...(scheduler ? {scheduler} : {})});
    expect(r.status).toBe(200);
    expect(inputs[0]).toMatchObject({scheduler: cls, schedulerConfig: config});
    expect(JSON.parse(r.body.info)).toMatchObject({sampler_name: name, scheduler: type});
  });

  it('refuses samplers and schedule types with no diffusers equivalent, naming the field', async () => {
    await refused({prompt: 'x', sampler_name: 'DPM++ 2S a'}, 'sampler_name', /DPM\+\+ 2S a/);
    await refused({prompt: 'x', sampler_name: 'DPM adaptive'}, 'sampler_name', /no diffusers equivalent/);
    await refused({prompt: 'x', sampler_name: 'Warp Drive'}, 'sampler_name', /unknown sampler/);
    await refused({prompt: 'x', sampler_index: 'Restart'}, 'sampler_index');
    await refused({prompt: 'x', sampler_name: 'Euler', scheduler: 'Align Your Steps'}, 'scheduler', /Align Your Steps/);
    await refused({prompt: 'x', sampler_name: 'Euler a', scheduler: 'Karras'}, 'scheduler', /cannot be used with sampler "Euler a"/);
    await refused({prompt: 'x', scheduler: 'Nope'}, 'scheduler', /unknown schedule type/);
  });

  it('lists the samplers and schedule types that run', async () => {
    const samplers = (await (await fetch(`${serve.url}/sdapi/v1/samplers`)).json()) as Array<{name: string}>;
    expect(samplers.map((s) => s.name)).toEqual(expect.arrayContaining(['DPM++ 2M', 'DPM++ 2M SDE', 'Euler a']));
    expect(samplers.map((s) => s.name)).not.toContain('DPM++ 2S a');
    const types = (await (await fetch(`${serve.url}/sdapi/v1/schedulers`)).json()) as Array<{label: string}>;
    expect(types.map((t) => t.label)).toEqual(expect.arrayContaining(['Automatic', 'Karras', 'Exponential', 'SGM Uniform']));
  });
});

describe('A1111 fields: honoured or refused by name', () => {
  it('makes n_iter batches of batch_size images, numbering seeds on', async () => {
    const input = await sent({prompt: 'x', batch_size: 2, n_iter: 3, seed: 5});
    expect(input).toMatchObject({numImages: 6, seed: 5});
    await refused({prompt: 'x', batch_size: 4, n_iter: 3}, 'n_iter', /12 images/);
  });

  it('maps CLIP_stop_at_last_layers to clip_skip and eta to the pipeline', async () => {
    expect((await sent({prompt: 'x', override_settings: {CLIP_stop_at_last_layers: 2}, eta: 0.5})).params).toEqual({clip_skip: 1, eta: 0.5});
    expect((await sent({prompt: 'x', override_settings: {CLIP_stop_at_last_layers: 1}})).params).toEqual({});
    await refused({prompt: 'x', override_settings: {sd_model_checkpoint: 'other'}}, 'override_settings.sd_model_checkpoint');
  });

  it('maps enable_hr and the hires fields to the hires request, and refuses upscalers it does not have', async () => {
    const base = {prompt: 'x', width: 64, height: 96, steps: 4};
    expect((await sent({...base, enable_hr: true, hr_scale: 2})).hires).toEqual({width: 128, height: 192, upscaler: 'latent', strength: 0.7});
    expect((await sent({
      ...base, enable_hr: true, hr_resize_x: 128, hr_upscaler: 'Latent (nearest)', hr_second_pass_steps: 3, denoising_strength: 0.5,
      hr_prompt: 'y', hr_negative_prompt: 'z', hr_sampler_name: 'DPM++ 2M', hr_scheduler: 'Karras',
    })).hires).toEqual({
      width: 128, height: 192, upscaler: 'latent-nearest', strength: 0.5, steps: 3, prompt: 'y', negative_prompt: 'z',
      scheduler: 'DPMSolverMultistepScheduler', scheduler_config: expect.objectContaining({use_karras_sigmas: true}),
    });
    expect((await sent({...base, enable_hr: true, hr_upscaler: 'None', hr_prompt: 'x'})).hires).toEqual({width: 128, height: 192, upscaler: 'lanczos', strength: 0.7});
    expect((await sent({...base, enable_hr: false, hr_scale: 2, hr_upscaler: 'R-ESRGAN 4x+'})).hires).toBeUndefined();
    await refused({...base, enable_hr: true, hr_upscaler: 'R-ESRGAN 4x+'}, 'hr_upscaler', /not an upscaler this server has/);
  });

  it('writes jpg / webp for override_settings.samples_format, at jpeg_quality', async () => {
    expect((await sent({prompt: 'x', override_settings: {samples_format: 'jpg'}})).imageFormat).toEqual({format: 'jpeg', quality: 80});
    expect((await sent({prompt: 'x', override_settings: {samples_format: 'webp'}})).imageFormat).toEqual({format: 'webp', quality: 80});
    expect((await sent({prompt: 'x', override_settings: {samples_format: 'png'}})).imageFormat).toBeUndefined();
    await refused({prompt: 'x', override_settings: {samples_format: 'gif'}}, 'override_settings.samples_format', /png, jpg or webp/);
  });

  it('refuses face restoration, scripts and unknown fields, and accepts their defaults and empty prompts', async () => {
    await refused({prompt: 'x', restore_faces: true}, 'restore_faces', /face restoration/);
    await refused({prompt: 'x', styles: ['cinematic']}, 'styles');
    await refused({prompt: 'x', bogus_field: 1}, 'bogus_field', /not an AUTOMATIC1111 API field/);
    await refused({prompt: 'x', init_images: ['AAAA']}, 'init_images', /img2img/);
    const input = await sent({
      prompt: '', enable_hr: false, hr_scale: 2, restore_faces: false, tiling: false, styles: [], subseed_strength: 0,
      override_settings: {}, alwayson_scripts: {}, script_args: [], send_images: true, save_images: false,
    });
    expect(input.prompt).toBe('');
  });
});
