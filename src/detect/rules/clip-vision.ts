// Image encoders for adapters: CLIP vision (HF `vision_model.*`, OpenCLIP `visual.*`) and SigLIP.
// Width names the model: 1024 ViT-L/14, 1280 ViT-H/14, 1664 ViT-bigG/14, 1152 SigLIP so400m.
import type {Facts} from '../types.js';
import type {Rule, RuleMatch} from '../rule-types.js';
import {configClass, rootView} from '../analyze/keys.js';

const WIDTH: Record<number, string> = {1024: 'vit-l', 1280: 'vit-h', 1664: 'vit-bigg', 1152: 'siglip-so400m', 768: 'vit-b'};

export function matchClipVision(facts: Facts): RuleMatch | null {
  const v = rootView(facts);
  const evidence: string[] = [];
  const variants: string[] = [];
  let specificity = 0;
  const patch = v.has('vision_model.embeddings.patch_embedding.weight') ? 'vision_model.embeddings.patch_embedding.weight' : v.has('visual.conv1.weight') ? 'visual.conv1.weight' : undefined;
  if (patch) {
    const w = v.dim(patch, 0);
    evidence.push(v.describe(patch));
    if (w !== undefined && WIDTH[w]) variants.push(WIDTH[w]);
    specificity = 50;
  }
  const cls = configClass(facts.config);
  const type = typeof facts.config?.model_type === 'string' ? facts.config.model_type : '';
  if (cls && /^(CLIPVisionModel(WithProjection)?|CLIPModel|SiglipModel|SiglipVisionModel|Siglip2\w*)$/.test(cls)) {
    evidence.push(`config.json class ${cls}`);
    specificity = Math.max(specificity, 50);
  }
  if (specificity === 0) return null;
  if (/siglip/i.test(cls ?? '') || /siglip/.test(type) || v.hasPrefix('vision_model.head.')) {
    if (!variants.some((x) => x.startsWith('siglip'))) variants.push('siglip');
  }
  if (v.hasPrefix('text_model.')) variants.push('with-text-tower');
  return {rule: 'clip-vision', kind: 'clip-vision', family: 'unknown', variants, specificity, evidence};
}

export const clipVisionRule: Rule = {id: 'clip-vision', match: matchClipVision};
