// The OpenAI Images API dialect (/v1/images/generations, /edits, /variations): which OpenAI model a request
// emulates, its fields checked the way that model's API answers them, the mapping to the native request, and the
// response and stream-event shapes. Extension fields: negative_prompt, steps, guidance, seed (and strength on edits
// and variations). Routes are in openai-routes.ts.
import {HttpError} from './http-error.js';
import type {Caps, NativeRequest, NativeResponse, ResponseFormat} from './types.js';

/**
 * Whose defaults a request gets: `dall-e` (dall-e-2 / dall-e-3: url by default), `gpt-image` (every gpt-image-* and
 * chatgpt-image-*: base64 always), or `served` (no model, or this server's own model id: base64 by default, url on
 * request, every field below).
 */
export type Emulated = 'dall-e-2' | 'dall-e-3' | 'gpt-image' | 'served';

export type OpenAIRoute = 'generations' | 'edits' | 'variations';

export interface OpenAIImagesRequest {
  prompt?: string;
  model?: string | null;
  n?: number | null;
  size?: string | null;
  response_format?: ResponseFormat | null;
  quality?: string | null;
  style?: string | null;
  user?: string | null;
  safety_identifier?: string | null;
  background?: string | null;
  moderation?: string | null;
  output_format?: string | null;
  output_compression?: number | null;
  stream?: boolean | null;
  partial_images?: number | null;
  input_fidelity?: string | null;
  negative_prompt?: string | null;
  steps?: number;
  guidance?: number;
  seed?: number;
  strength?: number;
  [other: string]: unknown;
}

const QUALITIES = ['low', 'medium', 'high', 'xhigh', 'max', 'auto', 'standard', 'hd'];
/** OpenAI fields with no equivalent here: any value but null is a 400 naming the field. */
const UNSUPPORTED: Record<string, string> = {
  complexity: 'planning effort has no equivalent in a diffusion pipeline',
  frame_count: 'GIF output is not produced by this server',
  frame_duration_ms: 'GIF output is not produced by this server',
  svg: 'SVG output is not produced by this server',
  markup: 'markup images are not supported by this server',
};

/** JSON Schema of the OpenAI body (types and ranges; the per-model rules are in checkOpenAIRequest). */
export function openAIRequestSchema(caps: Caps, route: OpenAIRoute = 'generations'): Record<string, unknown> {
  const nullable = (t: string): {type: string[]} => ({type: [t, 'null']});
  const properties: Record<string, unknown> = {
    prompt: {type: 'string', minLength: route === 'variations' ? 0 : 1, maxLength: 32000},
    model: nullable('string'),
    n: {type: ['integer', 'null'], minimum: 1, maximum: caps.maxImages},
    size: {type: ['string', 'null'], pattern: '^(auto|[0-9]{1,5}x[0-9]{1,5})$'},
    response_format: {enum: ['b64_json', 'url', null]},
    quality: {enum: [...QUALITIES, null]},
    style: {enum: ['vivid', 'natural', null]},
    user: nullable('string'),
    safety_identifier: nullable('string'),
    background: {enum: ['transparent', 'opaque', 'auto', null]},
    moderation: {enum: ['low', 'auto', null]},
    output_format: {enum: ['png', 'jpeg', 'webp', 'gif', 'svg', null]},
    output_compression: {type: ['integer', 'null'], minimum: 0, maximum: 100},
    stream: nullable('boolean'),
    partial_images: {type: ['integer', 'null'], minimum: 0, maximum: 3},
    input_fidelity: {enum: ['high', 'low', null]},
    negative_prompt: {type: ['string', 'null'], maxLength: 20000},
    steps: {type: 'integer', minimum: 1, maximum: caps.maxSteps},
    guidance: {type: 'number', minimum: 0, maximum: 100},
    seed: {type: 'integer', minimum: 0, maximum: 4294967295},
    ...(route === 'generations' ? {} : {strength: {type: 'number', minimum: 0, maximum: 1}}),
  };
  for (const k of Object.keys(UNSUPPORTED)) properties[k] = {};
  // A variation takes no prompt in OpenAI's API; `prompt` is an extension there (default: empty).
  if (route === 'variations') for (const k of Object.keys(properties)) if (!VARIATION_FIELDS.has(k)) delete properties[k];
  return {type: 'object', required: route === 'variations' ? [] : ['prompt'], additionalProperties: false, properties};
}

const VARIATION_FIELDS = new Set(['prompt', 'model', 'n', 'size', 'response_format', 'user', 'negative_prompt', 'steps', 'guidance', 'seed', 'strength']);

const bad = (field: string, message: string): HttpError => new HttpError(400, 'invalid_request_error', `${field}: ${message}`, field);

/** The OpenAI model a request's `model` names (see Emulated); any other name is a 400 naming the served model. */
export function emulatedModel(model: string | null | undefined, servedId: string): Emulated {
  if (model == null || model === '' || model === servedId) return 'served';
  if (model === 'dall-e-2' || model === 'dall-e-3') return model;
  if (/^(gpt-image|chatgpt-image)-/.test(model)) return 'gpt-image';
  throw new HttpError(
    400,
    'invalid_request_error',
    `model: ${model} is not served here; this server serves ${servedId} (name it, leave model out, or name an OpenAI image model to get that model's defaults)`,
    'model',
  );
}

/** Settled values of a checked request. */
export interface OpenAIChoices {
  emulated: Emulated;
  responseFormat: ResponseFormat;
  /** The quality reported back (gpt-image names). */
  quality: string;
  /** Share of the model's default steps the quality asks for (1: the default). */
  stepsFactor: number;
  stream: boolean;
  partialImages: number;
  /** The file format of the final images (partial images stay PNG). */
  outputFormat: 'png' | 'jpeg' | 'webp';
  /** jpeg / webp quality, OpenAI's output_compression (0-100). */
  compression: number;
}

const GPT_ONLY = ['background', 'moderation', 'output_format', 'output_compression', 'stream', 'partial_images', 'input_fidelity'] as const;
const QUALITY_BY_MODEL: Record<Emulated, string[]> = {
  'dall-e-2': ['standard'],
  'dall-e-3': ['standard', 'hd'],
  'gpt-image': ['low', 'medium', 'high', 'xhigh', 'max', 'auto'],
  served: QUALITIES,
};
const STEPS_FACTOR: Record<string, number> = {low: 0.5, medium: 0.75, xhigh: 1.5, max: 2};
const REPORTED_QUALITY: Record<string, string> = {auto: 'high', standard: 'high', hd: 'high'};

/**
 * OpenAI's per-model rules, answered as its API does (a 400 naming the field) where this server cannot do what a
 * field asks: transparent backgrounds, formats other than PNG, GIF/SVG output.
 */
export function checkOpenAIRequest(body: OpenAIImagesRequest, servedId: string, route: OpenAIRoute): OpenAIChoices {
  const emulated = emulatedModel(body.model, servedId);
  for (const [k, why] of Object.entries(UNSUPPORTED)) if (body[k] != null) throw bad(k, why);
  const dallE = emulated === 'dall-e-2' || emulated === 'dall-e-3';
  if (dallE) for (const k of GPT_ONLY) if (body[k] != null && body[k] !== false) throw bad(k, `only supported for the GPT image models, not ${emulated}`);
  if (route === 'variations' && emulated !== 'dall-e-2' && emulated !== 'served') throw bad('model', `variations are a dall-e-2 call, not ${body.model}`);
  if (emulated === 'gpt-image' && body.response_format === 'url') throw bad('response_format', 'GPT image models always return b64_json (url is for dall-e-2, dall-e-3 and this server\'s own model name)');
  if (emulated === 'dall-e-3' && (body.n ?? 1) > 1) throw bad('n', 'dall-e-3 makes one image per request (n=1)');
  if (body.style != null && emulated !== 'dall-e-3' && emulated !== 'served') throw bad('style', `only supported for dall-e-3, not ${body.model}`);
  if (body.background === 'transparent') throw bad('background', 'transparent is not supported: this server\'s models make opaque images (use opaque or auto)');
  const format = body.output_format ?? 'png';
  if (format !== 'png' && format !== 'jpeg' && format !== 'webp') throw bad('output_format', `${format} is not produced by this server (png, jpeg or webp)`);
  if (body.input_fidelity === 'high') throw bad('input_fidelity', 'high has no equivalent here (use strength: lower keeps more of the image)');
  if (format === 'png' && body.output_compression != null && body.output_compression !== 100) throw bad('output_compression', 'applies to jpeg and webp output, not png (leave it out or 100)');
  const quality = body.quality ?? 'auto';
  if (body.quality != null && !QUALITY_BY_MODEL[emulated].includes(body.quality)) {
    throw bad('quality', `${body.quality} is not a quality of ${emulated === 'served' ? servedId : body.model} (one of ${QUALITY_BY_MODEL[emulated].join(', ')})`);
  }
  return {
    emulated,
    responseFormat: body.response_format ?? (dallE ? 'url' : 'b64_json'),
    quality: REPORTED_QUALITY[quality] ?? quality,
    stepsFactor: STEPS_FACTOR[quality] ?? 1,
    stream: Boolean(body.stream),
    partialImages: body.partial_images ?? 0,
    outputFormat: format,
    compression: body.output_compression ?? 100,
  };
}

/** "WxH" -> numbers; `auto` or none -> {} (the model's default, or the input image's size on edits). */
export function parseSize(size: string | null | undefined): {width?: number; height?: number} {
  if (!size || size === 'auto') return {};
  const m = /^(\d+)x(\d+)$/.exec(size);
  if (!m) throw bad('size', `expected "WIDTHxHEIGHT" or "auto", got "${size}"`);
  return {width: Number(m[1]), height: Number(m[2])};
}

/** The native request for a checked OpenAI request (inputs, when given, are inline base64 already). */
export function openAIToNative(
  body: OpenAIImagesRequest,
  choices: OpenAIChoices,
  o: {defaultSteps?: number; caps: Caps; image?: string; mask?: string},
): NativeRequest {
  const native: NativeRequest = {prompt: body.prompt ?? '', ...parseSize(body.size), response_format: choices.responseFormat};
  if (body.n != null) native.num_images = body.n;
  if (body.negative_prompt != null) native.negative_prompt = body.negative_prompt;
  if (body.steps != null) native.steps = body.steps;
  else if (choices.stepsFactor !== 1 && o.defaultSteps) native.steps = Math.min(o.caps.maxSteps, Math.max(1, Math.round(o.defaultSteps * choices.stepsFactor)));
  if (body.guidance != null) native.guidance_scale = body.guidance;
  if (body.seed != null) native.seed = body.seed;
  if (o.image) native.image = o.image;
  if (o.mask) native.mask = o.mask;
  if (body.strength != null) native.strength = body.strength;
  if (choices.outputFormat !== 'png') native.image_format = {format: choices.outputFormat, quality: choices.compression};
  return native;
}

/** Native field -> the OpenAI field a client sent it as (for messages of the shared validator). */
export const OPENAI_FIELD: Record<string, string> = {width: 'size', height: 'size', num_images: 'n', guidance_scale: 'guidance'};

export interface OpenAIUsage {
  total_tokens: number;
  input_tokens: number;
  output_tokens: number;
  input_tokens_details: {text_tokens: number; image_tokens: number};
  output_tokens_details: {image_tokens: number; text_tokens: number};
}

/**
 * Usage as GPT image responses carry it. There are no OpenAI tokens here; the counts are defined as: text tokens,
 * the prompt's words and punctuation marks; image tokens, the latent cells (width/8 x height/8) of each input or
 * output image.
 */
export function usageFor(prompt: string, inputs: Array<{width: number; height: number}>, outputs: Array<{width: number; height: number}>): OpenAIUsage {
  const cells = (im: {width: number; height: number}): number => Math.ceil(im.width / 8) * Math.ceil(im.height / 8);
  const text = prompt.match(/[\p{L}\p{N}]+|[^\s\p{L}\p{N}]/gu)?.length ?? 0;
  const imageIn = inputs.reduce((n, im) => n + cells(im), 0);
  const out = outputs.reduce((n, im) => n + cells(im), 0);
  return {
    total_tokens: text + imageIn + out,
    input_tokens: text + imageIn,
    output_tokens: out,
    input_tokens_details: {text_tokens: text, image_tokens: imageIn},
    output_tokens_details: {image_tokens: out, text_tokens: 0},
  };
}

export interface OpenAIImagesResponse {
  created: number;
  data: Array<{b64_json?: string; url?: string; revised_prompt?: string}>;
  background?: 'opaque';
  output_format?: 'png' | 'jpeg' | 'webp';
  quality?: string;
  size?: string;
  usage?: OpenAIUsage;
}

/** The response OpenAI gives for the emulated model: dall-e-3 adds revised_prompt; GPT image models add usage and the settings used. */
export function nativeToOpenAI(
  res: NativeResponse,
  o: {created: number; prompt: string; choices: OpenAIChoices; inputs?: Array<{width: number; height: number}>},
): OpenAIImagesResponse {
  const revised = o.choices.emulated === 'dall-e-3' ? {revised_prompt: o.prompt} : {};
  const out: OpenAIImagesResponse = {
    created: o.created,
    data: res.images.map((img) => ({...(img.url ? {url: img.url} : {b64_json: img.b64_json}), ...revised})),
  };
  if (o.choices.emulated === 'gpt-image' || o.choices.emulated === 'served') {
    const first = res.images[0];
    Object.assign(out, {
      background: 'opaque',
      output_format: o.choices.outputFormat,
      quality: o.choices.quality,
      ...(first ? {size: `${first.width}x${first.height}`} : {}),
      usage: usageFor(o.prompt, o.inputs ?? [], res.images),
    });
  }
  return out;
}

/** A partial image as a stream event (`partial_image_index` counts per image from 0). */
export function partialEvent(
  p: {b64_json: string; width: number; height: number},
  index: number,
  o: {prefix: 'image_generation' | 'image_edit'; createdAt: number; choices: OpenAIChoices},
): {type: string} & Record<string, unknown> {
  return {...streamEvent(`${o.prefix}.partial_image`, p, o), partial_image_index: index};
}

/** The fields every image stream event carries. */
function streamEvent(type: string, img: {b64_json?: string; width: number; height: number}, o: {createdAt: number; choices: OpenAIChoices}): {type: string} & Record<string, unknown> {
  const format = type.endsWith('.completed') ? o.choices.outputFormat : 'png';
  return {type, b64_json: img.b64_json, created_at: o.createdAt, size: `${img.width}x${img.height}`, quality: o.choices.quality, background: 'opaque', output_format: format};
}

/** The stream events of one finished request: `<prefix>.completed` per image (partial images come before them). */
export function completedEvents(
  res: NativeResponse,
  o: {prefix: 'image_generation' | 'image_edit'; createdAt: number; prompt: string; choices: OpenAIChoices; inputs?: Array<{width: number; height: number}>},
): Array<Record<string, unknown>> {
  return res.images.map((img) => ({...streamEvent(`${o.prefix}.completed`, img, o), usage: usageFor(o.prompt, o.inputs ?? [], [img])}));
}
