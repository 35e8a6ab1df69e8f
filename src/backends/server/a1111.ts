// The AUTOMATIC1111 dialect (POST /sdapi/v1/txt2img, /sdapi/v1/img2img): the common subset of fields, mapped
// to the native request; other A1111 fields are accepted and ignored (A1111 clients send many).
import {HttpError} from './http-error.js';
import {A1111_SAMPLERS, samplerForScheduler, schedulerForSampler} from './samplers.js';
import type {Caps, NativeRequest, NativeResponse} from './types.js';

export interface A1111Request {
  prompt?: string;
  negative_prompt?: string;
  steps?: number;
  cfg_scale?: number;
  width?: number;
  height?: number;
  seed?: number;
  batch_size?: number;
  n_iter?: number;
  sampler_name?: string | null;
  sampler_index?: string | null;
  init_images?: string[];
  mask?: string | null;
  denoising_strength?: number;
  [other: string]: unknown;
}

export function a1111RequestSchema(caps: Caps, img2img: boolean): Record<string, unknown> {
  const size = {type: 'integer', minimum: 64, maximum: caps.maxSize, multipleOf: 8};
  return {
    type: 'object',
    required: img2img ? ['init_images'] : [],
    properties: {
      prompt: {type: 'string', maxLength: 20000},
      negative_prompt: {type: ['string', 'null'], maxLength: 20000},
      steps: {type: 'integer', minimum: 1, maximum: caps.maxSteps},
      cfg_scale: {type: 'number', minimum: 0, maximum: 100},
      width: size,
      height: size,
      seed: {type: 'integer', minimum: -1, maximum: 4294967295},
      batch_size: {type: 'integer', minimum: 1, maximum: caps.maxImages},
      n_iter: {enum: [1]},
      sampler_name: {type: ['string', 'null']},
      sampler_index: {type: ['string', 'null']},
      ...(img2img
        ? {
            init_images: {type: 'array', minItems: 1, maxItems: 1, items: {type: 'string'}},
            mask: {type: ['string', 'null']},
            denoising_strength: {type: 'number', minimum: 0, maximum: 1},
          }
        : {}),
    },
  };
}

export function a1111ToNative(body: A1111Request, img2img: boolean): NativeRequest {
  const native: NativeRequest = {prompt: body.prompt ?? '', response_format: 'b64_json'};
  if (!native.prompt) throw new HttpError(400, 'invalid_request_error', 'prompt: must not be empty', 'prompt');
  if (body.negative_prompt) native.negative_prompt = body.negative_prompt;
  native.steps = body.steps ?? 20;
  native.guidance_scale = body.cfg_scale ?? 7;
  native.width = body.width ?? 512;
  native.height = body.height ?? 512;
  if (body.seed !== undefined && body.seed >= 0) native.seed = body.seed;
  native.num_images = body.batch_size ?? 1;
  const sampler = body.sampler_name ?? body.sampler_index;
  if (sampler) {
    const choice = schedulerForSampler(sampler);
    const field = body.sampler_name ? 'sampler_name' : 'sampler_index';
    if (!choice) {
      throw new HttpError(400, 'invalid_request_error', `${field}: unknown sampler "${sampler}" (known: ${A1111_SAMPLERS.join(', ')})`, field);
    }
    native.scheduler = choice.scheduler;
  }
  if (img2img) {
    native.image = body.init_images?.[0] ?? null;
    if (body.mask) native.mask = body.mask;
    native.strength = body.denoising_strength ?? 0.75;
  }
  return native;
}

/** A1111's answer: base64 images, the request echoed as `parameters`, and `info` as a JSON string. */
export function nativeToA1111(
  res: NativeResponse,
  request: A1111Request,
  native: NativeRequest,
): {images: string[]; parameters: Record<string, unknown>; info: string} {
  const seeds = res.images.map((i) => i.seed);
  const first = res.images[0];
  const scheduler = (res.metadata.scheduler as string | undefined) ?? native.scheduler ?? null;
  const info = {
    prompt: native.prompt,
    all_prompts: res.images.map(() => native.prompt),
    negative_prompt: native.negative_prompt ?? '',
    all_negative_prompts: res.images.map(() => native.negative_prompt ?? ''),
    seed: seeds[0] ?? null,
    all_seeds: seeds,
    subseed: -1,
    all_subseeds: seeds.map(() => -1),
    width: first?.width ?? native.width,
    height: first?.height ?? native.height,
    sampler_name: request.sampler_name ?? samplerForScheduler(scheduler) ?? scheduler,
    cfg_scale: native.guidance_scale,
    steps: native.steps,
    batch_size: res.images.length,
    sd_model_name: res.metadata.model ?? null,
    denoising_strength: native.strength ?? null,
    infotexts: (res.metadata.infotexts as string[] | undefined) ?? [],
    job_timestamp: new Date().toISOString(),
  };
  return {images: res.images.map((i) => i.b64_json ?? ''), parameters: request, info: JSON.stringify(info)};
}
