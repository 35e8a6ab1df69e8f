// What `mgen generate` prints: the image paths one per line, or one JSON document with --json.
import type {GenerateOutput, Session} from '../backends/session.js';

export function renderGenerateResult(r: GenerateOutput, o: {json?: boolean; session: Session}): string {
  if (!o.json) return r.images.map((im) => im.path).join('\n') + '\n';
  const s = o.session;
  return (
    JSON.stringify(
      {
        images: r.images,
        seed: r.seed,
        model: r.model,
        timings: {...s.openTimings, ...r.timings},
        plan: {strategy: s.plan.strategy, pipeline: s.load.pipeline, task: s.plan.task, dtype: s.load.dtype, device: s.load.device, offload: s.load.offload, ...(s.plan.compile ? {compile: true} : {})},
        runtime: {python: s.hello.python, torch: s.hello.torch, diffusers: s.hello.diffusers, device: s.hello.device},
      },
      null,
      2,
    ) + '\n'
  );
}
