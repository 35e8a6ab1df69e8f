// Qwen-Image (and Edit): `txt_norm` + `img_in` + `txt_in` + 60 `transformer_blocks` with img_mod/txt_mod.
// Edit: the `__index_timestep_zero__` marker or an Edit pipeline class; a file name saying "edit" is a weak hint.
import type {Facts} from '../types.js';
import type {Rule, RuleMatch} from '../rule-types.js';
import {classEvidence, ditView, ggufEvidence} from '../analyze/dit.js';
import {pipelineClass} from '../analyze/keys.js';

export function matchQwenImage(facts: Facts): RuleMatch | null {
  const v = ditView(facts);
  const evidence: string[] = [];
  const variants: string[] = [];
  const warnings: string[] = [];
  let specificity = 0;
  if (v.has('txt_norm.weight') && v.has('img_in.weight') && (v.has('txt_in.weight') || v.hasPrefix('transformer_blocks.0.img_mod.'))) {
    specificity = 55;
    evidence.push(v.describe('txt_norm.weight'), v.describe('img_in.weight'), `${v.maxIndex('transformer_blocks.') + 1} transformer_blocks`);
  }
  const cls = classEvidence(facts, /^(QwenImage\w*Pipeline|QwenImageTransformer2DModel)$/);
  if (cls) {
    evidence.push(cls);
    specificity = Math.max(specificity, 50);
  }
  const gguf = ggufEvidence(facts, ['qwen_image']);
  if (gguf) {
    evidence.push(gguf);
    specificity = Math.max(specificity, 40);
  }
  if (specificity === 0) return null;
  if (v.has('__index_timestep_zero__') || facts.tensors.has('__index_timestep_zero__')) {
    variants.push('edit');
    evidence.push('marker tensor __index_timestep_zero__ (Edit 2511 style)');
  } else if (/Edit/.test(pipelineClass(facts) ?? '')) variants.push('edit');
  else if (/edit/i.test(facts.name)) {
    variants.push('edit');
    warnings.push('Edit variant taken from the file name: Qwen-Image and Qwen-Image-Edit weights have the same shapes');
  }
  return {rule: 'qwen-image', kind: 'checkpoint', family: 'qwen-image', variants, specificity, evidence, warnings, prediction: 'flow'};
}

export const qwenImageRule: Rule = {id: 'qwen-image', match: matchQwenImage};
