// Chroma: a FLUX-derived DiT without CLIP and without per-block modulation; `distilled_guidance_layer.*`.
import type {Facts} from '../types.js';
import type {Rule, RuleMatch} from '../rule-types.js';
import {classEvidence, ditView, ggufEvidence} from '../analyze/dit.js';
import {meta} from '../analyze/keys.js';

export function matchChroma(facts: Facts): RuleMatch | null {
  const v = ditView(facts);
  const evidence: string[] = [];
  const variants: string[] = [];
  let specificity = 0;
  const anchor = v.find(/^distilled_guidance_layer\.(in_proj|norms|layers|0)/);
  if (anchor) {
    evidence.push(v.describe(anchor));
    specificity = 70;
    if (v.hasPrefix('nerf_blocks.') && !v.has('img_in.weight')) variants.push('radiance');
  }
  const cls = classEvidence(facts, /^Chroma(Transformer2DModel|Pipeline|Img2ImgPipeline)$/);
  if (cls) {
    evidence.push(cls);
    specificity = Math.max(specificity, 65);
  }
  if (meta(facts, 'modelspec.architecture').startsWith('chroma') && (v.hasPrefix('double_blocks.') || ggufEvidence(facts, ['flux', 'chroma']))) {
    evidence.push(`modelspec.architecture=${facts.metadata['modelspec.architecture']}`);
    specificity = Math.max(specificity, 55);
  }
  const gguf = ggufEvidence(facts, ['chroma']);
  if (gguf) {
    evidence.push(gguf);
    specificity = Math.max(specificity, 55);
  }
  if (specificity === 0) return null;
  return {rule: 'chroma', kind: 'checkpoint', family: 'chroma', variants, specificity, evidence, prediction: 'flow'};
}

export const chromaRule: Rule = {id: 'chroma', match: matchChroma};
