// IP-Adapters: `image_proj.*` + `ip_adapter.N.to_k_ip` (single file or the .bin nested dict), XLabs FLUX
// (`double_blocks.N.processor.ip_adapter_*` + `ip_adapter_proj_model`). Base from to_k_ip in-dim;
// plus (Resampler: latents + layers), standard (proj + norm), full (MLP proj), FaceID (perceiver / 512-d input).
import type {Facts, Family} from '../types.js';
import type {Rule, RuleMatch} from '../rule-types.js';
import {rootView} from '../analyze/keys.js';

const CONTEXT: Record<number, Family> = {768: 'sd1', 1024: 'sd2', 2048: 'sdxl'};

export function matchIpAdapter(facts: Facts): RuleMatch | null {
  const v = rootView(facts);
  const evidence: string[] = [];
  const variants: string[] = [];
  const warnings: string[] = [];
  const xlabs = v.find(/^double_blocks\.\d+\.processor\.ip_adapter_double_stream_k_proj\.weight$/);
  if (xlabs || (v.hasPrefix('ip_adapter_proj_model.') && v.hasPrefix('double_blocks.'))) {
    evidence.push(xlabs ? v.describe(xlabs) : 'ip_adapter_proj_model.* with double_blocks.* (XLabs FLUX IP-Adapter)');
    return {rule: 'ip-adapter', kind: 'ip-adapter', family: 'flux', variants: ['xlabs'], specificity: 85, evidence};
  }
  const toK = v.find(/^ip_adapter\.\d+\.to_k_ip\.weight$/);
  if (!toK || !v.hasPrefix('image_proj.')) return null;
  evidence.push(v.describe(toK));
  const ctx = v.dim(toK, 1);
  const family = ctx !== undefined ? CONTEXT[ctx] ?? 'unknown' : 'unknown';
  if (v.has('image_proj.latents') && v.hasPrefix('image_proj.layers.')) {
    evidence.push(`${v.describe('image_proj.latents')} + image_proj.layers.* (Resampler)`);
    if (/face/i.test(facts.name)) {
      variants.push('plus-face');
      warnings.push('IP-Adapter Plus and Plus-Face have the same shapes; "face" taken from the file name');
    } else variants.push('plus');
  } else if (v.hasPrefix('image_proj.perceiver_resampler.') || v.dim('image_proj.proj.0.weight', 1) === 512) {
    variants.push('faceid');
    evidence.push('FaceID image projection (insightface embedding input)');
  } else if (v.has('image_proj.proj.0.weight')) {
    variants.push('full');
    evidence.push(v.describe('image_proj.proj.0.weight'));
  } else if (v.has('image_proj.proj.weight')) {
    variants.push('standard');
    evidence.push(v.describe('image_proj.proj.weight'));
    const imgIn = v.dim('image_proj.proj.weight', 1);
    if (imgIn === 1280 && family === 'sdxl') variants.push('vit-h');
  }
  return {rule: 'ip-adapter', kind: 'ip-adapter', family, variants, specificity: 85, evidence, warnings};
}

export const ipAdapterRule: Rule = {id: 'ip-adapter', match: matchIpAdapter};
