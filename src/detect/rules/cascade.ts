// Stable Cascade (Würstchen v3): stage C prior (`clip_txt_mapper`) and stage B decoder (`clip_mapper`),
// full or lite by widths; diffusers StableCascadeUNet / Prior / Decoder pipelines.
import type {Facts} from '../types.js';
import type {Rule, RuleMatch} from '../rule-types.js';
import {classEvidence, ditView} from '../analyze/dit.js';
import {component, pipelineClass} from '../analyze/keys.js';

export function matchCascade(facts: Facts): RuleMatch | null {
  const v = ditView(facts);
  const evidence: string[] = [];
  const variants: string[] = [];
  let specificity = 0;
  if (v.has('clf.1.weight') && (v.has('clip_txt_mapper.weight') || v.has('clip_mapper.weight'))) {
    specificity = 55;
    evidence.push(v.describe('clf.1.weight'));
    if (v.has('clip_txt_mapper.weight')) {
      variants.push('prior');
      evidence.push(v.describe('clip_txt_mapper.weight'));
      if (v.dim('clip_txt_mapper.weight', 0) === 1536) variants.push('lite');
    } else {
      variants.push('decoder');
      evidence.push(v.describe('clip_mapper.weight'));
      const cw = v.find(/^down_blocks\.1\.0\.channelwise\.0\.weight$/);
      if (cw && v.dim(cw, -1) === 576) variants.push('lite');
    }
  }
  const cls = classEvidence(facts, /^(StableCascade\w*Pipeline|StableCascadeUNet)$/);
  if (cls) {
    evidence.push(cls);
    specificity = Math.max(specificity, 50);
    const pipe = pipelineClass(facts) ?? '';
    if (variants.length === 0) {
      if (/Prior/.test(pipe) || component(facts, 'prior')) variants.push('prior');
      else if (/Decoder/.test(pipe) || component(facts, 'decoder')) variants.push('decoder');
    }
  }
  if (specificity === 0) return null;
  return {rule: 'cascade', kind: 'checkpoint', family: 'cascade', variants, specificity, evidence};
}

export const cascadeRule: Rule = {id: 'cascade', match: matchCascade};
