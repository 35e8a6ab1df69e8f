// Measures an SD-style (UNet) checkpoint: which UNet family its widths say, with the evidence.
// The five UNet family rules (sd1, sd2, sdxl, sdxl-refiner, kolors) each read this and claim their own.
import type {Facts, Family} from '../types.js';
import {component, componentClass, configClass, num, pipelineClass} from './keys.js';
import {isFullUnet, sdTextEncoders, unetInfo, type UnetInfo} from './unet.js';

export interface SdClass {
  family: Family;
  info: UnetInfo | null;
  evidence: string[];
  /** 50 when widths decide, 40 from configs only, 30 from text encoders / class names only. */
  specificity: number;
}

const CONTEXT_FAMILY: Record<number, Family> = {768: 'sd1', 1024: 'sd2', 2048: 'sdxl', 1280: 'sdxl-refiner'};
const TE_FAMILY: Record<string, Family> = {'clip-l': 'sd1', 'openclip-h': 'sd2', sdxl: 'sdxl', 'sdxl-refiner': 'sdxl-refiner'};
const cache = new WeakMap<Facts, SdClass | null>();

function kolorsCue(facts: Facts, info: UnetInfo | null): string | null {
  if (info?.admIn === 5632) return `UNet add-embedding in-dim 5632 (4096 ChatGLM + 6x256)`;
  if (info?.encoderHidDim === 4096) return `UNet encoder_hid_proj in-dim 4096 (ChatGLM3)`;
  if (pipelineClass(facts)?.startsWith('Kolors')) return `model_index _class_name=${pipelineClass(facts)}`;
  const te = componentClass(facts, 'text_encoder');
  if (te === 'ChatGLMModel') return `text_encoder class ChatGLMModel`;
  return null;
}

export function sdClassify(facts: Facts): SdClass | null {
  if (cache.has(facts)) return cache.get(facts) ?? null;
  const result = classify(facts);
  cache.set(facts, result);
  return result;
}

function classify(facts: Facts): SdClass | null {
  const info = unetInfo(facts);
  const te = sdTextEncoders(facts);
  const pipe = pipelineClass(facts);
  const sdPipeline = !!pipe && /^StableDiffusion(XL)?(Img2Img|Inpaint|Upscale|InstructPix2Pix|Depth2Img|Latent)?.*Pipeline$|^Kolors/.test(pipe) && !/^StableDiffusion3/.test(pipe);
  if (!isFullUnet(info) && !te && !sdPipeline) return null;
  if (info && !info.hasDecoder) return null; // ControlNet-like encoder half
  const evidence: string[] = [];
  if (pipe && sdPipeline) evidence.push(`model_index _class_name=${pipe}`);
  if (info) evidence.push(...info.evidence);
  if (te) evidence.push(te.evidence);
  const kolors = kolorsCue(facts, info);
  if (kolors) return {family: 'kolors', info, evidence: [...evidence, kolors], specificity: 60};
  let family: Family | undefined;
  let specificity = 30;
  if (info?.contextDim !== undefined && CONTEXT_FAMILY[info.contextDim]) {
    family = CONTEXT_FAMILY[info.contextDim];
    specificity = info.source === 'config' ? 45 : 50;
    // SDXL-sized context with the refiner's add-embedding or channel count is the refiner.
    if (family === 'sdxl' && (info.admIn === 2560 || info.modelChannels === 384)) family = 'sdxl-refiner';
  } else if (te) {
    family = TE_FAMILY[te.kind];
  } else if (pipe && sdPipeline) {
    family = fromPipelineFolder(facts, pipe, evidence);
  }
  if (!family) return null;
  if (te && TE_FAMILY[te.kind] !== family && info?.contextDim !== undefined) {
    evidence.push(`text encoders say ${TE_FAMILY[te.kind]}, UNet widths say ${family}: trusting the UNet`);
  }
  return {family, info, evidence, specificity};
}

/** Folder with no UNet config: the text encoder's width, else the pipeline class. */
function fromPipelineFolder(facts: Facts, pipe: string, evidence: string[]): Family | undefined {
  if (/XL/.test(pipe)) {
    const te = component(facts, 'text_encoder');
    const only = !component(facts, 'text_encoder_2')?.className && configClass(te?.config) === 'CLIPTextModelWithProjection';
    return only ? 'sdxl-refiner' : 'sdxl';
  }
  const hidden = num(component(facts, 'text_encoder')?.config?.hidden_size);
  if (hidden !== undefined) evidence.push(`text_encoder/config.json hidden_size=${hidden}`);
  if (hidden === 768) return 'sd1';
  if (hidden === 1024) return 'sd2';
  return undefined;
}

/** Shared variant logic by UNet in-channels: 9 inpaint, 8 instruct-pix2pix, 5 depth (SD2), 7 x4 upscaler. */
export function sdInputVariants(c: SdClass, facts: Facts): {variants: string[]; evidence: string[]} {
  const variants: string[] = [];
  const evidence: string[] = [];
  const inCh = c.info?.inChannels;
  const pipe = pipelineClass(facts) ?? '';
  if (inCh === 9 || /Inpaint/.test(pipe)) variants.push('inpaint');
  else if (inCh === 8 || /InstructPix2Pix/.test(pipe)) variants.push('instruct-pix2pix');
  else if ((inCh === 5 && c.family === 'sd2') || /Depth2Img/.test(pipe)) variants.push('depth');
  else if ((inCh === 7 && c.family === 'sd2') || /Upscale/.test(pipe)) variants.push('x4-upscaler');
  if (inCh !== undefined && inCh !== 4) evidence.push(`UNet in_channels=${inCh}`);
  return {variants, evidence};
}
