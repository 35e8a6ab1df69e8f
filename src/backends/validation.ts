// The one request validator of `mgen generate` and `mgen serve`: the checks that need no loaded model (the
// family's size multiple, frame counts, ranges), run before the worker starts on the CLI and on every request in
// serve; and Ajv2020 for serve's route schemas (pipeline schemas use 2020-12 keywords) with messages naming the field.
import {createRequire} from 'node:module';
import type {Ajv2020} from 'ajv/dist/2020.js';
import type {ErrorObject, ValidateFunction} from 'ajv';
import {FAMILIES} from '../detect/families.js';
import type {Family} from '../detect/types.js';
import {UsageError} from '../errors.js';

/** Ajv loads on first use (~0.2 s): `generate` validates with this module before it knows it needs no schema. */
export function makeAjv(): Ajv2020 {
  const {Ajv2020: Ajv} = createRequire(import.meta.url)('ajv/dist/2020.js') as typeof import('ajv/dist/2020.js');
  return new Ajv({strict: false, allErrors: false, useDefaults: false, coerceTypes: false, removeAdditional: false});
}

/** The request field an Ajv error is about ("width", "params.eta", "loras[0].name"). */
export function errorField(e: ErrorObject): string {
  const parts = e.instancePath.split('/').filter(Boolean).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  const p = e.params as {missingProperty?: string; additionalProperty?: string};
  if (e.keyword === 'required' && p.missingProperty) parts.push(p.missingProperty);
  if (e.keyword === 'additionalProperties' && p.additionalProperty) parts.push(p.additionalProperty);
  let out = '';
  for (const part of parts) out += /^\d+$/.test(part) ? `[${part}]` : out ? `.${part}` : part;
  return out || '(body)';
}

/** One line naming the field: "width: must be multiple of 8", "foo: unknown field". */
export function describeError(e: ErrorObject): string {
  const field = errorField(e);
  if (e.keyword === 'additionalProperties') return `${field}: unknown field`;
  if (e.keyword === 'required') return `${field}: required`;
  if (e.keyword === 'enum') return `${field}: must be one of ${JSON.stringify((e.params as {allowedValues: unknown[]}).allowedValues)}`;
  return `${field}: ${e.message ?? 'invalid'}`;
}

export type {ValidateFunction};

// -- generation requests ------------------------------------------------------------------------------

/** What a request asks for, in the session's terms (GenerateInput); fields left out take the model's defaults. */
export interface RequestValues {
  width?: number | null;
  height?: number | null;
  steps?: number | null;
  guidance?: number | null;
  numImages?: number | null;
  strength?: number | null;
  seed?: number | null;
  params?: Record<string, unknown>;
  /** Video frame count (the pipeline's num_frames). */
  frames?: number | null;
  /** A1111's prompt language or the text as written (null: a1111 where the text encoders are CLIP only). */
  promptSyntax?: string | null;
  /** The hires fix's target size and steps (src/backends/hires.ts). */
  hires?: {width: number; height: number; steps?: number | null} | null;
}

/** Upper bounds (serve's caps); the CLI has none. */
export interface RequestLimits {
  maxSize?: number;
  maxSteps?: number;
  maxImages?: number;
}

/** How a field is named to the user: serve names the request field, the CLI its flag. */
export type FieldNamer = (field: string) => string;

export const requestFieldName: FieldNamer = (field) => field;

const FLAGS: Record<string, string> = {
  width: '--width', height: '--height', steps: '--steps', guidance_scale: '--guidance', num_images: '--num-images',
  strength: '--strength', seed: '--seed', frames: '--frames', prompt_syntax: '--prompt-syntax',
};
export const flagName: FieldNamer = (field) => FLAGS[field] ?? `--param ${field}`;

/**
 * Width and height must be multiples of this: the VAE's downscale times the denoiser's patch (8 for SD/SDXL latents,
 * 16 for FLUX and SD3's 2x2 patches, 32 for SANA and LTX-Video). Stable Cascade resizes any size itself: 8.
 */
export function sizeMultiple(family: Family | null | undefined): number {
  const f = family ? FAMILIES[family] : undefined;
  if (!f || family === 'cascade') return 8;
  return Math.max(8, f.vaeScale * f.patch);
}

/** Video families: frame counts must be k*n+1 (the VAE compresses time by k). */
export function frameMultiple(family: Family | null | undefined): number | null {
  if (!family || FAMILIES[family]?.frames === undefined) return null;
  return family === 'ltxv' ? 8 : 4;
}

/** The valid values nearest to v on the grid offset + k*step (k >= 0, value >= min): one, or two when equidistant. */
function nearest(v: number, step: number, offset: number, min: number): number[] {
  const below = offset + Math.floor((v - offset) / step) * step;
  const above = below + step;
  const cands = [below, above].filter((c) => c >= min);
  if (cands.length < 2) return cands.length ? cands : [Math.max(min, above)];
  const d0 = v - below;
  const d1 = above - v;
  return d0 === d1 ? [below, above] : d0 < d1 ? [below] : [above];
}

function tryText(vals: number[]): string {
  return `(try ${vals.join(' or ')})`;
}

export const PROMPT_SYNTAXES = ['a1111', 'plain'];
/** Families whose text encoders are CLIP only: A1111's prompt language (weights, BREAK, chunks) applies. */
export const A1111_FAMILIES: ReadonlySet<Family> = new Set<Family>(['sd1', 'sd2', 'sdxl', 'sdxl-refiner']);

/**
 * Checks a request against the rules that need no loaded model. Throws a UsageError (exit 2; serve: HTTP 400 with
 * `param`) whose one line names the field, the value and the nearest valid values.
 */
export function validateRequest(
  r: RequestValues,
  o: {family?: Family | null; limits?: RequestLimits; name?: FieldNamer} = {},
): void {
  const name = o.name ?? requestFieldName;
  const fam = o.family && o.family !== 'unknown' ? o.family : null;
  const forFam = fam ? ` for ${fam}` : '';
  const fail = (field: string, text: string): never => {
    throw new UsageError(`${name(field)} ${text}`, {field});
  };
  const lim = o.limits ?? {};
  const m = sizeMultiple(fam);
  const sizes: Array<['width' | 'height' | 'hires.width' | 'hires.height', number | null | undefined]> = [
    ['width', r.width], ['height', r.height], ['hires.width', r.hires?.width], ['hires.height', r.hires?.height],
  ];
  for (const [field, v] of sizes) {
    if (v == null) continue;
    if (!Number.isInteger(v)) fail(field, `${v} must be a whole number of pixels`);
    if (v < m) fail(field, `${v} is too small${forFam} (try ${m})`);
    if (lim.maxSize !== undefined && v > lim.maxSize) fail(field, `${v} is above the limit of ${lim.maxSize} ${tryText([Math.floor(lim.maxSize / m) * m])}`);
    if (v % m !== 0) fail(field, `${v} is not a multiple of ${m}${forFam} ${tryText(nearest(v, m, 0, m))}`);
  }
  if (r.steps != null) {
    if (!Number.isInteger(r.steps) || r.steps < 1) fail('steps', `${r.steps} must be a whole number >= 1`);
    if (lim.maxSteps !== undefined && r.steps > lim.maxSteps) fail('steps', `${r.steps} is above the limit of ${lim.maxSteps}`);
  }
  const hs = r.hires?.steps;
  if (hs != null) {
    if (!Number.isInteger(hs) || hs < 1) fail('hires.steps', `${hs} must be a whole number >= 1`);
    if (lim.maxSteps !== undefined && hs > lim.maxSteps) fail('hires.steps', `${hs} is above the limit of ${lim.maxSteps}`);
  }
  if (r.guidance != null && (!Number.isFinite(r.guidance) || r.guidance < 0 || r.guidance > 100)) fail('guidance_scale', `${r.guidance} must be between 0 and 100`);
  if (r.numImages != null) {
    if (!Number.isInteger(r.numImages) || r.numImages < 1) fail('num_images', `${r.numImages} must be a whole number >= 1`);
    if (lim.maxImages !== undefined && r.numImages > lim.maxImages) fail('num_images', `${r.numImages} is above the limit of ${lim.maxImages}`);
  }
  if (r.strength != null && !(r.strength >= 0 && r.strength <= 1)) fail('strength', `${r.strength} must be between 0 and 1`);
  if (r.seed != null && (!Number.isInteger(r.seed) || r.seed < 0)) fail('seed', `${r.seed} must be a whole number >= 0`);
  if (r.promptSyntax != null) {
    if (!PROMPT_SYNTAXES.includes(r.promptSyntax)) fail('prompt_syntax', `${r.promptSyntax} must be one of ${PROMPT_SYNTAXES.join(', ')}`);
    if (r.promptSyntax === 'a1111' && fam && !A1111_FAMILIES.has(fam)) {
      fail('prompt_syntax', `a1111 needs CLIP text encoders (sd1, sd2, sdxl); ${fam} has others (use plain)`);
    }
  }
  const fm = frameMultiple(fam);
  for (const [field, frames] of [['frames', r.frames], ['num_frames', r.params?.num_frames]] as const) {
    if (fm === null || frames === undefined || frames === null) continue;
    const n = Number(frames);
    if (typeof frames !== 'number' || !Number.isInteger(n) || n < 1) fail(field, `${String(frames)} must be a whole number >= 1`);
    if ((n - 1) % fm !== 0) fail(field, `${n} must be ${fm}k+1 frames${forFam} ${tryText(nearest(n, fm, 1, 1))}`);
  }
}

// -- load choices ---------------------------------------------------------------------------------------------

/**
 * `--quantize` against the device and the model, before anything loads (exit 2): NF4 needs bitsandbytes' CUDA
 * kernels; int8/fp8 run on CUDA (bitsandbytes / fp8 storage) and on CPU (torchao); weights that are already
 * quantized (GGUF, NF4, fp8 files) are not quantized again.
 */
export function validateQuantize(quantize: string | undefined, device: string, precision: string): void {
  if (!quantize || quantize === 'none') return;
  if (!['nf4', 'int8', 'fp8'].includes(quantize)) throw new UsageError(`--quantize ${quantize}: expected none, nf4, int8 or fp8`);
  if (quantize === 'nf4' && device !== 'cuda') {
    throw new UsageError(`--quantize nf4 needs bitsandbytes' 4-bit kernels on a CUDA GPU; this worker runs on ${device}`, {hint: 'use --quantize int8 or fp8: torchao runs them on CPU'});
  }
  if (device === 'mps') throw new UsageError(`--quantize ${quantize} has no backend on mps (bitsandbytes needs CUDA, torchao CPU or CUDA)`);
  if (/^(gguf-(?!f16|bf16|f32)|nf4|fp4|int8|fp8)/.test(precision)) {
    throw new UsageError(`--quantize ${quantize}: the model's weights are already ${precision}`, {hint: 'leave --quantize out for quantized files'});
  }
}
