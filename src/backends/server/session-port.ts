// What serve needs from a loaded model: the subset of backends' `Session` (src/backends/session.ts) it drives, so
// the server reuses generate's request building, PNG metadata and file writing instead of repeating them.
import {memorySummary} from '../memory-plan.js';
import type {CheckpointInfo, GenerateInput, GenerateOutput, Session} from '../session.js';

export type {CheckpointInfo};

export type SessionGenerateInput = GenerateInput;
export type SessionGenerateOutput = GenerateOutput;
/** The part of a Session the server drives (tests and the engine's restart path build sessions too). */
export type ServeSession = Pick<Session, 'worker' | 'hello' | 'plan' | 'schema' | 'generate' | 'close'> & Partial<Pick<Session, 'checkpointInfo'>>;

/** What `generate --json` prints for one run (seed, model, timings, plan, runtime), plus the request, without local paths. */
export function generationMetadata(out: SessionGenerateOutput, session: ServeSession): Record<string, unknown> {
  const {out_dir: _o, file_stem: _f, png_text: _p, loras: _l, ...rest} = out.request;
  // The request's LoRAs as the client named them, not as local paths.
  const request = out.loras?.length ? {...rest, loras: out.loras.map((l) => ({name: l.id, scale: l.scale}))} : rest;
  const p = session.plan;
  const h = session.hello;
  return {
    model: out.model,
    seed: out.seed,
    seeds: out.images.map((i) => i.seed),
    ...(out.scheduler?.class ? {scheduler: out.scheduler.class, scheduler_config: out.scheduler.config} : {}),
    request,
    timings: out.timings,
    plan: {strategy: p.strategy, pipeline: p.pipeline, task: p.task, dtype: p.dtype, device: p.device, offload: p.offload, ...(p.compile ? {compile: true} : {}), memory: memorySummary(p)},
    runtime: {python: h.python, torch: h.torch, diffusers: h.diffusers, device: h.device},
  };
}
