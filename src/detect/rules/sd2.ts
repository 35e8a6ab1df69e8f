// Stable Diffusion 2.x (512/768, inpaint, depth, x4 upscaler): UNet cross-attention width 1024 (OpenCLIP-H).
// v-prediction only from explicit cues (scheduler config, ModelSpec, kohya, global_step); never guessed.
import type {Facts} from '../types.js';
import type {Rule, RuleMatch} from '../rule-types.js';
import {sdClassify, sdInputVariants} from '../analyze/sd.js';
import {predictionCue} from '../analyze/prediction.js';

export function matchSd2(facts: Facts): RuleMatch | null {
  const c = sdClassify(facts);
  if (!c || c.family !== 'sd2') return null;
  const {variants, evidence} = sdInputVariants(c, facts);
  const warnings: string[] = [];
  const pred = predictionCue(facts);
  let prediction = pred?.prediction;
  if (prediction === 'v') variants.push('v-prediction');
  if (!prediction) {
    // Inpaint / depth / upscaler releases are epsilon; the 4-channel base can be either.
    if (variants.length === 0) {
      prediction = 'unknown';
      warnings.push('prediction type unknown: SD2 768 models use v-prediction, 512 models epsilon; nothing in this file says which (pass the scheduler config or use a file with ModelSpec metadata)');
    } else prediction = 'epsilon';
  }
  return {
    rule: 'sd2', kind: 'checkpoint', family: 'sd2', variants, specificity: c.specificity,
    evidence: [...c.evidence, ...evidence, ...(pred?.evidence ?? [])], prediction, warnings,
  };
}

export const sd2Rule: Rule = {id: 'sd2', match: matchSd2};
