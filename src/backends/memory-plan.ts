// The memory plan: from the reports' sizes (quantized weights at their stored size) and the worker's free GPU
// memory, the fastest way to place a pipeline that fits, in this order (issue 11):
//   gpu            everything on the GPU
//   fp8-cast       the denoiser stored in fp8, cast layer by layer to the compute dtype (diffusers'
//                  enable_layerwise_casting): half the denoiser's 16-bit weights, a few % slower
//   model-offload  one component on the GPU at a time (enable_model_cpu_offload): the largest component + work
//   group-offload  groups of leaf layers streamed to the GPU (enable_group_offload, CUDA streams): a few % of
//                  the denoiser + work
//   sequential     every submodule moved in when used (enable_sequential_cpu_offload): slowest, least memory
// and quantization only when asked (--quantize). VAE tiling + slicing when the decode would not fit.
//
// Reference figures the unit tests check against (test/backends/memory-plan.test.ts):
// - diffusers' benchmark table (huggingface.co/datasets/diffusers/benchmarks, FluxTransformer2DModel at 1024x1024):
//   FLUX.1-dev transformer bf16 22.6 GB peak, bnb-nf4 6.7 GB, layerwise upcasting (fp8 storage) 22.2 GB
//   (activations dominate at that batch), group-offload leaf level 0.55 GB; SDXL UNet bf16 5.05 GB.
// - FLUX.1 model card discussion (huggingface.co/black-forest-labs/FLUX.1-schnell/discussions/5, diffusers team):
//   whole FLUX pipeline in bf16 ~33 GB; with model CPU offload ~24 GB (the transformer); sequential offload with
//   VAE tiling + slicing runs on 6 GB.
// - ComfyUI's README: "Works even if you don't have a GPU with: --cpu (slow)", smart memory management "can
//   automatically run models on GPUs with as low as 1GB vram" (its lowvram mode = our sequential/group offload).
import type {ModelReport} from '../detect/types.js';
import {PEAK_OVERHEAD, workingSet} from '../detect/memory.js';
import {familyInfo} from './pipelines.js';
import {UsageError} from '../errors.js';
import {videoDecodeBytes, videoSize, type VideoSize} from '../detect/video-decode.js';
import type {Dtype} from './worker/types.js';

export const MEMORY_MODES = ['auto', 'gpu', 'fp8-cast', 'model-offload', 'group-offload', 'sequential'] as const;
export type MemoryMode = (typeof MEMORY_MODES)[number];
export type MemoryPlanName = Exclude<MemoryMode, 'auto'> | 'cpu';
export const QUANTIZE_MODES = ['none', 'nf4', 'int8', 'fp8'] as const;
export type Quantize = (typeof QUANTIZE_MODES)[number];
const ORDER: Array<Exclude<MemoryMode, 'auto'>> = ['gpu', 'fp8-cast', 'model-offload', 'group-offload', 'sequential'];
/** The worker's names for the plans (quant_load.py). */
export const WORKER_MEMORY = {gpu: 'gpu', 'fp8-cast': 'fp8-cast', 'model-offload': 'model', 'group-offload': 'group', sequential: 'sequential', cpu: 'gpu'} as const;

/** Bytes in GPU memory that each part of a pipeline takes (in the load dtype; quantized weights as stored). */
export interface MemoryNeeds {
  weights: number;
  /** The denoiser's part of `weights`. */
  denoiser: number;
  /** The largest component (model offload holds one at a time). */
  largest: number;
  activations: number;
  decode: number;
  overhead: number;
  /** The denoiser's weights are already quantized/fp8 (GGUF, NF4, fp8): fp8-cast does not shrink them. */
  quantized: boolean;
  /** A video VAE decodes after the denoiser is done (video-decode.ts): under model offload the two are never on the
   *  GPU together. */
  video?: boolean;
}

export interface MemoryDecision {
  plan: MemoryPlanName;
  reason: string;
  vae_tiling: boolean;
  vae_slicing: boolean;
  /** Estimated peak GPU bytes under this plan, and what was free. */
  need_bytes: number;
  free_bytes: number | null;
  /** What to try after an out-of-memory error under this plan (flags), or null. */
  next: string | null;
}

/** Bits per weight of a denoiser quantized at load time. */
const QUANT_BITS: Record<Exclude<Quantize, 'none'>, number> = {nf4: 4.5, int8: 8.5, fp8: 8};
/**
 * The denoiser's share of a whole checkpoint file's parameters, from the published sizes: SD1.5 UNet 860M of
 * 1.07B, SD2 865M of 1.3B, SDXL UNet 2.57B of 3.47B, SD3 medium 2B of 7.7B (with T5), FLUX.1 12B of 16.9B (with
 * CLIP-L + T5-XXL). Files that hold only the denoiser (the report says the rest is missing) are 1.
 */
const WHOLE_FILE_DENOISER_SHARE: Partial<Record<string, number>> = {sd1: 0.81, sd2: 0.67, sdxl: 0.74, 'sdxl-refiner': 0.8, sd3: 0.27, flux: 0.71};
const GIB = 2 ** 30;

function isQuantized(precision: string): boolean {
  return /^(gguf-|nf4|fp4|int8|fp8)/.test(precision) && !/^gguf-(f16|bf16|f32)$/.test(precision);
}

/** Bytes per top-level folder of a diffusers folder's weights (transformer/, text_encoder_2/, vae/ ...). */
function folderBytes(report: ModelReport): Map<string, number> {
  const out = new Map<string, number>();
  for (const f of report.files) {
    if (!/\.(safetensors|bin|ckpt|pt|pth|gguf)$/i.test(f.path) || !f.path.includes('/')) continue;
    const top = f.path.split('/')[0]!;
    out.set(top, (out.get(top) ?? 0) + (f.size ?? 0));
  }
  return out;
}

/** A report's weights split into the denoiser and the rest, in `dtype` bytes (quantized weights as stored). */
function split(report: ModelReport, dtype: Dtype): {denoiser: number; rest: number; largestRest: number; quantized: boolean; denoiserParams: number} {
  const per = dtype === 'float32' ? 4 : 2;
  const quantized = isQuantized(report.precision);
  const total = quantized ? report.memory.weights_bytes : report.parameters * per;
  const folders = folderBytes(report);
  const denoiserName = familyInfo(report.family)?.denoiser ?? 'transformer';
  const stored = [...folders.values()].reduce((s, v) => s + v, 0);
  if (report.format === 'diffusers' && stored > 0) {
    const scale = total / stored;
    const den = (folders.get(denoiserName) ?? folders.get('transformer') ?? folders.get('unet') ?? stored) * scale;
    const others = [...folders.entries()].filter(([k]) => k !== denoiserName).map(([, v]) => v * scale);
    return {denoiser: den, rest: total - den, largestRest: Math.max(0, ...others), quantized, denoiserParams: report.parameters * (den / total || 0)};
  }
  const missing = report.missing.map((m) => m.toLowerCase());
  const onlyDenoiser = missing.includes('vae') || missing.some((m) => m.startsWith('text_encoder'));
  const share = onlyDenoiser ? 1 : WHOLE_FILE_DENOISER_SHARE[report.family] ?? 0.75;
  const den = total * share;
  return {denoiser: den, rest: total - den, largestRest: total - den, quantized, denoiserParams: report.parameters * share};
}

/**
 * What a pipeline needs: `report` is the checkpoint (or the transformer-only file), `base` the pipeline it goes
 * into when it holds only the denoiser (its text encoders and VAE count, its own denoiser does not).
 */
export function memoryNeeds(report: ModelReport, dtype: Dtype, opts: {quantize?: Quantize; base?: ModelReport | null; video?: Partial<VideoSize>} = {}): MemoryNeeds {
  const main = split(report, dtype);
  let rest = main.rest;
  let largestRest = main.largestRest;
  if (opts.base && main.rest === 0) {
    const b = split(opts.base, dtype);
    rest = b.rest;
    largestRest = b.largestRest;
  }
  let denoiser = main.denoiser;
  const q = opts.quantize ?? 'none';
  if (q !== 'none' && !main.quantized) denoiser = (main.denoiserParams * QUANT_BITS[q]) / 8;
  const bytes = dtype === 'float32' ? 4 : 2;
  const family = report.family !== 'unknown' ? report.family : (opts.base?.family ?? 'unknown');
  const {activations, decode: imageDecode} = workingSet(family, bytes);
  // Video families: frames x size through the family's video VAE (video-decode.ts) at the clip asked for, else the
  // family's default clip.
  const videoDecode = videoDecodeBytes(family, opts.video ?? {}, bytes);
  return {
    weights: denoiser + rest, denoiser, largest: Math.max(denoiser, largestRest), activations: activations * clipScale(family, opts.video),
    decode: videoDecode ?? imageDecode,
    overhead: PEAK_OVERHEAD, quantized: main.quantized || q !== 'none', ...(videoDecode !== null ? {video: true} : {}),
  };
}

/** The denoiser's tokens for the clip asked for over those of the family's default clip (1 for images). */
function clipScale(family: ModelReport['family'], video: Partial<VideoSize> | undefined): number {
  const clip = video ? videoSize(family, video) : null;
  const base = videoSize(family);
  if (!clip || !base) return 1;
  const tokens = (s: VideoSize) => s.width * s.height * (Math.floor((s.frames - 1) / 4) + 1);
  return tokens(clip) / tokens(base);
}

/** Peak GPU bytes of one plan; `tiled`: the VAE decodes in tiles (about 1/8 of the full-frame working set). */
export function planNeed(plan: Exclude<MemoryMode, 'auto'>, n: MemoryNeeds, tiled = false): number {
  const decode = tiled ? n.decode / 8 : n.decode;
  const work = Math.max(n.activations, decode) + n.overhead;
  switch (plan) {
    case 'gpu': return n.weights + work;
    case 'fp8-cast': return n.weights - n.denoiser / 2 + work;
    // A video VAE decodes alone (the denoiser already offloaded): the larger of the two phases.
    case 'model-offload': return n.video ? Math.max(n.largest + n.activations, decode) + n.overhead : n.largest + work;
    // Leaf-level groups: diffusers measured 0.55 GB for FLUX's 22.6 GB transformer (a few % of the weights).
    case 'group-offload': return n.denoiser * 0.03 + work;
    case 'sequential': return n.denoiser * 0.01 + work;
  }
}

function gib(n: number): string {
  return `${(n / GIB).toFixed(1)} GiB`;
}

function applicable(plan: Exclude<MemoryMode, 'auto'>, n: MemoryNeeds, dtype: Dtype): boolean {
  return plan !== 'fp8-cast' || (!n.quantized && dtype !== 'float32');
}

/** The flags to try after an out-of-memory error under `plan`. */
export function nextPlanHint(plan: MemoryPlanName, quantize: Quantize, device: string): string | null {
  if (device !== 'cuda') return quantize === 'none' ? '--quantize int8 or a smaller --width/--height' : 'a smaller --width/--height';
  const later = ORDER.slice(ORDER.indexOf(plan as Exclude<MemoryMode, 'auto'>) + 1).filter((p) => p !== 'fp8-cast' && p !== 'group-offload');
  const parts = later.length ? [`--memory ${later[later.length - 1]}`] : [];
  if (quantize === 'none') parts.push('--quantize nf4');
  else if (quantize !== 'nf4') parts.push('--quantize nf4');
  return parts.length ? parts.join(' or ') : 'a smaller --width/--height';
}

/** The memory plan for a worker on `device` with `free` bytes of GPU memory (null: unknown). */
export function decideMemory(opts: {needs: MemoryNeeds; device: string; free: number | null; requested?: MemoryMode; dtype: Dtype; quantize?: Quantize}): MemoryDecision {
  const {needs, device, free, dtype} = opts;
  const requested = opts.requested ?? 'auto';
  const quantize = opts.quantize ?? 'none';
  const q = quantize !== 'none' ? ` with --quantize ${quantize}` : '';
  if (device !== 'cuda') {
    const need = planNeed('gpu', needs);
    return {plan: 'cpu', reason: `the worker runs on ${device}: weights and work stay in RAM (~${gib(need)})`, vae_tiling: false, vae_slicing: false, need_bytes: Math.round(need), free_bytes: free, next: nextPlanHint('cpu', quantize, device)};
  }
  // A video model's reason names its decode estimate, which decides the tiling.
  const decodeNote = (tiled: boolean) => needs.video ? `; video decode ~${gib(needs.decode)}${tiled ? `, ~${gib(needs.decode / 8)} tiled` : ''}` : '';
  const decision = (plan: Exclude<MemoryMode, 'auto'>, reason: string, tiled: boolean): MemoryDecision => ({
    plan, reason: reason + decodeNote(tiled), vae_tiling: tiled, vae_slicing: tiled, need_bytes: Math.round(planNeed(plan, needs, tiled)), free_bytes: free,
    next: nextPlanHint(plan, quantize, device),
  });
  if (requested !== 'auto') {
    if (!applicable(requested, needs, dtype)) {
      throw new UsageError(`--memory fp8-cast needs 16-bit weights; this model's weights are already ${needs.quantized ? 'quantized' : 'float32'}`, {hint: 'use --memory model-offload or --dtype bfloat16'});
    }
    const tiled = free !== null && planNeed(requested, needs) > free;
    const fits = free === null ? '' : planNeed(requested, needs, tiled) <= free ? `, needs ~${gib(planNeed(requested, needs, tiled))} of ${gib(free)} free` : `; it needs ~${gib(planNeed(requested, needs, tiled))} but ${gib(free)} is free`;
    return decision(requested, `--memory ${requested}${q}${fits}`, tiled);
  }
  if (free === null) return decision('gpu', `free GPU memory unknown: everything on the GPU${q}`, false);
  for (const plan of ORDER) {
    if (!applicable(plan, needs, dtype)) continue;
    for (const tiled of [false, true]) {
      const need = planNeed(plan, needs, tiled);
      if (need > free) continue;
      const why = plan === 'gpu' ? 'everything fits' : `the model needs ~${gib(planNeed('gpu', needs))} on the GPU`;
      return decision(plan, `${why}; ${plan}${tiled ? ' with VAE tiling' : ''}${q} needs ~${gib(need)} of ${gib(free)} free`, tiled);
    }
  }
  const last = decision('sequential', `nothing fits ${gib(free)} free: sequential offload with VAE tiling${q} still needs ~${gib(planNeed('sequential', needs, true))}`, true);
  return last;
}

/**
 * inspect --vram: which --memory / --quantize would make the model fit `free` bytes (CUDA assumed): the plan
 * `--memory auto` would pick, and when that offloads, the quantization that keeps it all on the GPU instead.
 */
export function fitAdvice(report: ModelReport, free: number, base?: ModelReport | null): {fits: boolean; flags: string; need_bytes: number; line: string; alternative?: string} {
  const dtype: Dtype = familyInfo(report.family)?.cudaDtype ?? 'float16';
  const already = isQuantized(report.precision);
  const tryPlan = (quantize: Quantize) => decideMemory({needs: memoryNeeds(report, dtype, {quantize, base}), device: 'cuda', free, dtype, quantize});
  const flagsOf = (d: MemoryDecision, quantize: Quantize) =>
    [d.plan === 'gpu' ? '' : `--memory ${d.plan}`, quantize === 'none' ? '' : `--quantize ${quantize}`].filter(Boolean).join(' ');
  const plain = tryPlan('none');
  let alternative: string | undefined;
  if (!already && /offload|sequential/.test(plain.plan)) {
    for (const quantize of ['fp8', 'int8', 'nf4'] as const) {
      const d = tryPlan(quantize);
      if (d.plan === 'gpu' && d.need_bytes <= free) {
        alternative = `--quantize ${quantize}`;
        break;
      }
    }
  }
  const tail = (alternative ? `, or all on the GPU with ${alternative}` : '') + (plain.vae_tiling ? ' (VAE tiling)' : '');
  if (plain.need_bytes <= free) {
    const flags = flagsOf(plain, 'none');
    return {fits: true, flags, need_bytes: plain.need_bytes, line: `fits ${gib(free)} ${flags ? `with ${flags}` : 'as is'} (~${gib(plain.need_bytes)} peak)${tail}`, ...(alternative ? {alternative} : {})};
  }
  if (!already) {
    for (const quantize of ['fp8', 'int8', 'nf4'] as const) {
      const d = tryPlan(quantize);
      if (d.need_bytes <= free) {
        const flags = flagsOf(d, quantize);
        return {fits: true, flags, need_bytes: d.need_bytes, line: `fits ${gib(free)} only quantized: ${flags} (~${gib(d.need_bytes)} peak)`};
      }
    }
  }
  return {fits: false, flags: '', need_bytes: plain.need_bytes, line: `does not fit ${gib(free)}: even --memory sequential${already ? '' : ' --quantize nf4'} needs ~${gib(already ? plain.need_bytes : tryPlan('nf4').need_bytes)}`};
}

/** The memory decision as --json, the PNG's mgen chunk and serve's /v1/model show it. */
export function memorySummary(plan: {memory_plan?: string; memory_reason?: string; quantize?: string; vae_tiling?: boolean; vae_slicing?: boolean; memory_next?: string | null}, load?: {memory?: string; notes?: string[]}): Record<string, unknown> {
  return {
    plan: load?.memory === 'cpu' ? 'cpu' : plan.memory_plan ?? 'gpu',
    reason: plan.memory_reason ?? '',
    quantize: plan.quantize ?? 'none',
    vae_tiling: Boolean(plan.vae_tiling),
    vae_slicing: Boolean(plan.vae_slicing),
    ...(plan.memory_next ? {on_oom: `try ${plan.memory_next}`} : {}),
    ...(load?.notes?.length ? {notes: load.notes} : {}),
  };
}

/** `--vram 8GiB` / `8GB` / `8192MiB` / `8` (GiB) -> bytes; a bad value is a usage error. */
export function parseVram(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(gib|gb|g|mib|mb|m)?\s*$/i.exec(text);
  if (!m) throw new UsageError(`--vram ${text}: expected a size such as 8GiB, 12GB or 6144MiB (or "local")`);
  const unit = (m[2] ?? 'gib').toLowerCase();
  const n = Number(m[1]);
  const bytes = unit.startsWith('g') ? n * (unit === 'gb' ? 1e9 : GIB) : n * (unit === 'mb' ? 1e6 : 2 ** 20);
  if (!(bytes > 0)) throw new UsageError(`--vram ${text}: must be more than 0`);
  return Math.round(bytes);
}
