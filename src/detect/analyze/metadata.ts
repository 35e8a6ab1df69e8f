// What safetensors metadata (SAI ModelSpec `modelspec.*`, kohya `ss_*`) says about the family.
// Supporting evidence only: when it contradicts the tensors, the tensors win and a warning is added.
import type {Facts, Family} from '../types.js';
import {meta} from './keys.js';

export interface MetadataHint {
  family: Family;
  evidence: string;
  /** The hint names an adapter (lora / textual inversion) rather than a full model. */
  adapter?: 'lora' | 'textual-inversion';
}

const ARCH: Array<[RegExp, Family]> = [
  [/^stable-diffusion-xl-v1-refiner/, 'sdxl-refiner'],
  [/^stable-diffusion-xl/, 'sdxl'],
  [/^stable-diffusion-v1/, 'sd1'],
  [/^stable-diffusion-v2/, 'sd2'],
  [/^stable-diffusion-3/, 'sd3'],
  [/^flux-2|^flux2/, 'flux2'],
  [/^flux/, 'flux'],
  [/^chroma/, 'chroma'],
  [/^lumina-2|^lumina2/, 'lumina2'],
  [/^qwen-image/, 'qwen-image'],
  [/^wan/, 'wan'],
  [/^hunyuan-video/, 'hunyuanvideo'],
  [/^hunyuan-dit/, 'hunyuandit'],
  [/^auraflow/, 'auraflow'],
  [/^pixart/, 'pixart'],
  [/^stable-cascade/, 'cascade'],
  [/^kolors/, 'kolors'],
];

const BASE_VERSION: Array<[RegExp, Family]> = [
  [/refiner/, 'sdxl-refiner'],
  [/xl/, 'sdxl'],
  [/^sd_?v?1|v1-5|sd-?1/, 'sd1'],
  [/^sd_?v?2|sd-?2/, 'sd2'],
  [/sd3|sd_3/, 'sd3'],
  [/flux2|flux-2/, 'flux2'],
  [/flux/, 'flux'],
  [/chroma/, 'chroma'],
  [/lumina/, 'lumina2'],
  [/qwen/, 'qwen-image'],
  [/wan/, 'wan'],
  [/hunyuan.?video/, 'hunyuanvideo'],
];

export function metadataHint(facts: Facts): MetadataHint | null {
  const arch = meta(facts, 'modelspec.architecture');
  if (arch) {
    for (const [re, family] of ARCH) {
      if (re.test(arch)) {
        const adapter = /[/-]lora$/.test(arch) ? 'lora' : /[/-]textual-inversion$/.test(arch) ? 'textual-inversion' : undefined;
        return {family, evidence: `modelspec.architecture=${facts.metadata['modelspec.architecture']}`, adapter};
      }
    }
  }
  const base = meta(facts, 'ss_base_model_version');
  if (base) {
    for (const [re, family] of BASE_VERSION) if (re.test(base)) return {family, evidence: `ss_base_model_version=${facts.metadata.ss_base_model_version}`, adapter: 'lora'};
  }
  const mod = meta(facts, 'ss_network_module');
  if (/lora_flux/.test(mod)) return {family: 'flux', evidence: `ss_network_module=${mod}`, adapter: 'lora'};
  if (/lora_sd3/.test(mod)) return {family: 'sd3', evidence: `ss_network_module=${mod}`, adapter: 'lora'};
  if (/lora_lumina/.test(mod)) return {family: 'lumina2', evidence: `ss_network_module=${mod}`, adapter: 'lora'};
  if (meta(facts, 'ss_v2') === 'true') return {family: 'sd2', evidence: 'ss_v2=True', adapter: 'lora'};
  return null;
}
