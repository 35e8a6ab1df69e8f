// Stable Audio Open: diffusers StableAudioPipeline / StableAudioDiTModel (`preprocess_conv` + `global_proj` +
// `transformer_blocks`), or the stable-audio-tools single file (`model.model.preprocess_conv` + `model.model.transformer.layers`
// next to the Oobleck VAE under `pretransform.model.` and the T5 conditioner).
import type {Facts} from '../types.js';
import type {Rule, RuleMatch} from '../rule-types.js';
import {classEvidence, ditView} from '../analyze/dit.js';
import {rootView} from '../analyze/keys.js';

export function matchStableAudio(facts: Facts): RuleMatch | null {
  const evidence: string[] = [];
  let specificity = 0;
  const root = rootView(facts);
  if (root.has('model.model.preprocess_conv.weight') && root.hasPrefix('model.model.transformer.layers.')) {
    specificity = 60;
    evidence.push(root.describe('model.model.preprocess_conv.weight'), 'model.model.transformer.layers.* (stable-audio-tools DiT)');
    if (root.hasPrefix('pretransform.model.')) evidence.push('pretransform.model.* (Oobleck audio VAE)');
  } else {
    const v = ditView(facts);
    if (v.has('preprocess_conv.weight') && v.hasPrefix('global_proj.') && v.hasPrefix('transformer_blocks.')) {
      specificity = 55;
      evidence.push(v.describe('preprocess_conv.weight'), 'global_proj.* + transformer_blocks.* (diffusers StableAudioDiTModel)');
    }
  }
  const cls = classEvidence(facts, /^(StableAudio\w*Pipeline|StableAudioDiTModel)$/);
  if (cls) {
    evidence.push(cls);
    specificity = Math.max(specificity, 50);
  }
  if (specificity === 0) return null;
  return {rule: 'stable-audio', kind: 'checkpoint', family: 'stable-audio', variants: [], specificity, evidence, prediction: 'v'};
}

export const stableAudioRule: Rule = {id: 'stable-audio', match: matchStableAudio};
