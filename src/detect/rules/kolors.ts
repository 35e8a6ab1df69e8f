// Kolors: an SDXL-shaped UNet conditioned on ChatGLM3 (add-embedding 5632, encoder_hid_proj 4096).
import type {Facts} from '../types.js';
import type {Rule, RuleMatch} from '../rule-types.js';
import {sdClassify, sdInputVariants} from '../analyze/sd.js';
import {pipelineClass} from '../analyze/keys.js';

export function matchKolors(facts: Facts): RuleMatch | null {
  const c = sdClassify(facts);
  if (!c || c.family !== 'kolors') return null;
  const {variants, evidence} = sdInputVariants(c, facts);
  const warnings: string[] = [];
  const pipe = pipelineClass(facts);
  if (pipe && !pipe.startsWith('Kolors')) warnings.push(`model_index.json names ${pipe}, but the ChatGLM text encoder needs KolorsPipeline`);
  return {rule: 'kolors', kind: 'checkpoint', family: 'kolors', variants, specificity: c.specificity, evidence: [...c.evidence, ...evidence], warnings, pipeline: 'KolorsPipeline'};
}

export const kolorsRule: Rule = {id: 'kolors', match: matchKolors};
