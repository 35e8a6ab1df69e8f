// Shapes shared by the server's routes, dialects, engine and the reuse client.

/** Limits on what one request may ask for. */
import type {SessionGenerateInput} from './session-port.js';
import type {HiresRequest} from '../hires.js';
import type {ImageFormat} from '../worker/types.js';

export interface Caps {
  /** Largest width or height in pixels (both must also be multiples of 8). */
  maxSize: number;
  maxSteps: number;
  /** Most images per request (num_images, OpenAI n, A1111 batch_size). */
  maxImages: number;
}

export const DEFAULT_CAPS: Caps = {maxSize: 2048, maxSteps: 150, maxImages: 8};

export type ResponseFormat = 'b64_json' | 'url';

/** The body of POST /v1/generate (and the `input` of /v1/jobs, /run, /runsync, and the RunPod handler). */
export interface NativeRequest {
  prompt: string;
  negative_prompt?: string | null;
  width?: number;
  height?: number;
  steps?: number;
  guidance_scale?: number;
  seed?: number;
  num_images?: number;
  scheduler?: string | null;
  /** Config overrides on `scheduler` (what the A1111 sampler names and schedule types map to). */
  scheduler_config?: Record<string, string | number | boolean> | null;
  strength?: number | null;
  image?: string | null;
  mask?: string | null;
  control_image?: string | null;
  loras?: Array<{name: string; scale?: number}>;
  /** a1111 (default for SD1/SD2/SDXL): weights, BREAK, long prompts, <lora:> tags and embedding names; plain: as written. */
  prompt_syntax?: 'a1111' | 'plain' | null;
  response_format?: ResponseFormat;
  /** Extra pipeline __call__ parameters (also accepted at the top level). */
  params?: Record<string, unknown>;
  /** Video: frames and frames per second; audio: seconds; the output format (mp4, webm, gif, webp, wav, flac, png). */
  frames?: number | null;
  fps?: number | null;
  duration?: number | null;
  format?: string | null;
  /** Video length in seconds (set by the OpenAI Videos route; frames follow from it). */
  seconds?: number | null;
  /** The hires fix: a second image-to-image pass at a larger size (src/backends/hires.ts). */
  hires?: HiresRequest | null;
  /** Output file format: png (default), jpeg or webp at a quality (0-100). */
  image_format?: ImageFormat | null;
  [extra: string]: unknown;
}

/** One image of a native response. */
export interface NativeImage {
  b64_json?: string;
  url?: string;
  seed: number;
  width: number;
  height: number;
}

/** The body POST /v1/generate answers with; the same document as `mgen generate --json` plus the images. */
export interface NativeResponse {
  images: NativeImage[];
  metadata: Record<string, unknown>;
  /** queue_s: waiting; worker_s: the session call as the server saw it; worker_total_s: the worker's own time. */
  timings: {queue_s: number; worker_s: number; worker_total_s: number; denoise_s: number; total_s: number; steps: number};
}

/**
 * The native request's generation fields and the SessionGenerateInput fields they are, one to one: serve reads a
 * request with it (native.ts) and `generate` writes one for a running serve with it (reuse.ts), so the two agree.
 */
export const NATIVE_INPUT_FIELDS = [
  ['negative_prompt', 'negativePrompt'], ['width', 'width'], ['height', 'height'], ['steps', 'steps'],
  ['guidance_scale', 'guidance'], ['seed', 'seed'], ['num_images', 'numImages'], ['scheduler', 'scheduler'],
  ['scheduler_config', 'schedulerConfig'], ['strength', 'strength'],
  ['frames', 'frames'], ['fps', 'fps'], ['duration', 'duration'], ['format', 'format'], ['seconds', 'seconds'], ['prompt_syntax', 'promptSyntax'], ['hires', 'hires'], ['image_format', 'imageFormat'],
] as const satisfies ReadonlyArray<readonly [keyof NativeRequest, keyof SessionGenerateInput]>;
