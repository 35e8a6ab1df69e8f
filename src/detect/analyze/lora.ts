// LoRA measurements: which tensors are adapter factors, the key format (kohya, PEFT, LyCORIS, XLabs, ...),
// and the base family implied by module names and widths. The lora rule turns this into a conclusion.
import type {Facts, Family} from '../types.js';
import type {KeyView} from './keys.js';
import {rootView} from './keys.js';

/** Adapter factor tensors (the part after the module path). */
export const FACTOR_SUFFIX = /(\.lora_(?:down|up)\.weight|\.lora_[AB](?:\.[\w-]+)?\.weight|\.lora_B\.bias|\.lora\.(?:down|up)\.weight|_lora\.(?:down|up)\.weight|_lora[12]\.(?:down|up)\.weight|\.hada_w[12]_[ab]|\.hada_t[12]|\.lokr_w[12](?:_[ab])?|\.lokr_t2|\.oft_blocks|\.oft_diag|\.diff|\.lora_magnitude_vector(?:\.[\w-]+)?(?:\.weight)?)$/;
/** Per-module scalars and extras that ride along with factors. */
export const AUX_SUFFIX = /\.(alpha|dora_scale|scale|diff_b|on_input)$/;

export interface LoraFacts {
  factors: string[];
  /** Module path (suffix removed) -> factor keys. */
  modules: Map<string, string[]>;
  format: string;
  variants: string[];
  evidence: string[];
}

const cache = new WeakMap<Facts, LoraFacts | null>();

export function loraFacts(facts: Facts): LoraFacts | null {
  if (cache.has(facts)) return cache.get(facts) ?? null;
  const r = compute(rootView(facts));
  cache.set(facts, r);
  return r;
}

function compute(v: KeyView): LoraFacts | null {
  // (IA)^3 (LyCORIS): a bare per-module `.weight` vector, marked by its `.on_input` flag.
  const ia3 = new Set(v.names.filter((n) => n.endsWith('.on_input')).map((n) => `${n.slice(0, -'.on_input'.length)}.weight`));
  const factors = v.names.filter((n) => FACTOR_SUFFIX.test(n) || ia3.has(n));
  if (factors.length === 0) return null;
  const aux = v.count(AUX_SUFFIX);
  // Mostly adapter factors: a full model with a merged-in LoRA keeps only a handful of such keys.
  if (factors.length < 0.4 * Math.max(1, v.size - aux)) return null;
  const modules = new Map<string, string[]>();
  for (const f of factors) {
    const m = ia3.has(f) ? f.slice(0, -'.weight'.length) : f.replace(FACTOR_SUFFIX, '');
    const list = modules.get(m);
    if (list) list.push(f);
    else modules.set(m, [f]);
  }
  const evidence = [`${factors.length} of ${v.size} tensors are adapter factors (e.g. ${factors[0]})`];
  const variants: string[] = [];
  const has = (re: RegExp) => factors.some((f) => re.test(f));
  if (has(/\.hada_w/)) variants.push('loha');
  if (has(/\.lokr_w/)) variants.push('lokr');
  if (has(/\.oft_(blocks|diag)/)) variants.push('oft');
  if (ia3.size > 0) variants.push('ia3');
  if (has(/\.diff$/)) variants.push('full');
  if (v.count(/\.dora_scale$/) > 0 || has(/lora_magnitude_vector/)) variants.push('dora');
  const format = formatOf(v, factors, variants);
  if (format === 'bfl-control') variants.push('control-lora');
  return {factors, modules, format, variants, evidence};
}

function formatOf(v: KeyView, factors: string[], variants: string[]): string {
  const first = (re: RegExp) => factors.some((f) => re.test(f));
  if (first(/^lora_transformer_/)) return 'onetrainer';
  if (first(/^lora_(unet|te\d?)_/)) return variants.includes('loha') ? 'lycoris-loha' : variants.includes('lokr') ? 'lycoris-lokr' : 'kohya';
  if (first(/^lycoris_/)) return 'lycoris';
  if (first(/\.processor\.\w+_lora[12]\.(down|up)\.weight$/)) return 'xlabs';
  if (first(/^base_model\.model\./)) return 'peft';
  if (first(/^diffusion_model\./)) return variants.includes('lokr') ? 'bfl-lokr' : 'ai-toolkit';
  if (first(/(to_[kqv]|to_out)_lora\.(down|up)\.weight$|\.lora\.(down|up)\.weight$/)) return 'diffusers-legacy';
  if (first(/^(transformer|unet|text_encoder(_2)?)\./)) return 'diffusers';
  if (first(/^(double_blocks|single_blocks)\./)) {
    // BFL control LoRA: factors plus full norm scales and a widened img_in with a bias on lora_B.
    if (v.find(/\.norm\.(key|query)_norm\.scale$/) && first(/\.lora_B\.bias$/)) return 'bfl-control';
    return 'bfl-peft';
  }
  if (first(/\.lora_(down|up)\.weight$/)) return 'unprefixed';
  return 'peft';
}

/** Canonical module name: wrapper prefixes removed, `.` and `_` unified to `_`. */
export function canonicalModule(module: string): {part: 'denoiser' | 'te' | 'te1' | 'te2' | 'te3'; name: string} {
  let m = module;
  let part: 'denoiser' | 'te' | 'te1' | 'te2' | 'te3' = 'denoiser';
  const te = /^lora_(te\d?)_/.exec(m);
  if (te) {
    part = te[1] as 'te' | 'te1' | 'te2' | 'te3';
    m = m.slice(te[0].length);
  } else if (/^text_encoder_2\./.test(m)) {
    part = 'te2';
    m = m.slice('text_encoder_2.'.length);
  } else if (/^text_encoder\./.test(m)) {
    part = 'te1';
    m = m.slice('text_encoder.'.length);
  } else {
    m = m.replace(/^(lora_unet_|lora_transformer_|lycoris_|base_model\.model\.|transformer\.|unet\.|diffusion_model\.|model\.diffusion_model\.)/, '');
  }
  return {part, name: m.replace(/\./g, '_')};
}

/** The input width a LoRA module adapts: lora_down/lora_A in-dim, LoHa w1_b in-dim, LoKr w1 x w2 in-dims. */
export function moduleInDim(v: KeyView, keys: string[]): number | undefined {
  for (const k of keys) {
    if (/\.lora_(down|A)(\.[\w-]+)?\.weight$|\.lora\.down\.weight$|_lora\.down\.weight$|_lora[12]\.down\.weight$/.test(k)) return v.dim(k, 1);
    if (/\.hada_w1_b$|\.diff$/.test(k)) return v.dim(k, 1);
  }
  const w1 = keys.find((k) => /\.lokr_w1$/.test(k));
  const w2 = keys.find((k) => /\.lokr_w2$/.test(k));
  if (w1 && w2) {
    const a = v.dim(w1, 1);
    const b = v.dim(w2, 1);
    if (a !== undefined && b !== undefined) return a * b;
  }
  return undefined;
}

export interface BaseGuess {
  family: Family;
  evidence: string[];
  /** 3 = names and widths agree, 2 = names alone, 1 = weak. */
  strength: number;
  warnings?: string[];
}
