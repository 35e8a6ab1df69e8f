// Family facts the load plan needs, kept as data: the diffusers pipeline class per family and task, the
// denoiser component a component-only file replaces, and the half precision a family runs in on CUDA.
import type {Family} from '../detect/types.js';
import type {Dtype} from './worker/types.js';

export type PlanTask = 'text-to-image' | 'image-to-image' | 'inpaint';

interface FamilyInfo {
  pipelines: Partial<Record<PlanTask, string>>;
  controlnet?: Partial<Record<PlanTask, string>>;
  denoiser: 'unet' | 'transformer';
  cudaDtype: Dtype;
}

const SD = (prefix: string): FamilyInfo['pipelines'] => ({
  'text-to-image': `${prefix}Pipeline`,
  'image-to-image': `${prefix}Img2ImgPipeline`,
  inpaint: `${prefix}InpaintPipeline`,
});

export const FAMILIES: Partial<Record<Family, FamilyInfo>> = {
  sd1: {
    pipelines: SD('StableDiffusion'),
    controlnet: SD('StableDiffusionControlNet'),
    denoiser: 'unet',
    cudaDtype: 'float16',
  },
  sd2: {
    pipelines: SD('StableDiffusion'),
    controlnet: SD('StableDiffusionControlNet'),
    denoiser: 'unet',
    cudaDtype: 'float16',
  },
  sdxl: {
    pipelines: SD('StableDiffusionXL'),
    controlnet: SD('StableDiffusionXLControlNet'),
    denoiser: 'unet',
    cudaDtype: 'float16',
  },
  'sdxl-refiner': {pipelines: {'image-to-image': 'StableDiffusionXLImg2ImgPipeline', inpaint: 'StableDiffusionXLInpaintPipeline'}, denoiser: 'unet', cudaDtype: 'float16'},
  sd3: {pipelines: SD('StableDiffusion3'), controlnet: {'text-to-image': 'StableDiffusion3ControlNetPipeline'}, denoiser: 'transformer', cudaDtype: 'bfloat16'},
  flux: {pipelines: SD('Flux'), controlnet: SD('FluxControlNet'), denoiser: 'transformer', cudaDtype: 'bfloat16'},
  flux2: {pipelines: {'text-to-image': 'Flux2Pipeline'}, denoiser: 'transformer', cudaDtype: 'bfloat16'},
  chroma: {pipelines: {'text-to-image': 'ChromaPipeline', 'image-to-image': 'ChromaImg2ImgPipeline'}, denoiser: 'transformer', cudaDtype: 'bfloat16'},
  pixart: {pipelines: {'text-to-image': 'PixArtSigmaPipeline'}, denoiser: 'transformer', cudaDtype: 'float16'},
  kolors: {pipelines: {'text-to-image': 'KolorsPipeline', 'image-to-image': 'KolorsImg2ImgPipeline'}, denoiser: 'unet', cudaDtype: 'float16'},
  auraflow: {pipelines: {'text-to-image': 'AuraFlowPipeline'}, denoiser: 'transformer', cudaDtype: 'bfloat16'},
  hunyuandit: {pipelines: {'text-to-image': 'HunyuanDiTPipeline'}, denoiser: 'transformer', cudaDtype: 'float16'},
  sana: {pipelines: {'text-to-image': 'SanaPipeline'}, denoiser: 'transformer', cudaDtype: 'bfloat16'},
  lumina2: {pipelines: {'text-to-image': 'Lumina2Pipeline'}, denoiser: 'transformer', cudaDtype: 'bfloat16'},
  'qwen-image': {pipelines: SD('QwenImage'), denoiser: 'transformer', cudaDtype: 'bfloat16'},
  cascade: {pipelines: {'text-to-image': 'StableCascadeCombinedPipeline'}, denoiser: 'unet', cudaDtype: 'bfloat16'},
  cogvideox: {pipelines: {'text-to-image': 'CogVideoXPipeline'}, denoiser: 'transformer', cudaDtype: 'bfloat16'},
  ltxv: {pipelines: {'text-to-image': 'LTXPipeline'}, denoiser: 'transformer', cudaDtype: 'bfloat16'},
  wan: {pipelines: {'text-to-image': 'WanPipeline'}, denoiser: 'transformer', cudaDtype: 'bfloat16'},
  hunyuanvideo: {pipelines: {'text-to-image': 'HunyuanVideoPipeline'}, denoiser: 'transformer', cudaDtype: 'bfloat16'},
};

export function familyInfo(family: Family): FamilyInfo | undefined {
  return FAMILIES[family];
}

/** The pipeline class for a task, derived from the report's own class when the family table has none. */
export function pipelineFor(family: Family, reportPipeline: string | null, task: PlanTask, controlnet: boolean): string | null {
  const info = FAMILIES[family];
  const table = controlnet ? info?.controlnet : info?.pipelines;
  const fromTable = table?.[task];
  if (fromTable) {
    // An inpaint checkpoint's own class is already the inpaint pipeline; keep it for inpaint.
    if (task === 'text-to-image' && !controlnet && reportPipeline && /Inpaint|Img2Img/.test(reportPipeline)) return reportPipeline;
    return fromTable;
  }
  if (!reportPipeline) return null;
  if (task === 'text-to-image' && !controlnet) return reportPipeline;
  const stem = reportPipeline.replace(/(Img2Img|Inpaint)?Pipeline$/, '');
  const suffix = task === 'image-to-image' ? 'Img2ImgPipeline' : task === 'inpaint' ? 'InpaintPipeline' : 'Pipeline';
  return `${stem}${controlnet ? 'ControlNet' : ''}${suffix}`;
}
