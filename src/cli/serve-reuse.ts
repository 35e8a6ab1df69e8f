// `mgen generate` through a running `mgen serve` of the same model (see src/backends/server/reuse.ts): the
// images land at the same paths, with the same PNG metadata, and --json prints the same document.
import type {SessionGenerateInput} from '../backends/server/session-port.js';
import type {LoadOptionsLike} from '../backends/server/load-key.js';

export async function generateThroughServe(o: {
  modelId: string;
  load: LoadOptionsLike;
  input: SessionGenerateInput;
  json?: boolean;
}): Promise<string | null> {
  const {generateWithRunningServe} = await import('../backends/server/reuse.js');
  const {resolveOutputPaths, outputWriteError} = await import('../backends/output-paths.js');
  const {mgenHome} = await import('../backends/paths.js');
  let r;
  try {
    r = await generateWithRunningServe({
      home: mgenHome(),
      load: o.load,
      input: o.input,
      token: process.env.MGEN_API_TOKEN,
      targets: (seed, numImages, ext) => resolveOutputPaths(o.input.out, {seed, numImages, model: o.modelId, ext}),
    });
  } catch (err) {
    // Writing a returned image failed (full disk, ...): no half-written temp file stays, the message names the image.
    const tmp = (err as {path?: string}).path;
    const target = tmp?.replace(/\.\d+\.tmp$/, '');
    if (tmp && target !== tmp) await (await import('node:fs/promises')).rm(tmp, {force: true});
    throw outputWriteError(err, target ?? o.input.out ?? 'the output');
  }
  if (!r) return null;
  if (!o.json) return (await import('./generate-render.js')).imageLines(r.images.map((im) => im.path));
  const m = r.response.metadata;
  const t = r.response.timings;
  return (
    JSON.stringify(
      {
        images: r.images,
        seed: m.seed,
        model: m.model,
        timings: {denoise_s: t.denoise_s, worker_total_s: t.worker_s, total_s: Math.round(r.totalS * 1000) / 1000, steps: t.steps},
        plan: m.plan,
        runtime: m.runtime,
        served_by: r.url,
      },
      null,
      2,
    ) + '\n'
  );
}
