// Hunyuan-DiT: `mlp_t5` + `extra_embedder` (original layout) or diffusers HunyuanDiT2DModel
// (`text_embedder` + `time_extra_emb`). v1.0 has the 3968-wide extra embedder (size/style conditioning).
import type {Facts} from '../types.js';
import type {Rule, RuleMatch} from '../rule-types.js';
import {classEvidence, ditView} from '../analyze/dit.js';

export function matchHunyuanDit(facts: Facts): RuleMatch | null {
  const v = ditView(facts);
  const evidence: string[] = [];
  const variants: string[] = [];
  let specificity = 0;
  if (v.has('mlp_t5.0.weight') && v.hasPrefix('blocks.0.')) {
    specificity = 55;
    evidence.push(v.describe('mlp_t5.0.weight'));
    if (v.dim('extra_embedder.0.weight', 1) === 3968) variants.push('v1.0');
  } else if (v.hasPrefix('time_extra_emb.') && v.hasPrefix('text_embedder.') && v.hasPrefix('blocks.0.attn2.')) {
    specificity = 50;
    evidence.push('time_extra_emb.* + text_embedder.* + blocks.*.attn2 (diffusers HunyuanDiT layout)');
  }
  const cls = classEvidence(facts, /^(HunyuanDiT\w*Pipeline|HunyuanDiT2DModel)$/);
  if (cls) {
    evidence.push(cls);
    specificity = Math.max(specificity, 50);
  }
  if (specificity === 0) return null;
  return {rule: 'hunyuandit', kind: 'checkpoint', family: 'hunyuandit', variants, specificity, evidence};
}

export const hunyuanDitRule: Rule = {id: 'hunyuandit', match: matchHunyuanDit};
