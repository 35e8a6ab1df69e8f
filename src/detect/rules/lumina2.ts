// Lumina-Image 2.0 (NextDiT): `cap_embedder.1` (Gemma-2 2304 features) + `x_embedder` + `layers.N` with
// `adaLN_modulation.1`. Z-Image also has `cap_embedder`, but with `all_x_embedder` and `adaLN_modulation.0`:
// those are excluded, never called Lumina2.
import type {Facts} from '../types.js';
import type {Rule, RuleMatch} from '../rule-types.js';
import {classEvidence, ditView, ggufEvidence} from '../analyze/dit.js';

export function matchLumina2(facts: Facts): RuleMatch | null {
  const v = ditView(facts);
  const evidence: string[] = [];
  let specificity = 0;
  const zImage = v.hasPrefix('all_x_embedder.') || v.has('layers.0.adaLN_modulation.0.weight') || classEvidence(facts, /ZImage/);
  if (zImage) return null;
  if (v.has('cap_embedder.1.weight') && v.hasPrefix('layers.0.') && (v.has('x_embedder.weight') || v.has('layers.0.adaLN_modulation.1.weight'))) {
    specificity = 55;
    evidence.push(v.describe('cap_embedder.1.weight'));
    if (v.has('layers.0.adaLN_modulation.1.weight')) evidence.push(v.describe('layers.0.adaLN_modulation.1.weight'));
    evidence.push(`${v.maxIndex('layers.') + 1} layers`);
  } else if (v.hasPrefix('time_caption_embed.caption_embedder.') && v.hasPrefix('layers.0.')) {
    specificity = 50;
    evidence.push('time_caption_embed.caption_embedder.* + layers.* (diffusers Lumina2 layout)');
  }
  const cls = classEvidence(facts, /^(Lumina2\w*Pipeline|Lumina2Transformer2DModel)$/);
  if (cls) {
    evidence.push(cls);
    specificity = Math.max(specificity, 50);
  }
  const gguf = ggufEvidence(facts, ['lumina2']);
  if (gguf && !zImage) {
    evidence.push(gguf);
    specificity = Math.max(specificity, 40);
  }
  if (specificity === 0) return null;
  return {rule: 'lumina2', kind: 'checkpoint', family: 'lumina2', variants: [], specificity, evidence, prediction: 'flow'};
}

export const lumina2Rule: Rule = {id: 'lumina2', match: matchLumina2};
