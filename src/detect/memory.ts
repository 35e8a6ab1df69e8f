// Peak VRAM estimate for one generation at the family's default size.
//
//   peak(p) = weights(p) + max(activations(p), vae_decode(p)) + overhead
//
//   weights(p)      parameters x bytes(p) (fp16/bf16: 2, fp32: 4); quantized weights (fp8, nf4, int8, GGUF)
//                   keep their stored size, since they are dequantized layer by layer.
//   activations(p)  tokens x width x bytes(p) x 24, where tokens = (W / vae_scale) x (H / vae_scale) / patch²
//                   (x latent frames for video: (frames - 1) / 4 + 1) and width is the denoiser's hidden size.
//                   24 covers a batch of 2 (classifier-free guidance), the MLP's 4x expansion, q/k/v/out
//                   and residual copies alive at once with memory-efficient attention.
//   vae_decode(p)   W x H x 128 channels x bytes(p) x 6 (the widest decoder stage at full resolution, a few
//                   buffers alive); video: frames x size through the family's video VAE (video-decode.ts).
//   overhead        512 MiB: CUDA context, allocator slack, scheduler state.
// Adapters that are loaded into or beside a base pipeline (LoRA, textual inversion, IP-Adapter, hypernetwork,
// ControlNet, T2I-Adapter) are estimated as their own weights: what they add to the base's peak. Components that
// load on their own (VAE, encoders, upscalers) are their own weights plus the overhead.
import {FAMILIES} from './families.js';
import type {Family, Kind} from './types.js';
import {videoDecodeBytes} from './video-decode.js';

const OVERHEAD = 512 * 1024 * 1024;
/** Kinds whose estimate is what they add to a base pipeline's peak. */
export const ADDS_TO_BASE: readonly Kind[] = ['lora', 'textual-inversion', 'ip-adapter', 'hypernetwork', 'aesthetic-embedding', 'controlnet', 't2i-adapter'];
const BYTES = {fp16: 2, bf16: 2, fp32: 4} as const;

/** The working set of one generation at the family's default size in `bytes` per element: the denoiser's
 *  activations and the VAE decode (both formulas above). Zero for kinds and families without them. */
export function workingSet(family: Family, bytes: number): {activations: number; decode: number} {
  const info = FAMILIES[family];
  if (!info || family === 'unknown') return {activations: 0, decode: 0};
  const {width, height} = info.defaults;
  const frames = info.frames ? Math.floor((info.frames - 1) / 4) + 1 : 1;
  const tokens = ((width / info.vaeScale) * (height / info.vaeScale)) / (info.patch * info.patch) * frames;
  return {activations: tokens * info.width * bytes * 24, decode: videoDecodeBytes(family, {}, bytes) ?? width * height * 128 * bytes * 6 * frames};
}

export const PEAK_OVERHEAD = OVERHEAD;

export function estimatePeakVram(opts: {family: Family; kind: Kind; parameters: number; weightsBytes: number; quantized: boolean}): {fp16: number; bf16: number; fp32: number} {
  const out = {fp16: 0, bf16: 0, fp32: 0};
  for (const p of ['fp16', 'bf16', 'fp32'] as const) {
    const b = BYTES[p];
    const weights = opts.quantized ? opts.weightsBytes : opts.parameters * b;
    if (ADDS_TO_BASE.includes(opts.kind)) {
      out[p] = weights;
      continue;
    }
    if (opts.kind !== 'checkpoint' || opts.family === 'unknown') {
      out[p] = weights + OVERHEAD;
      continue;
    }
    const {activations, decode} = workingSet(opts.family, b);
    out[p] = Math.round(weights + Math.max(activations, decode) + OVERHEAD);
  }
  return out;
}
