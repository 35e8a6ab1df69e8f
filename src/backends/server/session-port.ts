// What serve needs from a loaded model: the structural subset of backends' `Session` (src/backends/session.ts),
// so the server reuses generate's request building, PNG metadata and file writing instead of repeating them.
import type {GenerateRequest, HelloResult, LoadPlan, WorkerHandle} from '../worker/types.js';

export interface SessionGenerateInput {
  prompt: string;
  negativePrompt?: string | null;
  width?: number;
  height?: number;
  steps?: number;
  guidance?: number;
  seed?: number;
  numImages?: number;
  scheduler?: string | null;
  image?: string | null;
  mask?: string | null;
  strength?: number | null;
  controlImage?: string | null;
  params?: Record<string, unknown>;
  out?: string;
}

export interface SessionGenerateOutput {
  images: Array<{path: string; seed: number; width: number; height: number}>;
  timings: {denoise_s: number; worker_total_s: number; total_s: number; steps: number};
  model: string;
  seed: number;
  request: GenerateRequest;
}

export interface ServeSession {
  readonly worker: WorkerHandle;
  readonly hello: HelloResult;
  readonly plan: LoadPlan;
  schema(): Promise<Record<string, unknown>>;
  generate(
    input: SessionGenerateInput,
    opts?: {onProgress?: (step: number, steps: number) => void; signal?: AbortSignal; timeoutMs?: number},
  ): Promise<SessionGenerateOutput>;
  close(): Promise<void>;
}

/** What `generate --json` prints for one run (seed, model, timings, plan, runtime), plus the request, without local paths. */
export function generationMetadata(out: SessionGenerateOutput, session: ServeSession): Record<string, unknown> {
  const {out_dir: _o, file_stem: _f, png_text: _p, ...request} = out.request;
  const p = session.plan;
  const h = session.hello;
  return {
    model: out.model,
    seed: out.seed,
    seeds: out.images.map((i) => i.seed),
    request,
    timings: out.timings,
    plan: {strategy: p.strategy, pipeline: p.pipeline, task: p.task, dtype: p.dtype, device: p.device, offload: p.offload},
    runtime: {python: h.python, torch: h.torch, diffusers: h.diffusers, device: h.device},
  };
}
