// Stable Diffusion 1.x: UNet cross-attention width 768 (CLIP-L), LDM or diffusers keys or unet config.
import type {Facts} from '../types.js';
import type {Rule, RuleMatch} from '../rule-types.js';
import {sdClassify, sdInputVariants} from '../analyze/sd.js';
import {predictionCue} from '../analyze/prediction.js';

export function matchSd1(facts: Facts): RuleMatch | null {
  const c = sdClassify(facts);
  if (!c || c.family !== 'sd1') return null;
  const {variants, evidence} = sdInputVariants(c, facts);
  const pred = predictionCue(facts);
  // SD1 is trained with epsilon; only an explicit cue says otherwise.
  if (pred?.prediction === 'v') variants.push('v-prediction');
  return {
    rule: 'sd1', kind: 'checkpoint', family: 'sd1', variants, specificity: c.specificity,
    evidence: [...c.evidence, ...evidence, ...(pred?.evidence ?? [])], prediction: pred?.prediction ?? 'epsilon',
  };
}

export const sd1Rule: Rule = {id: 'sd1', match: matchSd1};
