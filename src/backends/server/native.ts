// The native request: its JSON Schema (our fields + the loaded pipeline's extra __call__ parameters, draft
// 2020-12) and the step from a validated body to the worker's GenerateRequest.
import type {SessionGenerateInput} from './session-port.js';
import {HIRES_UPSCALERS} from '../hires.js';
import {NATIVE_INPUT_FIELDS, type Caps, type NativeRequest} from './types.js';

type JsonSchema = Record<string, unknown>;

/** Pipeline __call__ parameters that our own fields stand for (or that make no sense over HTTP). */
export const MAPPED_PIPELINE_PARAMS: ReadonlySet<string> = new Set([
  'prompt', 'negative_prompt', 'width', 'height', 'num_inference_steps', 'guidance_scale', 'num_images_per_prompt',
  'generator', 'latents', 'output_type', 'return_dict', 'callback', 'callback_steps', 'callback_on_step_end',
  'callback_on_step_end_tensor_inputs', 'image', 'mask_image', 'strength', 'control_image', 'prompt_embeds',
  'negative_prompt_embeds', 'pooled_prompt_embeds', 'negative_pooled_prompt_embeds', 'ip_adapter_image_embeds',
  'cross_attention_kwargs', 'joint_attention_kwargs', 'seed', 'num_images', 'steps', 'scheduler', 'scheduler_config', 'params',
  'loras', 'response_format', 'mask', 'id', 'frames', 'fps', 'duration', 'format', 'seconds', 'num_videos_per_prompt',
  'num_waveforms_per_prompt', 'prompt_syntax', 'hires', 'image_format',
]);

/** The properties a pipeline schema offers beyond our fields (its `$defs` travel along). */
/** Per-request LoRAs, the same on every route that takes them (native, A1111). */
export const LORAS_SCHEMA: JsonSchema = {
  type: 'array',
  maxItems: 16,
  items: {
    type: 'object',
    required: ['name'],
    additionalProperties: false,
    properties: {name: {type: 'string', minLength: 1}, scale: {type: 'number', minimum: -10, maximum: 10}},
  },
};

export function pipelineExtras(pipelineSchema: JsonSchema | null | undefined): {properties: Record<string, JsonSchema>; defs: JsonSchema} {
  const props = (pipelineSchema?.properties ?? {}) as Record<string, JsonSchema>;
  const properties: Record<string, JsonSchema> = {};
  for (const [k, v] of Object.entries(props)) if (!MAPPED_PIPELINE_PARAMS.has(k)) properties[k] = v;
  const defs = {...((pipelineSchema?.$defs ?? {}) as JsonSchema), ...((pipelineSchema?.definitions ?? {}) as JsonSchema)};
  return {properties, defs};
}

/** Config overrides on a named scheduler (A1111 samplers and schedule types). */
const SCHEDULER_CONFIG_SCHEMA: JsonSchema = {
  type: ['object', 'null'],
  maxProperties: 16,
  propertyNames: {pattern: '^[a-z_]{1,40}$'},
  additionalProperties: {type: ['boolean', 'number', 'string'], maxLength: 40},
};

/** JSON Schema of the native `hires` field. */
function hiresSchema(maxSize: number, maxSteps: number): Record<string, unknown> {
  const size = {type: 'integer', minimum: 64, maximum: maxSize};
  return {
    type: ['object', 'null'],
    required: ['width', 'height'],
    additionalProperties: false,
    properties: {
      width: size,
      height: size,
      steps: {type: ['integer', 'null'], minimum: 1, maximum: maxSteps},
      strength: {type: ['number', 'null'], exclusiveMinimum: 0, maximum: 1},
      upscaler: {enum: [...HIRES_UPSCALERS, null]},
      prompt: {type: ['string', 'null'], maxLength: 20000},
      negative_prompt: {type: ['string', 'null'], maxLength: 20000},
      scheduler: {type: ['string', 'null'], pattern: '^[A-Za-z][A-Za-z0-9_]*$', maxLength: 100},
      scheduler_config: SCHEDULER_CONFIG_SCHEMA,
    },
  };
}

/** JSON Schema 2020-12 for the native body, given the pipeline's schema and the caps. */
export function nativeRequestSchema(pipelineSchema: JsonSchema | null | undefined, caps: Caps): JsonSchema {
  const {properties: extras, defs} = pipelineExtras(pipelineSchema);
  const size = {type: 'integer', minimum: 64, maximum: caps.maxSize, multipleOf: 8};
  const inlineImage = {type: ['string', 'null'], description: 'base64 or a data: URL; URLs and paths are refused'};
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'object',
    required: ['prompt'],
    additionalProperties: false,
    properties: {
      prompt: {type: 'string', minLength: 1, maxLength: 20000},
      negative_prompt: {type: ['string', 'null'], maxLength: 20000},
      width: size,
      height: size,
      steps: {type: 'integer', minimum: 1, maximum: caps.maxSteps},
      guidance_scale: {type: 'number', minimum: 0, maximum: 100},
      seed: {type: 'integer', minimum: 0, maximum: 4294967295},
      num_images: {type: 'integer', minimum: 1, maximum: caps.maxImages},
      scheduler: {type: ['string', 'null'], pattern: '^[A-Za-z][A-Za-z0-9_]*$', maxLength: 100},
      scheduler_config: SCHEDULER_CONFIG_SCHEMA,
      strength: {type: ['number', 'null'], minimum: 0, maximum: 1},
      image: inlineImage,
      mask: inlineImage,
      control_image: inlineImage,
      loras: LORAS_SCHEMA,
      prompt_syntax: {enum: ['a1111', 'plain', null]},
      hires: hiresSchema(caps.maxSize, caps.maxSteps),
      image_format: {
        type: ['object', 'null'],
        required: ['format'],
        additionalProperties: false,
        properties: {format: {enum: ['png', 'jpeg', 'webp']}, quality: {type: 'integer', minimum: 0, maximum: 100}},
      },
      response_format: {enum: ['b64_json', 'url']},
      ...mediaFields(pipelineSchema),
      params: {type: 'object', additionalProperties: false, properties: extras},
      ...extras,
    },
    ...(Object.keys(defs).length ? {$defs: defs} : {}),
  };
}

/** A validated body -> the session's generate input (inline image paths are filled in by the engine). */
export function toSessionInput(body: NativeRequest, out: string): SessionGenerateInput {
  const params: Record<string, unknown> = {...(body.params ?? {})};
  for (const [k, v] of Object.entries(body)) if (!MAPPED_PIPELINE_PARAMS.has(k)) params[k] = v;
  const input: SessionGenerateInput = {prompt: body.prompt, out, params};
  for (const [wire, key] of NATIVE_INPUT_FIELDS) if (body[wire] != null) Object.assign(input, {[key]: body[wire]});
  if (body.loras?.length) input.loras = body.loras.map((l) => ({id: l.name, scale: l.scale ?? 1}));
  return input;
}

/**
 * The media fields the loaded pipeline takes, told from its own __call__ schema: a video pipeline (num_frames) gets
 * frames/fps and the video formats, an audio one (audio_end_in_s / audio_length_in_s) duration and wav/flac.
 */
function mediaFields(pipelineSchema: JsonSchema | null | undefined): Record<string, JsonSchema> {
  const props = (pipelineSchema?.properties ?? {}) as Record<string, unknown>;
  const known = pipelineSchema != null;
  const video = !known || 'num_frames' in props;
  const audio = !known || 'audio_end_in_s' in props || 'audio_length_in_s' in props;
  const formats = [...(video || audio ? [] : ['png']), ...(video ? ['mp4', 'webm', 'gif', 'webp'] : []), ...(audio ? ['wav', 'flac'] : []), ...(known ? [] : ['png'])];
  return {
    ...(video ? {
      frames: {type: ['integer', 'null'], minimum: 1, maximum: 1024, description: 'video: frames to make (Wan/CogVideoX/HunyuanVideo 4k+1, LTX-Video 8k+1)'},
      fps: {type: ['number', 'null'], exclusiveMinimum: 0, maximum: 240, description: 'video: frames per second of the file (default: the family\'s)'},
    } : {}),
    ...(audio ? {duration: {type: ['number', 'null'], exclusiveMinimum: 0, maximum: 600, description: 'audio: seconds to make (default: the model\'s)'}} : {}),
    format: {enum: [...formats, null], description: `output format (default ${formats[0]})`},
  };
}
