// Precision of a model's weights: a histogram of weight elements by dtype (scalars and integer index
// tensors ignored), bitsandbytes / GGUF quantization recognized, and byte sizes per dtype.
import type {FileFacts, TensorInfo} from './types.js';
import {own, record} from './own.js';

/** Bits per element; GGUF block formats include their scale overhead. */
const BITS: Record<string, number> = {
  F64: 64, F32: 32, F16: 16, BF16: 16, F8_E4M3: 8, F8_E5M2: 8, F8_E4M3FN: 8, F8_E5M2FNUZ: 8, F8_E4M3FNUZ: 8, F8_E8M0: 8,
  I64: 64, I32: 32, I16: 16, I8: 8, U8: 8, BOOL: 8, U16: 16, U32: 32, U64: 64, F4: 4, F6_E2M3: 6, F6_E3M2: 6,
  Q4_0: 4.5, Q4_1: 5, Q5_0: 5.5, Q5_1: 6, Q8_0: 8.5, Q8_1: 9, Q2_K: 2.625, Q3_K: 3.4375, Q4_K: 4.5, Q5_K: 5.5, Q6_K: 6.5625, Q8_K: 9.125,
  IQ1_S: 1.5625, IQ1_M: 1.75, IQ2_XXS: 2.0625, IQ2_XS: 2.3125, IQ2_S: 2.5, IQ3_XXS: 3.0625, IQ3_S: 3.4375, IQ4_NL: 4.5, IQ4_XS: 4.25, TQ1_0: 1.6875, TQ2_0: 2.0625,
};

const INTEGER = new Set(['I64', 'I32', 'I16', 'BOOL', 'U16', 'U32', 'U64']);

export function numel(shape: number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** 'GGUF_Q4_K' -> 'Q4_K'; safetensors names unchanged. */
export function baseDtype(dtype: string): string {
  return dtype.toUpperCase().replace(/^GGUF_/, '');
}

export function tensorBytes(t: TensorInfo): number {
  const bits = own(BITS, baseDtype(t.dtype)) ?? 16;
  return Math.ceil((numel(t.shape) * bits) / 8);
}

function precisionName(dtype: string, bnb: string | null, gguf: boolean): string {
  const d = baseDtype(dtype);
  if (bnb && d === 'U8') return bnb;
  if (gguf) return `gguf-${d.toLowerCase()}`;
  switch (d) {
    case 'F32': return 'fp32';
    case 'F16': return 'fp16';
    case 'BF16': return 'bf16';
    case 'F64': return 'fp64';
    case 'I8': case 'U8': return 'int8';
    default: return d.startsWith('F8') ? 'fp8' : d.startsWith('F4') || d.startsWith('F6') ? 'fp4' : d.toLowerCase();
  }
}

export interface PrecisionSummary {
  precision: string;
  /** Weight elements per precision name. */
  histogram: Record<string, number>;
  parameters: number;
  weightsBytes: number;
  quantized: boolean;
}

/** Weight tensors only: more than one element and a float or quantized type. */
export function isWeight(t: TensorInfo): boolean {
  return t.shape.length > 0 && numel(t.shape) > 1 && !INTEGER.has(baseDtype(t.dtype));
}

export function summarizePrecision(tensors: Iterable<TensorInfo>, files: FileFacts[]): PrecisionSummary {
  const all = [...tensors];
  const names = all.map((t) => t.name);
  const bnb = names.some((n) => /quant_state\.bitsandbytes__nf4$/.test(n)) ? 'nf4'
    : names.some((n) => /quant_state\.bitsandbytes__fp4$/.test(n)) ? 'fp4'
    : names.some((n) => /\.(absmax|quant_map)$/.test(n)) ? 'nf4'
    : names.some((n) => /\.SCB$/.test(n)) ? 'int8' : null;
  const gguf = files.some((f) => f.format === 'gguf');
  const histogram = record<number>();
  let parameters = 0;
  let weightsBytes = 0;
  for (const t of all) {
    const n = numel(t.shape);
    weightsBytes += tensorBytes(t);
    if (!isWeight(t)) {
      parameters += n;
      continue;
    }
    // bitsandbytes 4-bit packs two weights per byte.
    const count = bnb === 'nf4' || bnb === 'fp4' ? (baseDtype(t.dtype) === 'U8' ? n * 2 : n) : n;
    parameters += count;
    const name = precisionName(t.dtype, bnb, gguf && !['F32', 'F16', 'BF16'].includes(baseDtype(t.dtype)));
    histogram[name] = (histogram[name] ?? 0) + count;
  }
  const entries = Object.entries(histogram).sort((a, b) => b[1] - a[1]);
  const total = entries.reduce((s, [, c]) => s + c, 0);
  let precision = entries[0]?.[0] ?? 'unknown';
  // GGUF files keep norms in F32/F16: the quant type of the bulk names the file.
  if (gguf) {
    const q = entries.find(([k]) => k.startsWith('gguf-'));
    precision = q ? q[0] : `gguf-${precision === 'fp32' ? 'f32' : precision === 'bf16' ? 'bf16' : 'f16'}`;
  } else if (names.some((n) => /(^|\.)scaled_fp8$/.test(n)) && histogram.fp8) {
    // ComfyUI "scaled fp8" files: the large matrices are fp8 (with per-layer scales), the rest stays bf16.
    precision = 'fp8';
  } else if (entries.length > 1 && entries[0]![1] < 0.85 * total) precision = 'mixed';
  const quantized = gguf || !!bnb || /^(fp8|int8|nf4|fp4)$/.test(precision);
  return {precision, histogram, parameters, weightsBytes, quantized};
}

export function dtypeCounts(file: FileFacts): Record<string, number> {
  const out = record<number>();
  for (const t of file.tensors) out[t.dtype] = (out[t.dtype] ?? 0) + 1;
  return out;
}
