// CogVideoX: diffusers CogVideoXTransformer3DModel (`patch_embed.text_proj` + `transformer_blocks.N.norm1.linear`);
// I2V doubles the patch-embed input channels (32 vs 16).
import type {Facts} from '../types.js';
import type {Rule, RuleMatch} from '../rule-types.js';
import {classEvidence, ditView} from '../analyze/dit.js';
import {pipelineClass} from '../analyze/keys.js';

export function matchCogVideoX(facts: Facts): RuleMatch | null {
  const v = ditView(facts);
  const evidence: string[] = [];
  const variants: string[] = [];
  let specificity = 0;
  if (v.has('patch_embed.text_proj.weight') && v.has('patch_embed.proj.weight') && v.hasPrefix('transformer_blocks.0.norm1.linear.')) {
    specificity = 55;
    evidence.push(v.describe('patch_embed.proj.weight'), v.describe('patch_embed.text_proj.weight'));
    const inCh = v.dim('patch_embed.proj.weight', 1);
    variants.push(inCh === 32 ? 'i2v' : 't2v');
  }
  const cls = classEvidence(facts, /^(CogVideoX\w*Pipeline|CogVideoXTransformer3DModel)$/);
  if (cls) {
    evidence.push(cls);
    specificity = Math.max(specificity, 50);
    if (variants.length === 0) variants.push(/ImageToVideo/.test(pipelineClass(facts) ?? '') ? 'i2v' : 't2v');
  }
  if (specificity === 0) return null;
  return {rule: 'cogvideox', kind: 'checkpoint', family: 'cogvideox', variants, specificity, evidence};
}

export const cogVideoXRule: Rule = {id: 'cogvideox', match: matchCogVideoX};
