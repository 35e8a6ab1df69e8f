// Per-family data: generation defaults, the diffusers pipeline class per task, a suggested base repo,
// the numbers the VRAM estimate needs, and where each component lives in a single-file checkpoint.
// Adding a family = one row here plus one rule file in rules/.
import type {Family, Task} from './types.js';

export interface FamilyInfo {
  label: string;
  defaults: {width: number; height: number; steps: number; guidance_scale: number};
  /** Pipeline class per task; `text-to-image` (or `text-to-video`) is the main one. */
  pipelines: Partial<Record<Task, string>>;
  mainTask: Task;
  /** Suggested diffusers repo for a base model / missing components. */
  suggested: string | null;
  /** VAE spatial downscale, latent channels, patch size, transformer/UNet width: activation estimate. */
  vaeScale: number;
  latentChannels: number;
  patch: number;
  width: number;
  /** Frames for video families (default generation length). */
  frames?: number;
  /** Frames per second the video family was trained at (the container's default rate). */
  fps?: number;
  /** Audio families: the default clip length in seconds. */
  duration?: number;
  /** Single-file component prefixes (diffusers component name -> key prefixes). The denoiser is implied. */
  parts: Record<string, string[]>;
  denoiser: 'unet' | 'transformer' | 'prior' | 'decoder';
}

const SD_PARTS_1 = {vae: ['first_stage_model.', 'vae.'], text_encoder: ['cond_stage_model.', 'text_encoders.clip_l.', 'text_encoder.']};
const XL_PARTS = {
  vae: ['first_stage_model.', 'vae.'],
  text_encoder: ['conditioner.embedders.0.transformer.', 'text_encoders.clip_l.', 'text_encoder.'],
  text_encoder_2: ['conditioner.embedders.1.model.', 'text_encoders.clip_g.', 'text_encoder_2.'],
};

const T = (width: number, height: number, steps: number, guidance_scale: number) => ({width, height, steps, guidance_scale});

export const FAMILIES: Record<Family, FamilyInfo> = {
  sd1: {
    label: 'Stable Diffusion 1.x', defaults: T(512, 512, 30, 7.5), mainTask: 'text-to-image',
    pipelines: {'text-to-image': 'StableDiffusionPipeline', 'image-to-image': 'StableDiffusionImg2ImgPipeline', inpaint: 'StableDiffusionInpaintPipeline'},
    suggested: 'stable-diffusion-v1-5/stable-diffusion-v1-5', vaeScale: 8, latentChannels: 4, patch: 1, width: 320, parts: SD_PARTS_1, denoiser: 'unet',
  },
  sd2: {
    label: 'Stable Diffusion 2.x', defaults: T(768, 768, 30, 7.5), mainTask: 'text-to-image',
    pipelines: {'text-to-image': 'StableDiffusionPipeline', 'image-to-image': 'StableDiffusionImg2ImgPipeline', inpaint: 'StableDiffusionInpaintPipeline', upscale: 'StableDiffusionUpscalePipeline'},
    suggested: 'stabilityai/stable-diffusion-2-1', vaeScale: 8, latentChannels: 4, patch: 1, width: 320, parts: SD_PARTS_1, denoiser: 'unet',
  },
  sdxl: {
    label: 'Stable Diffusion XL', defaults: T(1024, 1024, 30, 5), mainTask: 'text-to-image',
    pipelines: {'text-to-image': 'StableDiffusionXLPipeline', 'image-to-image': 'StableDiffusionXLImg2ImgPipeline', inpaint: 'StableDiffusionXLInpaintPipeline'},
    suggested: 'stabilityai/stable-diffusion-xl-base-1.0', vaeScale: 8, latentChannels: 4, patch: 1, width: 320, parts: XL_PARTS, denoiser: 'unet',
  },
  'sdxl-refiner': {
    label: 'Stable Diffusion XL refiner', defaults: T(1024, 1024, 30, 5), mainTask: 'image-to-image',
    pipelines: {'image-to-image': 'StableDiffusionXLImg2ImgPipeline', inpaint: 'StableDiffusionXLInpaintPipeline'},
    suggested: 'stabilityai/stable-diffusion-xl-refiner-1.0', vaeScale: 8, latentChannels: 4, patch: 1, width: 384,
    parts: {vae: ['first_stage_model.', 'vae.'], text_encoder_2: ['conditioner.embedders.0.model.', 'text_encoders.clip_g.']}, denoiser: 'unet',
  },
  kolors: {
    label: 'Kolors', defaults: T(1024, 1024, 25, 5), mainTask: 'text-to-image',
    pipelines: {'text-to-image': 'KolorsPipeline', 'image-to-image': 'KolorsImg2ImgPipeline'},
    suggested: 'Kwai-Kolors/Kolors-diffusers', vaeScale: 8, latentChannels: 4, patch: 1, width: 320, parts: {vae: ['first_stage_model.', 'vae.']}, denoiser: 'unet',
  },
  sd3: {
    label: 'Stable Diffusion 3', defaults: T(1024, 1024, 28, 7), mainTask: 'text-to-image',
    pipelines: {'text-to-image': 'StableDiffusion3Pipeline', 'image-to-image': 'StableDiffusion3Img2ImgPipeline', inpaint: 'StableDiffusion3InpaintPipeline'},
    suggested: 'stabilityai/stable-diffusion-3-medium-diffusers', vaeScale: 8, latentChannels: 16, patch: 2, width: 1536,
    parts: {vae: ['first_stage_model.', 'vae.'], text_encoder: ['text_encoders.clip_l.'], text_encoder_2: ['text_encoders.clip_g.'], text_encoder_3: ['text_encoders.t5xxl.']}, denoiser: 'transformer',
  },
  flux: {
    label: 'FLUX.1', defaults: T(1024, 1024, 28, 3.5), mainTask: 'text-to-image',
    pipelines: {'text-to-image': 'FluxPipeline', 'image-to-image': 'FluxImg2ImgPipeline', inpaint: 'FluxFillPipeline'},
    suggested: 'black-forest-labs/FLUX.1-dev', vaeScale: 8, latentChannels: 16, patch: 2, width: 3072,
    parts: {vae: ['vae.', 'first_stage_model.'], text_encoder: ['text_encoders.clip_l.'], text_encoder_2: ['text_encoders.t5xxl.']}, denoiser: 'transformer',
  },
  flux2: {
    label: 'FLUX.2', defaults: T(1024, 1024, 50, 4), mainTask: 'text-to-image',
    pipelines: {'text-to-image': 'Flux2Pipeline'}, suggested: 'black-forest-labs/FLUX.2-dev', vaeScale: 16, latentChannels: 32, patch: 1, width: 6144,
    parts: {vae: ['vae.'], text_encoder: ['text_encoders.']}, denoiser: 'transformer',
  },
  chroma: {
    label: 'Chroma', defaults: T(1024, 1024, 40, 4), mainTask: 'text-to-image',
    pipelines: {'text-to-image': 'ChromaPipeline', 'image-to-image': 'ChromaImg2ImgPipeline'}, suggested: 'lodestones/Chroma1-HD',
    vaeScale: 8, latentChannels: 16, patch: 2, width: 3072, parts: {vae: ['vae.', 'first_stage_model.'], text_encoder: ['text_encoders.t5xxl.']}, denoiser: 'transformer',
  },
  cascade: {
    label: 'Stable Cascade', defaults: T(1024, 1024, 20, 4), mainTask: 'text-to-image',
    pipelines: {'text-to-image': 'StableCascadeCombinedPipeline'}, suggested: 'stabilityai/stable-cascade', vaeScale: 42, latentChannels: 16, patch: 1, width: 2048,
    parts: {}, denoiser: 'prior',
  },
  pixart: {
    label: 'PixArt', defaults: T(1024, 1024, 20, 4.5), mainTask: 'text-to-image',
    pipelines: {'text-to-image': 'PixArtSigmaPipeline'}, suggested: 'PixArt-alpha/PixArt-Sigma-XL-2-1024-MS', vaeScale: 8, latentChannels: 4, patch: 2, width: 1152,
    parts: {vae: ['vae.', 'first_stage_model.']}, denoiser: 'transformer',
  },
  auraflow: {
    label: 'AuraFlow', defaults: T(1024, 1024, 50, 3.5), mainTask: 'text-to-image',
    pipelines: {'text-to-image': 'AuraFlowPipeline'}, suggested: 'fal/AuraFlow-v0.3', vaeScale: 8, latentChannels: 4, patch: 2, width: 3072,
    parts: {vae: ['vae.', 'first_stage_model.']}, denoiser: 'transformer',
  },
  hunyuandit: {
    label: 'Hunyuan-DiT', defaults: T(1024, 1024, 50, 5), mainTask: 'text-to-image',
    pipelines: {'text-to-image': 'HunyuanDiTPipeline'}, suggested: 'Tencent-Hunyuan/HunyuanDiT-v1.2-Diffusers', vaeScale: 8, latentChannels: 4, patch: 2, width: 1408,
    parts: {vae: ['vae.']}, denoiser: 'transformer',
  },
  cogvideox: {
    label: 'CogVideoX', defaults: T(720, 480, 50, 6), mainTask: 'text-to-video', frames: 49, fps: 8,
    pipelines: {'text-to-video': 'CogVideoXPipeline', 'image-to-video': 'CogVideoXImageToVideoPipeline'}, suggested: 'THUDM/CogVideoX-5b',
    vaeScale: 8, latentChannels: 16, patch: 2, width: 3072, parts: {vae: ['vae.']}, denoiser: 'transformer',
  },
  ltxv: {
    label: 'LTX-Video', defaults: T(704, 480, 50, 3), mainTask: 'text-to-video', frames: 161, fps: 25,
    pipelines: {'text-to-video': 'LTXPipeline', 'image-to-video': 'LTXImageToVideoPipeline'}, suggested: 'Lightricks/LTX-Video',
    vaeScale: 32, latentChannels: 128, patch: 1, width: 2048, parts: {vae: ['vae.']}, denoiser: 'transformer',
  },
  wan: {
    label: 'Wan', defaults: T(832, 480, 50, 5), mainTask: 'text-to-video', frames: 81, fps: 16,
    pipelines: {'text-to-video': 'WanPipeline', 'image-to-video': 'WanImageToVideoPipeline'}, suggested: 'Wan-AI/Wan2.1-T2V-14B-Diffusers',
    vaeScale: 8, latentChannels: 16, patch: 2, width: 5120,
    // Wan files hold the transformer alone (the VAE and UMT5 are shared as separate files): these are what it lacks.
    parts: {vae: ['vae.', 'first_stage_model.'], text_encoder: ['text_encoder.', 'text_encoders.']}, denoiser: 'transformer',
  },
  hunyuanvideo: {
    label: 'HunyuanVideo', defaults: T(1280, 720, 50, 6), mainTask: 'text-to-video', frames: 129, fps: 24,
    pipelines: {'text-to-video': 'HunyuanVideoPipeline', 'image-to-video': 'HunyuanVideoImageToVideoPipeline'}, suggested: 'hunyuanvideo-community/HunyuanVideo',
    vaeScale: 8, latentChannels: 16, patch: 2, width: 3072, parts: {}, denoiser: 'transformer',
  },
  sana: {
    label: 'SANA', defaults: T(1024, 1024, 20, 4.5), mainTask: 'text-to-image',
    pipelines: {'text-to-image': 'SanaPipeline'}, suggested: 'Efficient-Large-Model/Sana_1600M_1024px_diffusers', vaeScale: 32, latentChannels: 32, patch: 1, width: 2240,
    parts: {}, denoiser: 'transformer',
  },
  lumina2: {
    label: 'Lumina-Image 2.0', defaults: T(1024, 1024, 30, 4), mainTask: 'text-to-image',
    pipelines: {'text-to-image': 'Lumina2Pipeline'}, suggested: 'Alpha-VLLM/Lumina-Image-2.0', vaeScale: 8, latentChannels: 16, patch: 2, width: 2304,
    parts: {vae: ['vae.', 'first_stage_model.']}, denoiser: 'transformer',
  },
  'qwen-image': {
    label: 'Qwen-Image', defaults: T(1328, 1328, 50, 4), mainTask: 'text-to-image',
    pipelines: {'text-to-image': 'QwenImagePipeline', 'image-to-image': 'QwenImageEditPipeline', inpaint: 'QwenImageInpaintPipeline'}, suggested: 'Qwen/Qwen-Image',
    // Its single files (ComfyUI's, city96's GGUF) hold the transformer alone: they lack these and go on a base.
    vaeScale: 8, latentChannels: 16, patch: 2, width: 3072, parts: {vae: ['vae.', 'first_stage_model.'], text_encoder: ['text_encoder.', 'text_encoders.']}, denoiser: 'transformer',
  },
  'stable-audio': {
    label: 'Stable Audio Open', defaults: T(0, 0, 100, 7), mainTask: 'text-to-audio', duration: 10,
    pipelines: {'text-to-audio': 'StableAudioPipeline'}, suggested: 'stabilityai/stable-audio-open-1.0',
    vaeScale: 2048, latentChannels: 64, patch: 1, width: 1536, parts: {}, denoiser: 'transformer',
  },
  unknown: {
    label: 'unknown', defaults: T(512, 512, 30, 7), mainTask: 'unknown', pipelines: {}, suggested: null,
    vaeScale: 8, latentChannels: 4, patch: 1, width: 320, parts: {}, denoiser: 'transformer',
  },
};

/** Repo overrides for variants whose base is a different repo. */
export const VARIANT_SUGGESTED: Array<{family: Family; variant: string; repo: string}> = [
  {family: 'flux', variant: 'schnell', repo: 'black-forest-labs/FLUX.1-schnell'},
  {family: 'flux', variant: 'fill', repo: 'black-forest-labs/FLUX.1-Fill-dev'},
  {family: 'flux', variant: 'kontext', repo: 'black-forest-labs/FLUX.1-Kontext-dev'},
  {family: 'flux', variant: 'depth-canny', repo: 'black-forest-labs/FLUX.1-Depth-dev'},
  {family: 'sd1', variant: 'inpaint', repo: 'stable-diffusion-v1-5/stable-diffusion-inpainting'},
  {family: 'sd2', variant: 'inpaint', repo: 'stabilityai/stable-diffusion-2-inpainting'},
  {family: 'sd2', variant: 'depth', repo: 'stabilityai/stable-diffusion-2-depth'},
  {family: 'sd2', variant: 'x4-upscaler', repo: 'stabilityai/stable-diffusion-x4-upscaler'},
  {family: 'sdxl', variant: 'inpaint', repo: 'diffusers/stable-diffusion-xl-1.0-inpainting-0.1'},
  {family: 'sdxl', variant: 'playground-v2.5', repo: 'playgroundai/playground-v2.5-1024px-aesthetic'},
  {family: 'sd3', variant: '3.5-medium', repo: 'stabilityai/stable-diffusion-3.5-medium'},
  {family: 'sd3', variant: '3.5-large', repo: 'stabilityai/stable-diffusion-3.5-large'},
  {family: 'cascade', variant: 'prior', repo: 'stabilityai/stable-cascade-prior'},
  {family: 'pixart', variant: 'alpha', repo: 'PixArt-alpha/PixArt-XL-2-1024-MS'},
  {family: 'qwen-image', variant: 'edit', repo: 'Qwen/Qwen-Image-Edit'},
  {family: 'wan', variant: 'wan2.1-t2v-1.3b', repo: 'Wan-AI/Wan2.1-T2V-1.3B-Diffusers'},
  {family: 'wan', variant: 'wan2.1-i2v-14b', repo: 'Wan-AI/Wan2.1-I2V-14B-720P-Diffusers'},
  {family: 'wan', variant: 'wan2.2-t2v-a14b', repo: 'Wan-AI/Wan2.2-T2V-A14B-Diffusers'},
  {family: 'wan', variant: 'wan2.2-i2v-a14b', repo: 'Wan-AI/Wan2.2-I2V-A14B-Diffusers'},
  {family: 'wan', variant: 'wan2.2-ti2v-5b', repo: 'Wan-AI/Wan2.2-TI2V-5B-Diffusers'},
  {family: 'flux2', variant: 'klein-4b', repo: 'black-forest-labs/FLUX.2-klein-4B'},
  {family: 'flux2', variant: 'klein-9b', repo: 'black-forest-labs/FLUX.2-klein-9B'},
];

export function suggestedRepo(family: Family, variants: string[]): string | null {
  for (const v of VARIANT_SUGGESTED) if (v.family === family && variants.includes(v.variant)) return v.repo;
  return FAMILIES[family].suggested;
}

/** Task implied by variants (inpaint / upscaler / video i2v), else the family's main task. */
export function taskFor(family: Family, variants: string[]): Task {
  if (variants.includes('inpaint') || variants.includes('fill')) return 'inpaint';
  if (variants.includes('x4-upscaler')) return 'upscale';
  if (variants.includes('edit') || variants.includes('kontext') || variants.includes('instruct-pix2pix')) return 'image-to-image';
  if (variants.includes('i2v') || variants.includes('ti2v')) return 'image-to-video';
  return FAMILIES[family].mainTask;
}

export function pipelineFor(family: Family, task: Task, variants: string[]): string | null {
  const info = FAMILIES[family];
  if (family === 'flux' && variants.includes('kontext')) return 'FluxKontextPipeline';
  if (family === 'flux' && variants.includes('depth-canny')) return 'FluxControlPipeline';
  if (family === 'pixart' && variants.includes('alpha')) return 'PixArtAlphaPipeline';
  if (family === 'cascade' && variants.includes('prior')) return 'StableCascadePriorPipeline';
  if (family === 'cascade' && variants.includes('decoder')) return 'StableCascadeDecoderPipeline';
  if (family === 'sdxl-refiner') return info.pipelines['image-to-image'] ?? null;
  return info.pipelines[task] ?? info.pipelines[info.mainTask] ?? null;
}
