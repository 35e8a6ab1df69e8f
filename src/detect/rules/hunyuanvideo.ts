// HunyuanVideo (1.x): FLUX-like double/single blocks plus `txt_in.individual_token_refiner` and a 3-D
// patch embed (`img_in.proj.weight` 5-D); diffusers HunyuanVideoTransformer3DModel (`context_embedder.token_refiner`).
import type {Facts} from '../types.js';
import type {Rule, RuleMatch} from '../rule-types.js';
import {classEvidence, ditView, ggufEvidence} from '../analyze/dit.js';
import {pipelineClass} from '../analyze/keys.js';

export function matchHunyuanVideo(facts: Facts): RuleMatch | null {
  const v = ditView(facts);
  const evidence: string[] = [];
  const variants: string[] = [];
  let specificity = 0;
  let patch: number[] | undefined;
  if (v.hasPrefix('txt_in.individual_token_refiner.blocks.0.')) {
    specificity = 60;
    evidence.push('txt_in.individual_token_refiner.blocks.* (token refiner)');
    patch = v.shape('img_in.proj.weight');
  } else if (v.hasPrefix('context_embedder.token_refiner.') && v.hasPrefix('x_embedder.proj.')) {
    specificity = 55;
    evidence.push('context_embedder.token_refiner.* (diffusers HunyuanVideo layout)');
    patch = v.shape('x_embedder.proj.weight');
  }
  if (patch) {
    evidence.push(`patch embed ${JSON.stringify(patch)}`);
    if (patch.length === 4) variants.push('image');
    if (patch[1] !== undefined && patch[1] > 16) variants.push('i2v');
  }
  const cls = classEvidence(facts, /^(HunyuanVideo\w*Pipeline|HunyuanVideoTransformer3DModel)$/);
  if (cls) {
    evidence.push(cls);
    specificity = Math.max(specificity, 50);
    if (/ImageToVideo/.test(pipelineClass(facts) ?? '') && !variants.includes('i2v')) variants.push('i2v');
  }
  const gguf = ggufEvidence(facts, ['hyvid', 'hunyuanvideo']);
  if (gguf) {
    evidence.push(gguf);
    specificity = Math.max(specificity, 40);
  }
  if (specificity === 0) return null;
  return {rule: 'hunyuanvideo', kind: 'checkpoint', family: 'hunyuanvideo', variants, specificity, evidence, prediction: 'flow'};
}

export const hunyuanVideoRule: Rule = {id: 'hunyuanvideo', match: matchHunyuanVideo};
