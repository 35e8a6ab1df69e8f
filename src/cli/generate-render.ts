// What `mgen generate` prints: where each image went, one absolute path a line (clickable in a terminal, and what
// a script reads; the default folder is the current one), or one JSON document with --json.
import {memorySummary} from '../backends/memory-plan.js';
import type {GenerateOutput, Session} from '../backends/session.js';
import {escapeControl} from '../render/escape-control.js';

/** The human output, the same for a cold run and a run through a running serve. */
export function imageLines(paths: string[]): string {
  return paths.map((p) => escapeControl(p)).join('\n') + '\n';
}

export function renderGenerateResult(r: GenerateOutput, o: {json?: boolean; session: Session}): string {
  if (!o.json) return imageLines(r.images.map((im) => im.path));
  const s = o.session;
  return (
    JSON.stringify(
      {
        images: r.images,
        seed: r.seed,
        model: r.model,
        timings: {...s.openTimings, ...r.timings},
        plan: {strategy: s.plan.strategy, pipeline: s.load.pipeline, task: s.plan.task, dtype: s.load.dtype, device: s.load.device, offload: s.load.offload, ...(s.plan.compile ? {compile: true} : {}), memory: memorySummary(s.plan, s.load)},
        runtime: {python: s.hello.python, torch: s.hello.torch, diffusers: s.hello.diffusers, device: s.hello.device},
      },
      null,
      2,
    ) + '\n'
  );
}
