// ControlNets: LDM (`control_model.*` / `input_hint_block` + `zero_convs`), diffusers (`controlnet_cond_embedding`
// + `controlnet_down_blocks`), config ControlNetModel / FluxControlNetModel / SD3ControlNetModel, FLUX XLabs
// (`controlnet_blocks` + `pos_embed_input`) and InstantX (`controlnet_x_embedder`). Base from cross-attention width.
import type {Facts, Family} from '../types.js';
import type {Rule, RuleMatch} from '../rule-types.js';
import {configClass, num, rootView} from '../analyze/keys.js';

const CONTEXT: Record<number, Family> = {768: 'sd1', 1024: 'sd2', 2048: 'sdxl'};

export function matchControlnet(facts: Facts): RuleMatch | null {
  const root = rootView(facts);
  const evidence: string[] = [];
  const variants: string[] = [];
  let family: Family | undefined;
  const cls = configClass(facts.config);
  const v = root.hasPrefix('control_model.') ? root.sub('control_model.') : root;
  const ldm = v.hasPrefix('input_hint_block.') && v.hasPrefix('zero_convs.');
  const diff = v.hasPrefix('controlnet_cond_embedding.') && v.hasPrefix('controlnet_down_blocks.');
  if (v.hasPrefix('controlnet_x_embedder.') || (v.hasPrefix('controlnet_blocks.') && (v.hasPrefix('pos_embed_input.') || v.hasPrefix('double_blocks.') || v.hasPrefix('transformer_blocks.')))) {
    const sd3 = v.hasPrefix('pos_embed.') && v.hasPrefix('transformer_blocks.0.ff_context.') && !v.hasPrefix('single_transformer_blocks.');
    family = sd3 ? 'sd3' : 'flux';
    evidence.push(v.hasPrefix('controlnet_x_embedder.') ? 'controlnet_x_embedder.* (InstantX/diffusers layout)' : 'controlnet_blocks.* (XLabs layout)');
    variants.push(v.hasPrefix('pos_embed_input.') ? 'xlabs' : 'diffusers');
  } else if (ldm || diff) {
    evidence.push(ldm ? `${root === v ? '' : 'control_model.'}input_hint_block.* + zero_convs.* (LDM ControlNet)` : 'controlnet_cond_embedding.* + controlnet_down_blocks.* (diffusers ControlNet)');
    const attn = v.find(ldm ? /^input_blocks\.\d+\.1\.transformer_blocks\.0\.attn2\.to_k\.weight$/ : /^down_blocks\.\d+\.attentions\.0\.transformer_blocks\.0\.attn2\.to_k\.weight$/);
    const ctx = attn ? v.dim(attn, 1) : undefined;
    if (attn && ctx !== undefined) {
      evidence.push(v.describe(attn));
      family = CONTEXT[ctx];
    }
    if (v.hasPrefix('add_embedding.') || v.hasPrefix('label_emb.')) {
      family = 'sdxl';
      evidence.push('add_embedding / label_emb present (SDXL ControlNet)');
    }
  }
  if (cls && /ControlNet(XS)?Model$|ControlNetUnionModel$/.test(cls) && !/^MultiControlNet/.test(cls)) {
    evidence.push(`config.json class ${cls}`);
    if (/^Flux/.test(cls)) family = 'flux';
    else if (/^SD3/.test(cls)) family = 'sd3';
    else if (!family) {
      const ctx = num(facts.config?.cross_attention_dim);
      const proj = num(facts.config?.projection_class_embeddings_input_dim);
      if (ctx !== undefined) evidence.push(`config cross_attention_dim=${ctx}`);
      family = proj === 2816 ? 'sdxl' : ctx !== undefined ? CONTEXT[ctx] : undefined;
    }
  }
  if (evidence.length === 0) return null;
  return {rule: 'controlnet', kind: 'controlnet', family: family ?? 'unknown', variants, specificity: 85, evidence,
    warnings: family ? [] : ['ControlNet base model not recognized']};
}

export const controlnetRule: Rule = {id: 'controlnet', match: matchControlnet};
