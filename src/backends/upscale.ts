// Upscaler models (ESRGAN / Real-ESRGAN, SwinIR, DAT, HAT: what spandrel loads) for `mgen upscale`, `generate --upscale` and serve's upscale routes:
// the spec `ID[:factor]`, resolving and checking the file, and the worker's `upscale` verb.
import {existsSync} from 'node:fs';
import {InvalidModelError, NotFoundError, UsageError} from '../errors.js';
import {resolveModelForLoad} from './resolve-model.js';
import type {WorkerHandle} from './worker/types.js';

export interface UpscaleSpec {
  id: string;
  /** Output size factor; undefined = the model's own. */
  factor?: number;
}

export function parseFactor(text: string, flag: string): number {
  const n = Number(text);
  if (!text.trim() || !Number.isFinite(n) || n <= 0 || n > 16) throw new UsageError(`${flag} factor must be a number in (0, 16], got ${text}`);
  return n;
}

/** `ID` or `ID:factor` (the last `:` part when it is a number, so `builtin:tiny-esrgan` and `C:\x.pth` stay whole). */
export function parseUpscaleSpec(spec: string, flag = '--upscale'): UpscaleSpec {
  const m = /^(.+):([^:/\\]+)$/.exec(spec.trim());
  if (m && /^[\d.]+$/.test(m[2]!)) return {id: m[1]!, factor: parseFactor(m[2]!, flag)};
  if (!spec.trim()) throw new UsageError(`${flag} needs an upscaler MODEL_ID`);
  return {id: spec.trim()};
}

export interface ResolvedUpscaler {
  /** Its weight file. */
  path: string;
  /** The architecture detection names (esrgan, swinir, swin2sr, hat, dat), when it does. */
  architecture?: string;
  /** Its native factor, when the file's shapes tell. */
  scale?: number;
}

const ARCHITECTURES = new Set(['esrgan', 'swinir', 'swin2sr', 'hat', 'dat']);

/** The upscaler's weight file and what detection read from it; refused in one line (exit 6) when detection says it is
 * something else. */
export async function resolveUpscaler(id: string, opts: {python: string; env?: NodeJS.ProcessEnv}): Promise<ResolvedUpscaler> {
  const model = await resolveModelForLoad(id, {python: opts.python, env: opts.env});
  if (model.report.kind !== 'upscaler') throw new InvalidModelError(`${id} is not an upscaler (detected: ${model.report.kind})`, {hint: 'upscaling takes super-resolution files: ESRGAN / Real-ESRGAN, SwinIR, DAT, HAT, ...'});
  if (!existsSync(model.path)) throw new NotFoundError(`upscaler file not found: ${model.path}`);
  const variants = model.report.variants ?? [];
  const architecture = variants.find((v) => ARCHITECTURES.has(v));
  const scale = variants.map((v) => /^x(\d)$/.exec(v)?.[1]).find(Boolean);
  return {path: model.path, ...(architecture ? {architecture} : {}), ...(scale ? {scale: Number(scale)} : {})};
}

export async function upscaleFiles(worker: WorkerHandle, model: string, images: string[], outputs: string[], opts: {factor?: number; tile?: number} = {}) {
  return worker.upscale({model, images, outputs, scale: opts.factor, tile: opts.tile});
}
