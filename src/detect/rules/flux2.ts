// FLUX.2 (dev, klein 4B/9B): shared stream modulations (`double_stream_modulation_img`, `single_stream_modulation`),
// 128-wide img_in (32 latent channels x 2x2), Flux2Transformer2DModel.
import type {Facts} from '../types.js';
import type {Rule, RuleMatch} from '../rule-types.js';
import {classEvidence, ditView, ggufEvidence} from '../analyze/dit.js';

const HIDDEN_VARIANT: Record<number, string> = {6144: 'dev', 3072: 'klein-4b', 4096: 'klein-9b'};

export function matchFlux2(facts: Facts): RuleMatch | null {
  const v = ditView(facts);
  const evidence: string[] = [];
  const variants: string[] = [];
  let specificity = 0;
  const anchor = v.find(/^(single_stream_modulation|double_stream_modulation_img)\.lin(ear)?\.weight$/);
  if (anchor) {
    evidence.push(v.describe(anchor));
    specificity = 65;
    const img = v.has('img_in.weight') ? 'img_in.weight' : v.has('x_embedder.weight') ? 'x_embedder.weight' : undefined;
    if (img) {
      evidence.push(v.describe(img));
      const hidden = v.dim(img, 0);
      if (hidden !== undefined && HIDDEN_VARIANT[hidden]) variants.push(HIDDEN_VARIANT[hidden]);
    }
  }
  const cls = classEvidence(facts, /^Flux2(Transformer2DModel|Pipeline|KleinPipeline)$/);
  if (cls) {
    evidence.push(cls);
    specificity = Math.max(specificity, 60);
  }
  const gguf = ggufEvidence(facts, ['flux2']);
  if (gguf) {
    evidence.push(gguf);
    specificity = Math.max(specificity, 55);
  }
  if (specificity === 0) return null;
  return {rule: 'flux2', kind: 'checkpoint', family: 'flux2', variants, specificity, evidence, prediction: 'flow'};
}

export const flux2Rule: Rule = {id: 'flux2', match: matchFlux2};
