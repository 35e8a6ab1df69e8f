// PixArt α / Σ: `t_block.1` + `x_embedder.proj` (original layout, hidden 1152); α has micro-condition
// embedders (`ar_embedder` / diffusers `resolution_embedder`). Diffusers PixArtTransformer2DModel.
import type {Facts} from '../types.js';
import type {Rule, RuleMatch} from '../rule-types.js';
import {classEvidence, ditView} from '../analyze/dit.js';
import {pipelineClass} from '../analyze/keys.js';

export function matchPixart(facts: Facts): RuleMatch | null {
  const v = ditView(facts);
  const evidence: string[] = [];
  const variants: string[] = [];
  let specificity = 0;
  if (v.has('t_block.1.weight') && v.has('x_embedder.proj.weight') && v.hasPrefix('blocks.0.')) {
    specificity = 55;
    evidence.push(v.describe('t_block.1.weight'), v.describe('x_embedder.proj.weight'));
    variants.push(v.hasPrefix('ar_embedder.') || v.hasPrefix('csize_embedder.') ? 'alpha' : 'sigma');
  } else if (v.hasPrefix('adaln_single.emb.timestep_embedder.') && v.has('pos_embed.proj.weight') && v.hasPrefix('caption_projection.') && v.find(/^transformer_blocks\.0\.attn2\.to_k\.weight$/)) {
    specificity = 50;
    evidence.push(v.describe('pos_embed.proj.weight'), 'adaln_single.* + caption_projection.* + transformer_blocks.*.attn2 (diffusers PixArt layout)');
    variants.push(v.hasPrefix('adaln_single.emb.resolution_embedder.') ? 'alpha' : 'sigma');
  }
  const cls = classEvidence(facts, /^(PixArt(Alpha|Sigma)\w*Pipeline|PixArtTransformer2DModel)$/);
  if (cls) {
    evidence.push(cls);
    specificity = Math.max(specificity, 50);
    const pipe = pipelineClass(facts) ?? '';
    if (variants.length === 0 && /Alpha/.test(pipe)) variants.push('alpha');
    if (variants.length === 0 && /Sigma/.test(pipe)) variants.push('sigma');
  }
  if (specificity === 0) return null;
  return {rule: 'pixart', kind: 'checkpoint', family: 'pixart', variants, specificity, evidence};
}

export const pixartRule: Rule = {id: 'pixart', match: matchPixart};
