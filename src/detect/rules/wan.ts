// Wan 2.1 / 2.2 video DiT: 5-D `patch_embedding` [dim, in_ch, 1, 2, 2] with `head.modulation` (original) or
// `condition_embedder.*` (diffusers). dim 1536 = 1.3B, 3072 = 5B, 5120 = 14B; in_ch 16 t2v, 36 i2v, 48 ti2v.
// `img_emb` = 2.1 I2V; 14B I2V without it = 2.2 A14B. 2.1 T2V-14B and 2.2 T2V-A14B share every shape:
// the version then comes from the pipeline (a second expert, boundary_ratio) or, as a weak hint, the name.
import type {Facts} from '../types.js';
import type {Rule, RuleMatch} from '../rule-types.js';
import {classEvidence, ditConfig, ditView, ggufEvidence} from '../analyze/dit.js';
import {component, num, pipelineClass} from '../analyze/keys.js';

const SIZE: Record<number, string> = {1536: '1.3b', 3072: '5b', 5120: '14b'};

export function matchWan(facts: Facts): RuleMatch | null {
  const v = ditView(facts);
  const evidence: string[] = [];
  const warnings: string[] = [];
  let specificity = 0;
  let dim: number | undefined;
  let inCh: number | undefined;
  const pe = v.shape('patch_embedding.weight');
  if (pe && pe.length === 5 && (v.has('head.modulation') || v.hasPrefix('condition_embedder.') || v.hasPrefix('text_embedding.'))) {
    specificity = 55;
    evidence.push(v.describe('patch_embedding.weight'));
    if (v.has('head.modulation')) evidence.push(v.describe('head.modulation'));
    else evidence.push('condition_embedder.* (diffusers Wan layout)');
    [dim, inCh] = pe;
  }
  const cls = classEvidence(facts, /^(Wan\w*Pipeline|WanTransformer3DModel|WanVACETransformer3DModel)$/);
  if (cls) {
    evidence.push(cls);
    specificity = Math.max(specificity, 50);
    const cfg = ditConfig(facts);
    if (cfg && dim === undefined) {
      const heads = num(cfg.num_attention_heads);
      const hd = num(cfg.attention_head_dim);
      if (heads && hd) dim = heads * hd;
      inCh = num(cfg.in_channels);
      evidence.push(`transformer config in_channels=${inCh}, width=${dim}`);
    }
  }
  const gguf = ggufEvidence(facts, ['wan']);
  if (gguf) {
    evidence.push(gguf);
    specificity = Math.max(specificity, 40);
  }
  if (specificity === 0) return null;

  const special = v.hasPrefix('vace_blocks.') || v.hasPrefix('vace_patch_embedding') ? 'vace'
    : v.hasPrefix('motion_encoder.') ? 'animate'
    : v.hasPrefix('casual_audio_encoder') || v.hasPrefix('audio_injector') ? 's2v'
    : v.hasPrefix('control_adapter.') ? 'fun-control'
    : v.hasPrefix('img_emb.emb_pos') ? 'flf2v' : undefined;
  const hasImgEmb = v.hasPrefix('img_emb.') || v.hasPrefix('condition_embedder.image_embedder.');
  const task = inCh === 48 ? 'ti2v' : inCh === 36 ? 'i2v' : inCh === 16 ? 't2v' : undefined;
  const size = dim !== undefined ? SIZE[dim] : undefined;
  let version: string | undefined;
  if (size === '1.3b' || hasImgEmb || special === 'flf2v') version = '2.1';
  else if (special === 'animate' || special === 's2v' || special === 'fun-control') version = '2.2';
  else if (special === 'vace' && !/wan[-_ ]?2[._]?2|wan22/i.test(facts.name)) version = '2.1';
  else if (size === '5b' || task === 'ti2v' || (size === '14b' && task === 'i2v')) version = '2.2';
  // diffusers writes `boundary_ratio: null` (and transformer_2: [null, null]) into every WanPipeline it saves, 2.1 too.
  else if (component(facts, 'transformer_2')?.className || (facts.modelIndex?.boundary_ratio ?? null) !== null) {
    version = '2.2';
    evidence.push('two experts (transformer_2 / boundary_ratio)');
  } else if (/wan[-_ ]?2[._]?2|wan22/i.test(facts.name)) {
    version = '2.2';
    warnings.push('Wan 2.1 and 2.2 A14B share every shape; version 2.2 taken from the file name');
  } else if (/wan[-_ ]?2[._]?1|wan21/i.test(facts.name)) {
    version = '2.1';
    warnings.push('Wan 2.1 and 2.2 A14B share every shape; version 2.1 taken from the file name');
  } else if (size === '14b' && /(high|low)[-_ ]?noise/i.test(facts.name)) {
    version = '2.2';
    warnings.push('Wan 2.1 and 2.2 A14B share every shape; the high/low-noise expert named in the file name exists only in Wan 2.2');
  } else warnings.push('Wan 2.1 T2V-14B and 2.2 T2V-A14B have the same shapes: version unknown');
  if (hasImgEmb) evidence.push('img_emb.* (CLIP image projection: Wan 2.1 I2V)');
  const variants: string[] = [];
  const sizeName = version === '2.2' && size === '14b' && !special ? 'a14b' : size;
  if (version && special && size) variants.push(`wan${version}-${special}-${size}`);
  else if (version && task && size) variants.push(`wan${version}-${task}-${sizeName}`);
  if (version) variants.push(`wan${version}`);
  if (task) variants.push(task);
  if (size) variants.push(size);
  if (special) variants.push(special);
  const expert = /high[-_ ]?noise/i.test(facts.name) ? 'high-noise' : /low[-_ ]?noise/i.test(facts.name) ? 'low-noise' : undefined;
  if (expert && version === '2.2' && size === '14b') variants.push(expert);
  if (pipelineClass(facts) === 'WanImageToVideoPipeline' && !variants.includes('i2v')) variants.push('i2v');
  return {rule: 'wan', kind: 'checkpoint', family: 'wan', variants, specificity, evidence, warnings, prediction: 'flow'};
}

export const wanRule: Rule = {id: 'wan', match: matchWan};
