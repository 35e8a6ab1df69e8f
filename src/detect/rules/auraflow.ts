// AuraFlow: `double_layers.N.attn.w1q/w2q` + `cond_seq_linear` (original layout) or diffusers
// AuraFlowTransformer2DModel (`joint_transformer_blocks` + `register_tokens`). GGUF arch `aura`.
import type {Facts} from '../types.js';
import type {Rule, RuleMatch} from '../rule-types.js';
import {classEvidence, ditView, ggufEvidence} from '../analyze/dit.js';

export function matchAuraflow(facts: Facts): RuleMatch | null {
  const v = ditView(facts);
  const evidence: string[] = [];
  let specificity = 0;
  if (v.has('double_layers.0.attn.w1q.weight') && v.has('double_layers.0.attn.w2q.weight')) {
    specificity = 55;
    evidence.push(v.describe('double_layers.0.attn.w1q.weight'));
    if (v.has('cond_seq_linear.weight')) evidence.push(v.describe('cond_seq_linear.weight'));
  } else if (v.hasPrefix('joint_transformer_blocks.0.') && v.has('register_tokens')) {
    specificity = 50;
    evidence.push('joint_transformer_blocks.* + register_tokens (diffusers AuraFlow layout)');
  }
  const cls = classEvidence(facts, /^(AuraFlowPipeline|AuraFlowTransformer2DModel)$/);
  if (cls) {
    evidence.push(cls);
    specificity = Math.max(specificity, 50);
  }
  const gguf = ggufEvidence(facts, ['aura', 'auraflow']);
  if (gguf) {
    evidence.push(gguf);
    specificity = Math.max(specificity, 40);
  }
  if (specificity === 0) return null;
  return {rule: 'auraflow', kind: 'checkpoint', family: 'auraflow', variants: [], specificity, evidence, prediction: 'flow'};
}

export const auraflowRule: Rule = {id: 'auraflow', match: matchAuraflow};
