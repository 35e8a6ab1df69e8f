// SD3 / SD3.5 (MMDiT): `joint_blocks.N.context_block` (SAI layout) or diffusers SD3Transformer2DModel.
// Medium vs 3.5 medium vs 3.5 large from depth, pos_embed size and MMDiT-X attn2 layers.
import type {Facts} from '../types.js';
import type {Rule, RuleMatch} from '../rule-types.js';
import {classEvidence, ditConfig, ditView, ggufEvidence} from '../analyze/dit.js';
import {num} from '../analyze/keys.js';

function sizeVariants(depth: number | undefined, posTokens: number | undefined, dual: boolean): string[] {
  if (depth !== undefined && depth >= 38) return ['3.5-large'];
  if (dual || posTokens === 147456) return ['3.5-medium'];
  if (depth === 24 || posTokens === 36864) return ['medium'];
  return [];
}

export function matchSd3(facts: Facts): RuleMatch | null {
  const v = ditView(facts);
  const evidence: string[] = [];
  let specificity = 0;
  let variants: string[] = [];
  if (v.hasPrefix('joint_blocks.0.context_block.')) {
    specificity = 50;
    const depth = v.maxIndex('joint_blocks.') + 1;
    const pos = v.dim('pos_embed', 1);
    const dual = v.find(/^joint_blocks\.\d+\.x_block\.attn2\./) !== undefined;
    evidence.push(`joint_blocks.0..${depth - 1} (${depth} MMDiT blocks)`);
    if (v.has('pos_embed')) evidence.push(v.describe('pos_embed'));
    if (v.has('x_embedder.proj.weight')) evidence.push(v.describe('x_embedder.proj.weight'));
    if (dual) evidence.push('x_block.attn2 layers (MMDiT-X)');
    variants = sizeVariants(depth, pos, dual);
  } else if (v.hasPrefix('transformer_blocks.0.ff_context.') && v.has('pos_embed.proj.weight') && v.dim('time_text_embed.text_embedder.linear_1.weight', 1) === 2048) {
    specificity = 50;
    const depth = v.maxIndex('transformer_blocks.') + 1;
    const dual = v.find(/^transformer_blocks\.\d+\.attn2\./) !== undefined;
    evidence.push(v.describe('pos_embed.proj.weight'), v.describe('time_text_embed.text_embedder.linear_1.weight'), `${depth} transformer_blocks (diffusers SD3 layout)`);
    variants = sizeVariants(depth, undefined, dual);
  }
  const cls = classEvidence(facts, /^(StableDiffusion3\w*Pipeline|SD3Transformer2DModel)$/);
  if (cls) {
    evidence.push(cls);
    specificity = Math.max(specificity, 45);
    const cfg = ditConfig(facts);
    if (cfg && variants.length === 0) {
      const dual = Array.isArray(cfg.dual_attention_layers) && cfg.dual_attention_layers.length > 0;
      const depth = num(cfg.num_layers);
      variants = sizeVariants(depth, undefined, dual);
      evidence.push(`transformer config num_layers=${depth}${dual ? ', dual_attention_layers set' : ''}`);
    }
  }
  const gguf = ggufEvidence(facts, ['sd3']);
  if (gguf) {
    evidence.push(gguf);
    specificity = Math.max(specificity, 40);
  }
  if (specificity === 0) return null;
  return {rule: 'sd3', kind: 'checkpoint', family: 'sd3', variants, specificity, evidence, prediction: 'flow'};
}

export const sd3Rule: Rule = {id: 'sd3', match: matchSd3};
