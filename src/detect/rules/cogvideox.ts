// CogVideoX: diffusers CogVideoXTransformer3DModel (`patch_embed.text_proj` + `transformer_blocks.N.norm1.linear`).
// Image-to-video doubles the patch embed's input channels (the first frame's latents beside the noise): in = 2 x out.
// 1.0 (2B/5B): a conv patch embed [dim, in, 2, 2]. 1.5: 3-D patches (patch_size_t 2), a linear patch embed
// [dim, in*2*2*2], and for I2V an `ofs` embedding; its models are trained at 1360x768, 81 frames, 16 fps.
import type {Facts} from '../types.js';
import type {Rule, RuleMatch} from '../rule-types.js';
import {classEvidence, ditConfig, ditView} from '../analyze/dit.js';
import {num, pipelineClass} from '../analyze/keys.js';

export function matchCogVideoX(facts: Facts): RuleMatch | null {
  const v = ditView(facts);
  const evidence: string[] = [];
  const variants: string[] = [];
  let specificity = 0;
  let i2v: boolean | undefined;
  let v15 = false;
  if (v.has('patch_embed.text_proj.weight') && v.has('patch_embed.proj.weight') && v.hasPrefix('transformer_blocks.0.norm1.linear.')) {
    specificity = 55;
    evidence.push(v.describe('patch_embed.proj.weight'), v.describe('patch_embed.text_proj.weight'));
    const pe = v.shape('patch_embed.proj.weight') ?? [];
    const out = v.shape('proj_out.weight');
    // Both embeddings flatten the same patch (p*p, or p*p*p_t for 1.5), so their widths compare channel counts.
    const inWidth = pe.length === 2 ? pe[1] : (pe[1] ?? 0) * (pe[2] ?? 1) * (pe[3] ?? 1);
    if (out && out[0] && inWidth) i2v = inWidth === 2 * out[0];
    else if (pe.length === 4) i2v = pe[1] === 32;
    if (pe.length === 2) {
      v15 = true;
      evidence.push('linear patch embed over 3-D patches (CogVideoX 1.5)');
    }
    if (v.hasPrefix('ofs_embedding.')) {
      v15 = true;
      evidence.push('ofs_embedding.* (CogVideoX 1.5 I2V)');
    }
  }
  const cls = classEvidence(facts, /^(CogVideoX\w*Pipeline|CogVideoXTransformer3DModel)$/);
  if (cls) {
    evidence.push(cls);
    specificity = Math.max(specificity, 50);
    const cfg = ditConfig(facts);
    if (cfg && (num(cfg.patch_size_t) || num(cfg.ofs_embed_dim))) {
      v15 = true;
      evidence.push(`transformer config patch_size_t=${String(cfg.patch_size_t ?? null)}, ofs_embed_dim=${String(cfg.ofs_embed_dim ?? null)}`);
    }
    if (/ImageToVideo/.test(pipelineClass(facts) ?? '')) i2v = true;
  }
  if (specificity === 0) return null;
  variants.push(i2v ? 'i2v' : 't2v');
  if (v15) variants.push('1.5');
  return {rule: 'cogvideox', kind: 'checkpoint', family: 'cogvideox', variants, specificity, evidence};
}

export const cogVideoXRule: Rule = {id: 'cogvideox', match: matchCogVideoX};
