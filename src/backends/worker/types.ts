import type {HiresRequest} from '../hires.js';
// The worker contract as TypeScript types (docs/worker-protocol.md is the prose version).

export type Strategy = 'diffusers-folder' | 'single-file' | 'component-file';
export type Dtype = 'float32' | 'float16' | 'bfloat16';
export type Offload = 'none' | 'model' | 'sequential';

export interface LoadPlan {
  strategy: Strategy;
  path: string;
  pipeline: string;
  task: 'text-to-image' | 'image-to-image' | 'inpaint';
  config_repo: string | null;
  component: 'unet' | 'transformer' | null;
  base_path: string | null;
  variant: string | null;
  dtype: Dtype;
  device: 'cpu' | 'cuda' | 'auto';
  offload: Offload;
  vae_tiling: boolean;
  /** memory-plan.ts: the worker's name of the plan, the plan as the user names it, why, and what to try on OOM. */
  memory?: 'gpu' | 'fp8-cast' | 'model' | 'group' | 'sequential';
  memory_plan?: string;
  memory_reason?: string;
  memory_next?: string | null;
  vae_slicing?: boolean;
  quantize?: 'none' | 'nf4' | 'int8' | 'fp8';
  allow_pickle: boolean;
  trust_remote_code: boolean;
  compile: boolean;
  loras: Array<{path: string; scale: number; name: string}>;
  embeddings: Array<{path: string; token: string}>;
  controlnet: {path: string; single_file: boolean} | null;
  vae: {path: string; single_file: boolean} | null;
  /** A1111 hypernetworks hooked into the attention layers (read with torch's weights-only loader). */
  hypernetworks?: Array<{path: string; scale: number}>;
  /** An aesthetic-gradient embedding, the CLIP folder tuned toward it and the extension's settings. */
  aesthetic?: {path: string; clip_path: string; weight: number; steps: number; lr: number; slerp: boolean} | null;
  /** An IP-Adapter file, its image encoder folder, the reference image and the scale (fixed for the session). */
  ip_adapter?: {path: string; image_encoder: string; image: string; scale: number} | null;
  /** A T2I-Adapter (diffusers folder or one file) put on the text-to-image pipeline; scale: adapter_conditioning_scale. */
  t2i_adapter?: {path: string; single_file: boolean; scale: number} | null;
}

export interface GenerateRequest {
  prompt: string;
  negative_prompt: string | null;
  /** null: the pipeline's own default (image-to-image takes the input image's size). */
  width: number | null;
  height: number | null;
  steps: number;
  guidance_scale: number;
  seed: number;
  num_images: number;
  scheduler: string | null;
  /** Config overrides on the named scheduler (use_karras_sigmas, algorithm_type, ...); see docs/worker-protocol.md. */
  scheduler_config?: Record<string, string | number | boolean>;
  image: string | null;
  mask: string | null;
  strength: number | null;
  control_image: string | null;
  params: Record<string, unknown>;
  out_dir: string;
  file_stem: string;
  /** false: no fsync of the PNGs (transient files read back at once; default true). */
  durable?: boolean;
  png_text: Array<Record<string, string>>;
  /** Video: frame count (num_frames) and the container's frames per second; audio: seconds; the output format. */
  frames?: number | null;
  fps?: number | null;
  duration?: number | null;
  format?: string | null;
  /** LoRAs for this request only (absolute paths), on top of the plan's; see docs/worker-protocol.md. */
  loras?: Array<{path: string; scale: number}>;
  /** Partial images to write while denoising each image (0-8; progress events then carry `preview` paths). */
  previews?: number;
  /** a1111 | plain; absent: a1111 where the pipeline's text encoders are CLIP only. */
  prompt_syntax?: 'a1111' | 'plain' | null;
  /** Textual inversions for this request: the file and the name the prompt writes it as. */
  embeddings?: Array<{path: string; token: string}>;
  /** The hires fix: a second image-to-image pass at a larger size (src/backends/hires.ts). */
  hires?: HiresRequest;
  /** Output file format (default PNG); JPEG / WebP carry `parameters` as EXIF UserComment (docs/worker-protocol.md). */
  image_format?: ImageFormat;
}

export interface ImageFormat {
  format: 'png' | 'jpeg' | 'webp';
  /** 0-100 (default 100). */
  quality?: number;
}

/** What a progress event adds to step/steps: the image it is about, and a partial image's path when one was written. */
export interface ProgressExtra {
  image?: number;
  preview?: string;
  /** After the last step of a video or audio job: 'decoding', then 'encoding'. */
  phase?: string;
}

export interface HelloResult {
  protocol: number;
  python: string;
  torch: string;
  diffusers: string;
  transformers: string;
  device: 'cpu' | 'cuda' | 'mps';
  gpu_name?: string;
  free_memory_bytes?: number;
  total_memory_bytes?: number;
  /** torch.get_num_threads() in the worker. */
  threads?: number;
  /** OMP_WAIT_POLICY as the worker saw it (null: OpenMP's default). */
  omp_wait_policy?: string | null;
}

export interface LoadResult {
  pipeline: string;
  device: string;
  dtype: Dtype;
  offload: Offload;
  load_seconds: number;
  components: Record<string, string>;
  /** The memory plan that applied ('cpu' on CPU) and what happened to quantized/low-precision weights. */
  memory?: string;
  notes?: string[];
}

/** One file the worker wrote: an image, a video (frames, fps) or audio (sample rate); see media.py. */
export interface WorkerOutputFile {
  path: string;
  seed: number;
  width?: number;
  height?: number;
  media_type?: string;
  frames?: number;
  fps?: number;
  duration_s?: number | null;
  sample_rate?: number;
  channels?: number;
  samples?: number;
}

/** Inductor's FX-graph and AOT-autograd cache lookups: hits were compiled by an earlier process (MGEN_HOME/compile-cache). */
export interface CompileCacheCounters {
  fxgraph_hit: number;
  fxgraph_miss: number;
  fxgraph_bypass: number;
  autograd_hit: number;
  autograd_miss: number;
  autograd_bypass: number;
}

export interface GenerateResult {
  images: Array<WorkerOutputFile>;
  timings: {
    denoise_s: number;
    total_s: number;
    steps: number;
    /** Where the time went, seconds: request checks, the pipeline calls, after the last step (VAE decode), PNG writing. */
    phases?: {prepare_s: number; pipeline_s: number; decode_s: number; png_s: number};
    /** With --compile: torch's compile-cache counters, totals since the worker started (compile_cache.py). */
    compile_cache?: CompileCacheCounters;
  };
  metadata: Record<string, unknown>;
}

export type WorkerErrorType =
  | 'bad_request' | 'bad_params' | 'not_loaded' | 'load_failed' | 'unsafe_model' | 'out_of_memory' | 'cancelled'
  | 'generation_failed' | 'invalid_model' | 'runtime_broken';

/** What the CLI (generate) and the HTTP server (serve) hold: one live worker process. */
export interface WorkerHandle {
  readonly pid: number | undefined;
  readonly alive: boolean;
  hello(): Promise<HelloResult>;
  load(plan: LoadPlan): Promise<LoadResult>;
  schema(): Promise<Record<string, unknown>>;
  /** Aborting the signal sends `cancel`; the promise then rejects with an InterruptedError-like error. */
  generate(
    request: GenerateRequest,
    opts?: {onProgress?: (step: number, steps: number, extra?: ProgressExtra) => void; signal?: AbortSignal; timeoutMs?: number},
  ): Promise<GenerateResult>;
  unload(): Promise<void>;
  /** Runs an upscaler file (through spandrel) over image files (`upscale` verb; no model needs to be loaded). */
  upscale(params: {model: string; images: string[]; outputs: string[]; scale?: number; tile?: number}): Promise<{images: Array<{input: string; path: string; width: number; height: number}>; native_scale: number; architecture?: string}>;
  /** Asks the worker to exit, then kills it if it has not within a grace period. */
  shutdown(): Promise<void>;
  /** SIGKILL now (tests, crash handling). */
  kill(): void;
  /** kill() was called here: the process is going away although `alive` stays true until it has exited. */
  readonly killed?: boolean;
  /** Resolves when the process has exited, with its code/signal. */
  readonly exited: Promise<{code: number | null; signal: NodeJS.Signals | null}>;
  /** The last lines the worker wrote to stderr. */
  stderrTail(): string;
}
