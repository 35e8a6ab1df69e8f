// ModelReports built in code for plan-builder tests (the shape src/detect produces).
import type {ModelReport} from '../../src/detect/types.js';

export function report(over: Partial<ModelReport> = {}): ModelReport {
  return {
    source: {type: 'local', id: '/models/m'},
    format: 'diffusers',
    kind: 'checkpoint',
    family: 'sd1',
    variants: [],
    precision: 'fp32',
    parameters: 1_000_000_000,
    files: [
      {path: 'unet/diffusion_pytorch_model.safetensors', size: 3_400_000_000, format: 'safetensors', dtypes: {F32: 100}},
      {path: 'vae/diffusion_pytorch_model.safetensors', size: 330_000_000, format: 'safetensors', dtypes: {F32: 10}},
    ],
    components: {unet: {class: 'UNet2DConditionModel', library: 'diffusers', present: true}},
    missing: [],
    pipeline: 'StableDiffusionPipeline',
    task: 'text-to-image',
    defaults: {width: 512, height: 512, steps: 30, guidance_scale: 7.5},
    memory: {weights_bytes: 4e9, estimated_peak_vram_bytes: {fp16: 3e9, bf16: 3e9, fp32: 6e9}},
    security: {pickle: false, unsafe_globals: [], trust_remote_code_needed: false},
    metadata: {},
    evidence: [],
    warnings: [],
    ...over,
  };
}
