// SANA: linear-attention DiT with `blocks.N.cross_attn.q_linear` / `kv_linear` (original layout) or
// diffusers SanaTransformer2DModel; DC-AE VAE.
import type {Facts} from '../types.js';
import type {Rule, RuleMatch} from '../rule-types.js';
import {classEvidence, ditView} from '../analyze/dit.js';

export function matchSana(facts: Facts): RuleMatch | null {
  const v = ditView(facts);
  const evidence: string[] = [];
  let specificity = 0;
  const anchor = v.find(/^blocks\.0\.cross_attn\.(q_linear|kv_linear)\.weight$/);
  if (anchor) {
    specificity = 55;
    evidence.push(v.describe(anchor));
    if (v.has('x_embedder.proj.weight')) evidence.push(v.describe('x_embedder.proj.weight'));
  } else if (v.hasPrefix('transformer_blocks.0.ff.conv_inverted.') && v.hasPrefix('caption_norm.')) {
    specificity = 50;
    evidence.push('transformer_blocks.*.ff.conv_inverted + caption_norm (diffusers SANA layout)');
  }
  const cls = classEvidence(facts, /^(Sana\w*Pipeline|SanaTransformer2DModel)$/);
  if (cls) {
    evidence.push(cls);
    specificity = Math.max(specificity, 50);
  }
  if (specificity === 0) return null;
  return {rule: 'sana', kind: 'checkpoint', family: 'sana', variants: [], specificity, evidence, prediction: 'flow'};
}

export const sanaRule: Rule = {id: 'sana', match: matchSana};
