// SDXL base (and inpaint, Playground v2.5, v-prediction fine-tunes): context 2048 with add-embedding 2816,
// or the SGM conditioner layout. Pony / Illustrious style fine-tunes are plain SDXL.
import type {Facts} from '../types.js';
import type {Rule, RuleMatch} from '../rule-types.js';
import {sdClassify, sdInputVariants} from '../analyze/sd.js';
import {predictionCue} from '../analyze/prediction.js';

export function matchSdxl(facts: Facts): RuleMatch | null {
  const c = sdClassify(facts);
  if (!c || c.family !== 'sdxl') return null;
  const {variants, evidence} = sdInputVariants(c, facts);
  const markers = c.info?.markers ?? [];
  let prediction: RuleMatch['prediction'] = 'epsilon';
  if (markers.includes('edm_mean')) {
    variants.push('playground-v2.5');
    prediction = 'edm';
    evidence.push('marker tensors edm_mean/edm_std (EDM latents, Playground v2.5)');
  }
  const pred = predictionCue(facts);
  if (pred?.prediction === 'v') {
    variants.push('v-prediction');
    prediction = 'v';
  }
  if (markers.includes('ztsnr')) variants.push('ztsnr');
  return {
    rule: 'sdxl', kind: 'checkpoint', family: 'sdxl', variants, specificity: c.specificity + (markers.length ? 5 : 0),
    evidence: [...c.evidence, ...evidence, ...(pred?.evidence ?? [])], prediction,
  };
}

export const sdxlRule: Rule = {id: 'sdxl', match: matchSdxl};
