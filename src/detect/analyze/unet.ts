// Facts about an SD-style UNet (SD1/SD2/SDXL/refiner/Kolors), from LDM keys, diffusers keys or a
// diffusers unet config. Pure; memoized per Facts. The family rules decide; this only measures.
import type {Facts} from '../types.js';
import {component, componentView, configClass, diffusionView, KeyView, num, rootView} from './keys.js';

export interface UnetInfo {
  source: 'ldm-keys' | 'diffusers-keys' | 'config';
  /** Cross-attention width (attn2.to_k in-dim / cross_attention_dim). */
  contextDim?: number;
  inChannels?: number;
  /** label_emb / add_embedding in-dim (SDXL 2816, refiner 2560, Kolors 5632). */
  admIn?: number;
  modelChannels?: number;
  /** Kolors: encoder_hid_proj in-dim 4096. */
  encoderHidDim?: number;
  /** False when only the encoder half is present (ControlNet-like). */
  hasDecoder: boolean;
  /** Marker tensors at the UNet root: edm_mean, v_pred, ztsnr, edm_vpred.sigma_max. */
  markers: string[];
  evidence: string[];
}

export type SdTextEncoders = 'clip-l' | 'openclip-h' | 'sdxl' | 'sdxl-refiner';

const cache = new WeakMap<Facts, UnetInfo | null>();

/** Where one key layout keeps the tensors that measure a UNet. */
interface UnetLayout {
  source: 'ldm-keys' | 'diffusers-keys';
  conv: string;
  encoderPrefixes: string[];
  decoderPrefix: string;
  crossAttn: RegExp;
  /** The in-dim of this tensor is `admIn` (SDXL's class/size embedding). */
  adm: string;
  /** The in-dim of this tensor is `encoderHidDim` (Kolors), where the layout has one. */
  encoderHid?: string;
}

const LDM: UnetLayout = {
  source: 'ldm-keys', conv: 'input_blocks.0.0.weight', encoderPrefixes: ['middle_block.'], decoderPrefix: 'output_blocks.',
  crossAttn: /^input_blocks\.\d+\.1\.transformer_blocks\.0\.attn2\.to_k\.weight$/, adm: 'label_emb.0.0.weight',
};

const DIFFUSERS: UnetLayout = {
  source: 'diffusers-keys', conv: 'conv_in.weight', encoderPrefixes: ['down_blocks.', 'mid_block.'], decoderPrefix: 'up_blocks.',
  crossAttn: /^down_blocks\.\d+\.attentions\.0\.transformer_blocks\.0\.attn2\.to_k\.weight$/,
  adm: 'add_embedding.linear_1.weight', encoderHid: 'encoder_hid_proj.weight',
};

function fromKeys(v: KeyView, l: UnetLayout): UnetInfo | null {
  if (!v.has(l.conv) || !l.encoderPrefixes.every((p) => v.hasPrefix(p))) return null;
  const ev: string[] = [v.describe(l.conv)];
  const info: UnetInfo = {source: l.source, hasDecoder: v.hasPrefix(l.decoderPrefix), markers: [], evidence: ev};
  info.modelChannels = v.dim(l.conv, 0);
  info.inChannels = v.dim(l.conv, 1);
  const inDim = (key: string | undefined): number | undefined => {
    if (!key || !v.has(key)) return undefined;
    ev.push(v.describe(key));
    return v.dim(key, 1);
  };
  info.contextDim = inDim(v.find(l.crossAttn));
  info.admIn = inDim(l.adm);
  info.encoderHidDim = inDim(l.encoderHid);
  return info;
}

const fromLdm = (v: KeyView) => fromKeys(v, LDM);
const fromDiffusers = (v: KeyView) => fromKeys(v, DIFFUSERS);

function fromConfig(cfg: Record<string, unknown>, where: string): UnetInfo {
  const ev: string[] = [];
  const info: UnetInfo = {source: 'config', hasDecoder: true, markers: [], evidence: ev};
  const cad = cfg.cross_attention_dim;
  info.contextDim = num(Array.isArray(cad) ? cad[0] : cad);
  info.inChannels = num(cfg.in_channels);
  info.admIn = num(cfg.projection_class_embeddings_input_dim);
  info.encoderHidDim = num(cfg.encoder_hid_dim);
  const boc = cfg.block_out_channels;
  info.modelChannels = Array.isArray(boc) ? num(boc[0]) : undefined;
  for (const k of ['cross_attention_dim', 'in_channels', 'projection_class_embeddings_input_dim', 'encoder_hid_dim', 'addition_embed_type']) {
    if (cfg[k] !== undefined && cfg[k] !== null) ev.push(`${where} ${k}=${JSON.stringify(cfg[k])}`);
  }
  return info;
}

function markersOf(v: KeyView, root: KeyView): string[] {
  const out: string[] = [];
  for (const m of ['edm_mean', 'edm_std', 'v_pred', 'ztsnr', 'edm_vpred.sigma_max', 'edm_vpred.sigma_min']) {
    if (v.has(m) || root.has(m)) out.push(m);
  }
  return out;
}

/** UNet facts from the main weights, the `unet` component, or a lone UNet config. */
export function unetInfo(facts: Facts): UnetInfo | null {
  if (cache.has(facts)) return cache.get(facts) ?? null;
  let info: UnetInfo | null = null;
  const {view} = diffusionView(facts);
  info = fromLdm(view) ?? fromDiffusers(view);
  const unet = component(facts, 'unet');
  if (!info && unet) {
    const cv = componentView(unet);
    info = fromLdm(cv) ?? fromDiffusers(cv);
    if (unet.config && (!info || info.contextDim === undefined)) {
      const c = fromConfig(unet.config, 'unet/config.json');
      info = info ? {...info, ...definedOnly(c), evidence: [...info.evidence, ...c.evidence]} : c;
    }
  }
  if (!info && facts.config && configClass(facts.config) === 'UNet2DConditionModel') info = fromConfig(facts.config, 'config.json');
  if (info) info.markers = markersOf(view, rootView(facts));
  cache.set(facts, info);
  return info;
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Which SD text encoders a single-file checkpoint carries (LDM/SGM prefixes). */
export function sdTextEncoders(facts: Facts): {kind: SdTextEncoders; evidence: string} | null {
  const r = rootView(facts);
  if (r.hasPrefix('conditioner.embedders.1.model.')) return {kind: 'sdxl', evidence: 'conditioner.embedders.1.model.* (OpenCLIP bigG) present'};
  if (r.hasPrefix('conditioner.embedders.0.model.')) return {kind: 'sdxl-refiner', evidence: 'conditioner.embedders.0.model.* (bigG only) present'};
  if (r.hasPrefix('cond_stage_model.model.')) return {kind: 'openclip-h', evidence: 'cond_stage_model.model.* (OpenCLIP-H) present'};
  if (r.hasPrefix('cond_stage_model.transformer.')) return {kind: 'clip-l', evidence: 'cond_stage_model.transformer.* (CLIP-L) present'};
  return null;
}

/** True when the UNet is a full denoiser (not a ControlNet/adapter half). */
export function isFullUnet(info: UnetInfo | null): info is UnetInfo {
  return !!info && info.hasDecoder;
}
