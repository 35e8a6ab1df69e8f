// FLUX.1 (dev, schnell, fill, depth/canny control, kontext): 19 double + 38 single stream blocks, hidden 3072,
// BFL or diffusers key names, transformer config, GGUF arch `flux`. Chroma, FLUX.2 and HunyuanVideo share
// block names and are excluded by their own markers.
import type {Facts} from '../types.js';
import type {Rule, RuleMatch} from '../rule-types.js';
import {classEvidence, ditConfig, ditView, ggufEvidence} from '../analyze/dit.js';
import {num, pipelineClass} from '../analyze/keys.js';

export function matchFlux(facts: Facts): RuleMatch | null {
  const v = ditView(facts);
  if (classEvidence(facts, /Chroma|Flux2/)) return null;
  if (v.hasPrefix('distilled_guidance_layer.') || v.hasPrefix('txt_in.individual_token_refiner.') || v.hasPrefix('single_stream_modulation.') || v.hasPrefix('double_stream_modulation_img.')) return null;
  const evidence: string[] = [];
  const variants: string[] = [];
  const warnings: string[] = [];
  let specificity = 0;
  let inDim: number | undefined;
  let guidance: boolean | undefined;
  const bfl = (v.has('double_blocks.0.img_attn.qkv.weight') || v.has('double_blocks.0.img_attn.norm.key_norm.scale')) && v.has('single_blocks.0.linear1.weight');
  const diff = v.has('x_embedder.weight') && v.hasPrefix('single_transformer_blocks.0.') && v.hasPrefix('transformer_blocks.0.attn.add_k_proj');
  if (bfl) {
    if (v.hasPrefix('double_blocks.0.processor.') || v.hasPrefix('ip_adapter')) return null; // XLabs adapters
    specificity = 50;
    evidence.push(v.describe(v.has('double_blocks.0.img_attn.norm.key_norm.scale') ? 'double_blocks.0.img_attn.norm.key_norm.scale' : 'double_blocks.0.img_attn.qkv.weight'));
    if (v.has('img_in.weight')) {
      evidence.push(v.describe('img_in.weight'));
      inDim = v.dim('img_in.weight', 1);
      const hidden = v.dim('img_in.weight', 0);
      if (hidden !== undefined && hidden !== 3072) warnings.push(`hidden width ${hidden}, FLUX.1 uses 3072: a FLUX-like derivative`);
    }
    guidance = v.has('guidance_in.in_layer.weight') || v.has('guidance_in.out_layer.weight');
    evidence.push(guidance ? 'guidance_in.* present (guidance-distilled: dev)' : 'no guidance_in.* (schnell-style)');
  } else if (diff) {
    specificity = 50;
    evidence.push(v.describe('x_embedder.weight'), 'single_transformer_blocks.* + transformer_blocks.*.attn.add_k_proj (diffusers FluxTransformer2DModel layout)');
    inDim = v.dim('x_embedder.weight', 1);
    const ctx = v.dim('context_embedder.weight', 1);
    if (ctx !== undefined && ctx !== 4096) return null;
    guidance = v.hasPrefix('time_text_embed.guidance_embedder.');
    evidence.push(guidance ? 'time_text_embed.guidance_embedder.* present (dev)' : 'no guidance embedder (schnell-style)');
  }
  const cls = classEvidence(facts, /^Flux(Transformer2DModel|Pipeline|FillPipeline|KontextPipeline|ControlPipeline|Img2ImgPipeline|InpaintPipeline)$/);
  if (cls) {
    evidence.push(cls);
    specificity = Math.max(specificity, 45);
    const cfg = ditConfig(facts);
    if (cfg) {
      if (typeof cfg.guidance_embeds === 'boolean' && guidance === undefined) {
        guidance = cfg.guidance_embeds;
        evidence.push(`transformer config guidance_embeds=${cfg.guidance_embeds}`);
      }
      if (inDim === undefined && num(cfg.in_channels) !== undefined) {
        inDim = num(cfg.in_channels);
        evidence.push(`transformer config in_channels=${inDim}`);
      }
    }
  }
  const gguf = ggufEvidence(facts, ['flux']);
  if (gguf) {
    evidence.push(gguf);
    specificity = Math.max(specificity, 40);
  }
  if (specificity === 0) return null;
  if (guidance === true) variants.push('dev');
  else if (guidance === false) variants.push('schnell');
  const pipe = pipelineClass(facts) ?? '';
  if (inDim === 384 || pipe === 'FluxFillPipeline') variants.push('fill');
  else if (inDim === 128 || pipe === 'FluxControlPipeline') variants.push('depth-canny');
  else if (inDim === 1) warnings.push('img_in is packed (bitsandbytes 4-bit): fill/control variants cannot be read from its width');
  if (pipe.startsWith('FluxKontext')) variants.push('kontext');
  return {rule: 'flux', kind: 'checkpoint', family: 'flux', variants, specificity, evidence, warnings, prediction: 'flow'};
}

export const fluxRule: Rule = {id: 'flux', match: matchFlux};
