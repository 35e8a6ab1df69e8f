// IP-Adapters: `image_proj.*` + `ip_adapter.N.to_k_ip` (single file or the .bin nested dict), XLabs FLUX
// (`double_blocks.N.processor.ip_adapter_*` + `ip_adapter_proj_model`). Base from to_k_ip in-dim;
// plus (Resampler: latents + layers), standard (proj + norm), full (MLP proj), FaceID (perceiver / 512-d input).
// The image encoder each needs, from the widths its image projection reads (requires: pulled when not beside it).
import type {Facts, Family, Requirement} from '../types.js';
import type {Rule, RuleMatch} from '../rule-types.js';
import {rootView} from '../analyze/keys.js';

const CONTEXT: Record<number, Family> = {768: 'sd1', 1024: 'sd2', 2048: 'sdxl'};

/** The image encoders IP-Adapters are published with, as MODEL_IDs (a repo, or a folder of one). */
export const IMAGE_ENCODERS = {
  vitH: {id: 'h94/IP-Adapter/models/image_encoder', what: 'OpenCLIP ViT-H/14'},
  vitBigG: {id: 'h94/IP-Adapter/sdxl_models/image_encoder', what: 'OpenCLIP ViT-bigG/14'},
  vitL: {id: 'openai/clip-vit-large-patch14', what: 'CLIP ViT-L/14'},
} as const;
type Encoder = (typeof IMAGE_ENCODERS)[keyof typeof IMAGE_ENCODERS];

/** Standard adapters read the encoder's projected embedding (its projection width)... */
const BY_PROJECTION: Record<number, Encoder> = {1024: IMAGE_ENCODERS.vitH, 1280: IMAGE_ENCODERS.vitBigG};
/** ...plus and full ones its penultimate hidden states (its hidden width). */
const BY_HIDDEN: Record<number, Encoder> = {1280: IMAGE_ENCODERS.vitH, 1664: IMAGE_ENCODERS.vitBigG};

function requirement(enc: Encoder, because: string): Requirement {
  return {role: 'image-encoder', id: enc.id, what: `${enc.what} (${because})`};
}

export function matchIpAdapter(facts: Facts): RuleMatch | null {
  const v = rootView(facts);
  const evidence: string[] = [];
  const variants: string[] = [];
  const warnings: string[] = [];
  const xlabs = v.find(/^double_blocks\.\d+\.processor\.ip_adapter_double_stream_k_proj\.weight$/);
  if (xlabs || (v.hasPrefix('ip_adapter_proj_model.') && v.hasPrefix('double_blocks.'))) {
    evidence.push(xlabs ? v.describe(xlabs) : 'ip_adapter_proj_model.* with double_blocks.* (XLabs FLUX IP-Adapter)');
    if (v.has('ip_adapter_proj_model.proj.weight')) evidence.push(v.describe('ip_adapter_proj_model.proj.weight'));
    // XLabs trains its FLUX IP-Adapters on one encoder, openai/clip-vit-large-patch14 (its model card and x-flux).
    const requires = [requirement(IMAGE_ENCODERS.vitL, 'the XLabs FLUX IP-Adapter\'s encoder')];
    return {rule: 'ip-adapter', kind: 'ip-adapter', family: 'flux', variants: ['xlabs'], specificity: 85, evidence, requires};
  }
  const toK = v.find(/^ip_adapter\.\d+\.to_k_ip\.weight$/);
  if (!toK || !v.hasPrefix('image_proj.')) return null;
  evidence.push(v.describe(toK));
  const ctx = v.dim(toK, 1);
  const family = ctx !== undefined ? CONTEXT[ctx] ?? 'unknown' : 'unknown';
  let encoder: Requirement | undefined;
  const hidden = (name: string): [Encoder | undefined, Requirement | undefined] => {
    const width = v.dim(name, 1);
    const enc = width !== undefined ? BY_HIDDEN[width] : undefined;
    return [enc, enc ? requirement(enc, `hidden width ${width}, from ${name}`) : undefined];
  };
  let enc: Encoder | undefined;
  if (v.has('image_proj.latents') && v.hasPrefix('image_proj.layers.')) {
    evidence.push(`${v.describe('image_proj.latents')} + image_proj.layers.* (Resampler)`);
    if (/face/i.test(facts.name)) {
      variants.push('plus-face');
      warnings.push('IP-Adapter Plus and Plus-Face have the same shapes; "face" taken from the file name');
    } else variants.push('plus');
    if (v.has('image_proj.proj_in.weight')) evidence.push(v.describe('image_proj.proj_in.weight'));
    [enc, encoder] = hidden('image_proj.proj_in.weight');
    if (enc === IMAGE_ENCODERS.vitH && family === 'sdxl') variants.push('vit-h');
  } else if (v.hasPrefix('image_proj.perceiver_resampler.') || v.dim('image_proj.proj.0.weight', 1) === 512) {
    variants.push('faceid');
    evidence.push('FaceID image projection (insightface embedding input)');
  } else if (v.has('image_proj.proj.0.weight')) {
    variants.push('full');
    evidence.push(v.describe('image_proj.proj.0.weight'));
    [enc, encoder] = hidden('image_proj.proj.0.weight');
    if (enc === IMAGE_ENCODERS.vitH && family === 'sdxl') variants.push('vit-h');
  } else if (v.has('image_proj.proj.weight')) {
    variants.push('standard');
    evidence.push(v.describe('image_proj.proj.weight'));
    const width = v.dim('image_proj.proj.weight', 1);
    enc = width !== undefined ? BY_PROJECTION[width] : undefined;
    if (enc) encoder = requirement(enc, `projection width ${width}, from image_proj.proj.weight`);
    // SDXL's own encoder is bigG; h94's `_vit-h` SDXL files read ViT-H's 1024-wide embeddings instead.
    if (enc === IMAGE_ENCODERS.vitH && family === 'sdxl') variants.push('vit-h');
  }
  return {rule: 'ip-adapter', kind: 'ip-adapter', family, variants, specificity: 85, evidence, warnings, ...(encoder ? {requires: [encoder]} : {})};
}

export const ipAdapterRule: Rule = {id: 'ip-adapter', match: matchIpAdapter};
