// The OpenAI Images API dialect (POST /v1/images/generations): request schema, mapping to the native
// request, and the response shape. Extension fields: negative_prompt, steps, guidance, seed.
import {HttpError} from './http-error.js';
import type {Caps, NativeRequest, NativeResponse, ResponseFormat} from './types.js';

export interface OpenAIImagesRequest {
  prompt: string;
  n?: number;
  size?: string;
  response_format?: ResponseFormat;
  model?: string;
  quality?: string;
  style?: string;
  user?: string;
  output_format?: string;
  negative_prompt?: string | null;
  steps?: number;
  guidance?: number;
  seed?: number;
}

export function openAIRequestSchema(caps: Caps): Record<string, unknown> {
  return {
    type: 'object',
    required: ['prompt'],
    additionalProperties: false,
    properties: {
      prompt: {type: 'string', minLength: 1, maxLength: 20000},
      n: {type: ['integer', 'null'], minimum: 1, maximum: caps.maxImages},
      size: {type: ['string', 'null'], pattern: '^(auto|[0-9]{1,5}x[0-9]{1,5})$'},
      response_format: {enum: ['b64_json', 'url', null]},
      model: {type: ['string', 'null']},
      quality: {type: ['string', 'null']},
      style: {type: ['string', 'null']},
      user: {type: ['string', 'null']},
      output_format: {enum: ['png', null]},
      negative_prompt: {type: ['string', 'null'], maxLength: 20000},
      steps: {type: 'integer', minimum: 1, maximum: caps.maxSteps},
      guidance: {type: 'number', minimum: 0, maximum: 100},
      seed: {type: 'integer', minimum: 0, maximum: 4294967295},
    },
  };
}

/** "WxH" -> numbers, checked against the caps (400 naming `size`). */
export function parseSize(size: string | null | undefined, caps: Caps): {width?: number; height?: number} {
  if (!size || size === 'auto') return {};
  const m = /^(\d+)x(\d+)$/.exec(size);
  if (!m) throw new HttpError(400, 'invalid_request_error', `size: expected "WIDTHxHEIGHT", got "${size}"`, 'size');
  const width = Number(m[1]);
  const height = Number(m[2]);
  for (const v of [width, height]) {
    if (v % 8 !== 0 || v < 64 || v > caps.maxSize) {
      throw new HttpError(400, 'invalid_request_error', `size: width and height must be multiples of 8 between 64 and ${caps.maxSize}`, 'size');
    }
  }
  return {width, height};
}

export function openAIToNative(body: OpenAIImagesRequest, caps: Caps): NativeRequest {
  const native: NativeRequest = {prompt: body.prompt, ...parseSize(body.size, caps)};
  if (body.n != null) native.num_images = body.n;
  if (body.negative_prompt != null) native.negative_prompt = body.negative_prompt;
  if (body.steps != null) native.steps = body.steps;
  if (body.guidance != null) native.guidance_scale = body.guidance;
  if (body.seed != null) native.seed = body.seed;
  native.response_format = body.response_format ?? 'b64_json';
  return native;
}

export function nativeToOpenAI(res: NativeResponse, created: number): {
  created: number;
  data: Array<{b64_json?: string; url?: string; revised_prompt?: string}>;
} {
  return {created, data: res.images.map((img) => (img.url ? {url: img.url} : {b64_json: img.b64_json}))};
}
