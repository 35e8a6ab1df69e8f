// The AUTOMATIC1111 dialect (POST /sdapi/v1/txt2img, /sdapi/v1/img2img) mapped to the native request. Every
// field A1111 defines is either honoured (prompt tags, sampler + schedule type, n_iter, clip skip, ...), a no-op
// here as in a plain A1111 call (saving options; hires fields while enable_hr is false), or refused with a 400
// naming it when the request asks for something this server does not do. Fields A1111 does not define are
// refused too, except `loras` (the native field).
import {MgenError} from '../../errors.js';
import {parsePromptTags, resolvePromptLora} from '../prompt-tags.js';
import {ModelNotAllowedError, type RequestModelPolicy} from '../request-model-policy.js';
import {HttpError} from './http-error.js';
import {LORAS_SCHEMA} from './native.js';
import {chooseSampler, describeScheduler, SamplerRefusal, type SamplerChoice, type SchedulerConfig} from './samplers.js';
import type {Caps, NativeRequest, NativeResponse} from './types.js';
import {parseA1111Parameters} from '../a1111-parameters.js';
import {readPngInfo} from '../png-metadata.js';
import {A1111_HIRES_UPSCALERS, type HiresRequest} from '../hires.js';
import {jobTimestamp, samplesFormat, type A1111Settings} from './a1111-control.js';
import {readExifUserComment} from '../exif-comment.js';

export interface A1111Request {
  prompt?: string;
  negative_prompt?: string | null;
  steps?: number;
  cfg_scale?: number;
  width?: number;
  height?: number;
  seed?: number;
  batch_size?: number;
  n_iter?: number;
  sampler_name?: string | null;
  sampler_index?: string | null;
  scheduler?: string | null;
  init_images?: string[];
  mask?: string | null;
  denoising_strength?: number;
  override_settings?: Record<string, unknown> | null;
  loras?: Array<{name: string; scale?: number}>;
  eta?: number | null;
  [other: string]: unknown;
}

/** What the mapping needs from the server: limits, the pipeline's call parameters, where LoRA names resolve. */
export interface A1111Context {
  caps: Caps;
  /** The loaded pipeline's __call__ parameters (from its schema); null when unknown. */
  pipelineParams: ReadonlySet<string> | null;
  env: NodeJS.ProcessEnv;
  policy?: RequestModelPolicy;
  /** Server-wide settings from POST /sdapi/v1/options (CLIP_stop_at_last_layers). */
  settings?: A1111Settings;
  /** Whether an sd_model_checkpoint value names the loaded model. */
  namesModel?: (name: string) => boolean;
}

/** A1111 fields that change nothing here whatever their value (saving, hires-fix details, k-diffusion knobs). */
const NO_OP = new Set([
  'sampler_index', 'do_not_save_samples', 'do_not_save_grid', 'send_images', 'save_images', 'override_settings_restore_afterwards',
  'comments', 'force_task_id', 'infotext', 'firstphase_width', 'firstphase_height', 's_min_uncond', 's_churn', 's_tmax', 's_tmin', 's_noise', 'seed_resize_from_h',
  'seed_resize_from_w', 'subseed', 'refiner_switch_at', 'firstpass_image', 'resize_mode', 'include_init_images',
  'inpainting_fill', 'inpaint_full_res', 'inpaint_full_res_padding', 'inpainting_mask_invert', 'mask_blur',
  'mask_blur_x', 'mask_blur_y', 'mask_round', 'initial_noise_multiplier', 'latent_mask', 'image_cfg_scale', 'use_async',
  'hr_additional_modules',
]);

/** Hires-fix fields: read when enable_hr is true, ignored otherwise (as A1111 does). */
const HIRES_FIELDS = new Set([
  'enable_hr', 'hr_scale', 'hr_upscaler', 'hr_second_pass_steps', 'hr_resize_x', 'hr_resize_y', 'hr_checkpoint_name',
  'hr_sampler_name', 'hr_scheduler', 'hr_prompt', 'hr_negative_prompt',
]);

/** A1111 fields honoured only at their default: anything else is a feature this server does not have (400). */
const AT_DEFAULT: Record<string, (v: unknown) => boolean> = {
  restore_faces: (v) => !v,
  tiling: (v) => !v,
  disable_extra_networks: (v) => !v,
  styles: (v) => v == null || (Array.isArray(v) && v.length === 0),
  subseed_strength: (v) => v == null || v === 0,
  script_name: (v) => v == null || v === '',
  script_args: (v) => v == null || (Array.isArray(v) && v.length === 0),
  alwayson_scripts: (v) => v == null || (typeof v === 'object' && Object.keys(v as object).length === 0),
  refiner_checkpoint: (v) => v == null || v === '',
};

const HONOURED = new Set([
  'prompt', 'negative_prompt', 'steps', 'cfg_scale', 'width', 'height', 'seed', 'batch_size', 'n_iter', 'sampler_name',
  'scheduler', 'override_settings', 'loras', 'eta', 'denoising_strength',
]);
const IMG2IMG_ONLY = new Set(['init_images', 'mask']);

/** override_settings keys this server applies or accepts at the value it has (the rest are refused). */
const OVERRIDES = new Set(['CLIP_stop_at_last_layers', 'sd_model_checkpoint', 'samples_format']);

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
      n_iter: {type: 'integer', minimum: 1, maximum: caps.maxImages},
      sampler_name: {type: ['string', 'null'], maxLength: 100},
      sampler_index: {type: ['string', 'null'], maxLength: 100},
      scheduler: {type: ['string', 'null'], maxLength: 100},
      eta: {type: ['number', 'null']},
      override_settings: {type: ['object', 'null']},
      loras: LORAS_SCHEMA,
      ...(img2img
        ? {}
        : {
            enable_hr: {type: ['boolean', 'null']},
            hr_scale: {type: ['number', 'null'], exclusiveMinimum: 0, maximum: 16},
            hr_resize_x: {type: ['integer', 'null'], minimum: 0, maximum: caps.maxSize},
            hr_resize_y: {type: ['integer', 'null'], minimum: 0, maximum: caps.maxSize},
            hr_second_pass_steps: {type: ['integer', 'null'], minimum: 0, maximum: caps.maxSteps},
            hr_upscaler: {type: ['string', 'null'], maxLength: 100},
            hr_prompt: {type: ['string', 'null'], maxLength: 20000},
            hr_negative_prompt: {type: ['string', 'null'], maxLength: 20000},
            hr_sampler_name: {type: ['string', 'null'], maxLength: 100},
            hr_scheduler: {type: ['string', 'null'], maxLength: 100},
            hr_checkpoint_name: {type: ['string', 'null'], maxLength: 1000},
            denoising_strength: {type: ['number', 'null'], minimum: 0, maximum: 1},
          }),
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

const bad = (field: string, message: string): HttpError => new HttpError(400, 'invalid_request_error', `${field}: ${message}`, field);

/** Refuses fields A1111 does not define and A1111 features asked for that this server does not do. */
function checkFields(body: A1111Request, img2img: boolean): void {
  for (const [k, v] of Object.entries(body)) {
    if (HONOURED.has(k) || NO_OP.has(k) || (!img2img && HIRES_FIELDS.has(k)) || (img2img && IMG2IMG_ONLY.has(k))) continue;
    const atDefault = AT_DEFAULT[k];
    if (atDefault) {
      if (!atDefault(v)) {
        const why = k === 'restore_faces' ? 'face restoration is not supported by this server' : 'not supported by this server';
        throw bad(k, why);
      }
      continue;
    }
    throw bad(k, img2img || !IMG2IMG_ONLY.has(k) ? 'not an AUTOMATIC1111 API field this server knows' : 'only for /sdapi/v1/img2img');
  }
}

/** Sampler + schedule type -> the scheduler to run, or a 400 naming the field. */
function samplerChoice(body: A1111Request): SamplerChoice | null {
  const samplerField = body.sampler_name ? 'sampler_name' : 'sampler_index';
  const sampler = body.sampler_name || body.sampler_index || null;
  try {
    return chooseSampler(sampler, body.scheduler ?? null);
  } catch (err) {
    if (err instanceof SamplerRefusal) throw bad(err.field === 'sampler' ? samplerField : 'scheduler', err.message);
    throw err;
  }
}

/** enable_hr's fields -> the native `hires` request (A1111's hires fix: a second img2img pass, upscaled). */
function hiresOf(body: A1111Request, native: NativeRequest, sampler: SamplerChoice | null, ctx: A1111Context): HiresRequest {
  const name = typeof body.hr_upscaler === 'string' && body.hr_upscaler ? body.hr_upscaler : 'Latent';
  const upscaler = A1111_HIRES_UPSCALERS[name];
  if (!upscaler) throw bad('hr_upscaler', `${JSON.stringify(name)} is not an upscaler this server has (${Object.keys(A1111_HIRES_UPSCALERS).join(', ')})`);
  const ckpt = body.hr_checkpoint_name;
  if (typeof ckpt === 'string' && ckpt && ckpt !== 'Use same checkpoint' && !(ctx.namesModel?.(ckpt) ?? false)) {
    throw bad('hr_checkpoint_name', `${JSON.stringify(ckpt)} is not the model this server holds (one model per mgen serve)`);
  }
  const w = native.width!;
  const h = native.height!;
  const rx = Number(body.hr_resize_x ?? 0);
  const ry = Number(body.hr_resize_y ?? 0);
  const scale = Number(body.hr_scale ?? 2);
  // A1111: neither resize set -> scale; one set -> the other keeps the aspect ratio; both -> that size.
  const width = rx === 0 && ry === 0 ? Math.trunc(w * scale) : rx === 0 ? Math.trunc((ry * w) / h) : rx;
  const height = rx === 0 && ry === 0 ? Math.trunc(h * scale) : ry === 0 ? Math.trunc((rx * h) / w) : ry;
  const hires: HiresRequest = {width, height, upscaler, strength: typeof body.denoising_strength === 'number' && body.denoising_strength > 0 ? body.denoising_strength : 0.7};
  const steps = Number(body.hr_second_pass_steps ?? 0);
  if (steps > 0) hires.steps = steps;
  const text = (field: 'hr_prompt' | 'hr_negative_prompt'): string => {
    try {
      return parsePromptTags(typeof body[field] === 'string' ? (body[field] as string) : '', field).text;
    } catch (err) {
      if (err instanceof MgenError) throw bad(field, err.message.replace(/^[a-z_]+: /, ''));
      throw err;
    }
  };
  const hp = text('hr_prompt');
  if (hp && hp !== native.prompt) hires.prompt = hp;
  const hn = text('hr_negative_prompt');
  if (hn && hn !== (native.negative_prompt ?? '')) hires.negative_prompt = hn;
  const hrSampler = typeof body.hr_sampler_name === 'string' && body.hr_sampler_name && body.hr_sampler_name !== 'Use same sampler' ? body.hr_sampler_name : null;
  const hrSchedule = typeof body.hr_scheduler === 'string' && body.hr_scheduler && body.hr_scheduler !== 'Use same scheduler' ? body.hr_scheduler : null;
  if (hrSampler || hrSchedule) {
    try {
      const c = chooseSampler(hrSampler ?? sampler?.sampler ?? null, hrSchedule ?? body.scheduler ?? null);
      if (c) {
        hires.scheduler = c.scheduler;
        hires.scheduler_config = c.config;
      }
    } catch (err) {
      if (err instanceof SamplerRefusal) throw bad(err.field === 'sampler' ? 'hr_sampler_name' : 'hr_scheduler', err.message);
      throw err;
    }
  }
  return hires;
}

export interface A1111Native {
  native: NativeRequest;
  sampler: SamplerChoice | null;
}

export function a1111ToNative(body: A1111Request, img2img: boolean, ctx: A1111Context): A1111Native {
  checkFields(body, img2img);
  // Empty prompts are allowed, as in A1111. Tags come out of what the encoder sees and become LoRAs.
  let prompt, negative;
  try {
    prompt = parsePromptTags(body.prompt ?? '', 'prompt');
    negative = parsePromptTags(body.negative_prompt ?? '', 'negative_prompt');
  } catch (err) {
    if (err instanceof MgenError) throw bad(err.field ?? 'prompt', err.message.replace(/^[a-z_]+: /, ''));
    throw err;
  }
  // No prompt_syntax: A1111's language is the default wherever it applies (CLIP-only text encoders), and a FLUX
  // server's A1111 routes keep working with the text as written.
  const native: NativeRequest = {prompt: prompt.text, response_format: 'b64_json'};
  if (negative.text) native.negative_prompt = negative.text;
  native.steps = body.steps ?? 20;
  native.guidance_scale = body.cfg_scale ?? 7;
  native.width = body.width ?? 512;
  native.height = body.height ?? 512;
  if (body.seed !== undefined && body.seed >= 0) native.seed = body.seed;
  const images = (body.batch_size ?? 1) * (body.n_iter ?? 1);
  if (images > ctx.caps.maxImages) throw bad('n_iter', `batch_size x n_iter is ${images} images; this server makes at most ${ctx.caps.maxImages} per request`);
  // n_iter batches of batch_size: A1111 numbers seeds on across batches, as one run of n images does.
  native.num_images = images;
  const sampler = samplerChoice(body);
  if (sampler) {
    native.scheduler = sampler.scheduler;
    native.scheduler_config = sampler.config;
  }
  if (body.eta != null) {
    if (!ctx.pipelineParams?.has('eta')) throw bad('eta', 'the loaded pipeline takes no eta');
    native.eta = body.eta;
  }
  const overrides: Record<string, unknown> = {...(ctx.settings && ctx.settings.clipStop > 1 ? {CLIP_stop_at_last_layers: ctx.settings.clipStop} : {}), ...body.override_settings};
  let format = ctx.settings?.samplesFormat ?? 'png';
  for (const [k, v] of Object.entries(overrides)) {
    const field = `override_settings.${k}`;
    if (!OVERRIDES.has(k)) throw bad(field, 'not a setting this server applies per request');
    if (k === 'sd_model_checkpoint') {
      if (typeof v !== 'string' || !(ctx.namesModel?.(v) ?? false)) throw bad(field, `${JSON.stringify(v)} is not the model this server holds (one model per mgen serve; see /sdapi/v1/sd-models)`);
      continue;
    }
    if (k === 'samples_format') {
      const f = samplesFormat(v);
      if (!f) throw bad(field, 'this server writes png, jpg or webp');
      format = f;
      continue;
    }
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 12) throw bad(field, 'must be an integer from 1 to 12');
    // A1111 counts layers from the end (1 = the last); diffusers' clip_skip counts the layers skipped.
    if (v > 1) {
      if (!ctx.pipelineParams?.has('clip_skip')) throw bad(field, 'the loaded pipeline does not support clip skip');
      native.clip_skip = v - 1;
    }
  }
  // jpg / webp as A1111 saves them: at jpeg_quality, the infotext in EXIF UserComment.
  if (format !== 'png') native.image_format = {format: format === 'jpg' ? 'jpeg' : 'webp', quality: ctx.settings?.jpegQuality ?? 80};
  const loras = [...(body.loras ?? [])];
  for (const tag of [...prompt.tags, ...negative.tags]) {
    if (tag.kind === 'hypernet') throw bad(tag.field, `<hypernet:${tag.name}>: per-request hypernetworks are not supported; start the server with --hypernetwork`);
    try {
      loras.push({name: resolvePromptLora(tag, {env: ctx.env, policy: ctx.policy}), scale: tag.scale});
    } catch (err) {
      if (err instanceof ModelNotAllowedError) throw new HttpError(403, 'model_not_allowed', err.message, err.field);
      if (err instanceof MgenError) throw bad(err.field ?? tag.field, err.message.replace(/^[a-z_]+: /, ''));
      throw err;
    }
  }
  if (loras.length > 16) throw bad('loras', 'at most 16 LoRAs per request');
  if (loras.length) native.loras = loras;
  if (!img2img && body.enable_hr) native.hires = hiresOf(body, native, sampler, ctx);
  if (img2img) {
    native.image = body.init_images?.[0] ?? null;
    if (body.mask) native.mask = body.mask;
    native.strength = body.denoising_strength ?? 0.75;
  }
  return {native, sampler};
}

/** The `parameters` text of each image (A1111's infotexts), read back from the PNGs the worker wrote. */
function infotextsOf(res: NativeResponse): string[] {
  return res.images.map((im) => {
    try {
      if (!im.b64_json) return '';
      const bytes = Buffer.from(im.b64_json, 'base64');
      return bytes[0] === 0x89 ? (readPngInfo(bytes).text.parameters ?? '') : (readExifUserComment(bytes) ?? '');
    } catch {
      return '';
    }
  });
}

/** Infotext fields A1111 keeps in `extra_generation_params` (the rest have keys of their own in `info`). */
const CORE_FIELDS = new Set(['Steps', 'Sampler', 'CFG scale', 'Seed', 'Size', 'Model hash', 'Model', 'Denoising strength', 'Clip skip', 'Version']);

/** A1111's answer: base64 images, the request echoed as `parameters`, and `info` as a JSON string (Processed.js()). */
export function nativeToA1111(
  res: NativeResponse,
  request: A1111Request,
  mapped: A1111Native,
): {images: string[]; parameters: Record<string, unknown>; info: string} {
  const {native, sampler} = mapped;
  const seeds = res.images.map((i) => i.seed);
  const first = res.images[0];
  const ran = sampler
    ? {sampler: sampler.sampler, scheduleType: sampler.scheduleType}
    : describeScheduler((res.metadata.scheduler as string | undefined) ?? native.scheduler ?? null, (res.metadata.scheduler_config as SchedulerConfig | undefined) ?? null);
  const prompt = request.prompt ?? '';
  const negative = request.negative_prompt ?? '';
  const infotexts = infotextsOf(res);
  const fields = parseA1111Parameters(infotexts[0] ?? '').fields;
  const extra: Record<string, string> = {};
  for (const [k, v] of Object.entries(fields)) if (!CORE_FIELDS.has(k)) extra[k] = v;
  const info = {
    prompt,
    all_prompts: res.images.map(() => prompt),
    negative_prompt: negative,
    all_negative_prompts: res.images.map(() => negative),
    seed: seeds[0] ?? null,
    all_seeds: seeds,
    subseed: -1,
    all_subseeds: seeds.map(() => -1),
    subseed_strength: 0,
    width: first?.width ?? native.width,
    height: first?.height ?? native.height,
    sampler_name: ran.sampler,
    scheduler: ran.scheduleType ?? 'Automatic',
    cfg_scale: native.guidance_scale,
    steps: native.steps,
    batch_size: request.batch_size ?? 1,
    n_iter: request.n_iter ?? 1,
    restore_faces: false,
    face_restoration_model: null,
    sd_model_name: fields.Model ?? (res.metadata.model as string | undefined) ?? null,
    sd_model_hash: fields['Model hash'] ?? null,
    sd_vae_name: null,
    sd_vae_hash: null,
    seed_resize_from_w: -1,
    seed_resize_from_h: -1,
    denoising_strength: native.strength ?? native.hires?.strength ?? null,
    extra_generation_params: extra,
    index_of_first_image: 0,
    infotexts,
    styles: [],
    job_timestamp: jobTimestamp(),
    clip_skip: typeof native.clip_skip === 'number' ? native.clip_skip + 1 : 1,
    is_using_inpainting_conditioning: false,
    version: fields.Version ?? 'mgen',
  };
  return {images: res.images.map((i) => i.b64_json ?? ''), parameters: request, info: JSON.stringify(info)};
}
