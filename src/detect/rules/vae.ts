// VAEs: LDM (`encoder.down.N`, `decoder.up.N`) and diffusers (`encoder.down_blocks`) KL autoencoders, tiny
// autoencoders (TAESD: `encoder.layers`), video VAEs (5-D convs), DC-AE, and diffusers VAE configs.
// Family from latent channels, then scaling_factor; SD1 and SDXL VAEs share every shape, so without a config
// a name hint decides, else SD1 is assumed with a warning.
import type {Facts, Family} from '../types.js';
import type {Rule, RuleMatch} from '../rule-types.js';
import {configClass, KeyView, num, rootView} from '../analyze/keys.js';
import {own} from '../own.js';

const CLASS_FAMILY: Record<string, Family> = {
  AutoencoderKLWan: 'wan', AutoencoderKLQwenImage: 'qwen-image', AutoencoderKLHunyuanVideo: 'hunyuanvideo',
  AutoencoderKLCogVideoX: 'cogvideox', AutoencoderKLLTXVideo: 'ltxv', AutoencoderDC: 'sana', AutoencoderKLFlux2: 'flux2',
  ConsistencyDecoderVAE: 'sd1',
};

function vaeView(root: KeyView): KeyView | null {
  for (const p of ['', 'first_stage_model.', 'vae.']) {
    const v = p ? root.sub(p) : root;
    if (v.size === 0 || v.size < root.size * 0.9) continue;
    if (v.hasPrefix('decoder.') && (v.hasPrefix('encoder.') || v.hasPrefix('post_quant_conv.') || v.hasPrefix('decoder.up') || v.hasPrefix('decoder.layers.'))) return v;
  }
  return null;
}

export function matchVae(facts: Facts): RuleMatch | null {
  const cls = configClass(facts.config);
  const cfgVae = !!cls && /^(Autoencoder\w*|ConsistencyDecoderVAE|VQModel)$/.test(cls);
  const v = vaeView(rootView(facts));
  if (!v && !cfgVae) return null;
  const evidence: string[] = [];
  const variants: string[] = [];
  const warnings: string[] = [];
  let family: Family | undefined;
  let latent: number | undefined;
  let tiny = cls === 'AutoencoderTiny';
  let video = false;
  if (v) {
    tiny ||= v.hasPrefix('decoder.layers.') || v.hasPrefix('encoder.layers.');
    const conv = ['decoder.conv_in.weight', 'decoder.conv_in.conv.weight', 'decoder.conv1.weight', 'decoder.layers.0.weight'].find((k) => v.has(k));
    if (conv) {
      const s = v.shape(conv);
      latent = s?.[1];
      video = (s?.length ?? 0) === 5;
      evidence.push(v.describe(conv));
    }
    if (v.hasPrefix('decoder.stages.') || v.hasPrefix('encoder.project_in.')) family = 'sana';
    if (v.hasPrefix('bn.') && latent === 32) family = 'flux2';
  }
  if (cfgVae) {
    evidence.push(`config.json class ${cls}`);
    latent = num(facts.config?.latent_channels) ?? latent;
    if (cls && own(CLASS_FAMILY, cls)) family = own(CLASS_FAMILY, cls);
  }
  const scaling = num(facts.config?.scaling_factor);
  if (scaling !== undefined) evidence.push(`config scaling_factor=${scaling}`);
  if (latent !== undefined) evidence.push(`latent channels ${latent}`);
  if (!family) {
    if (video) {
      if (latent === 128) family = 'ltxv';
      else if (latent === 48) family = 'wan';
      else if (v?.hasPrefix('decoder.middle.')) {
        family = /qwen/i.test(facts.name) ? 'qwen-image' : 'wan';
        warnings.push(`Wan 2.1 and Qwen-Image VAEs share every shape; ${family} ${family === 'wan' ? 'assumed' : 'taken from the file name'}`);
      } else warnings.push('video VAE of an unrecognized family');
    } else if (latent === 4 || (latent === undefined && cfgVae)) {
      if (scaling === 0.13025) family = 'sdxl';
      else if (scaling === 0.18215 || (cfgVae && scaling === undefined && !tiny)) {
        family = 'sd1';
        if (scaling === undefined) evidence.push('no scaling_factor: diffusers default 0.18215 (SD1/SD2 VAE)');
      } else if (/xl/i.test(facts.name)) {
        family = 'sdxl';
        warnings.push('SD1 and SDXL VAEs share every shape; SDXL taken from the name');
      } else {
        family = 'sd1';
        warnings.push('SD1 and SDXL VAEs share every shape and nothing else says which: SD1/SD2 assumed');
      }
    } else if (latent === 16) {
      if (scaling === 1.5305 || /sd3|sd-3|stable-diffusion-3/i.test(facts.name)) family = 'sd3';
      else {
        family = 'flux';
        if (scaling !== 0.3611) warnings.push('FLUX.1 and SD3 VAEs share every shape; FLUX.1 assumed');
      }
    } else if (latent === 32) family = 'flux2';
  }
  if (tiny) variants.push('tiny-autoencoder');
  return {rule: 'vae', kind: 'vae', family: family ?? 'unknown', variants, specificity: 40, evidence, warnings};
}

export const vaeRule: Rule = {id: 'vae', match: matchVae};
