// SDXL refiner: context 1280 / add-embedding 2560 / 384 model channels, or bigG-only conditioner.
import type {Facts} from '../types.js';
import type {Rule, RuleMatch} from '../rule-types.js';
import {sdClassify, sdInputVariants} from '../analyze/sd.js';

export function matchSdxlRefiner(facts: Facts): RuleMatch | null {
  const c = sdClassify(facts);
  if (!c || c.family !== 'sdxl-refiner') return null;
  const {variants, evidence} = sdInputVariants(c, facts);
  return {rule: 'sdxl-refiner', kind: 'checkpoint', family: 'sdxl-refiner', variants: ['refiner', ...variants], specificity: c.specificity, evidence: [...c.evidence, ...evidence], task: 'image-to-image'};
}

export const sdxlRefinerRule: Rule = {id: 'sdxl-refiner', match: matchSdxlRefiner};
