// The memory plan's decision table (src/backends/memory-plan.ts) for card sizes 6-80 GiB against SD1.5, SDXL,
// SD3.5 Large, FLUX.1-dev and Wan 2.1 14B, checked against the VRAM figures diffusers publishes (cited in
// memory-plan.ts): FLUX.1 pipeline ~33 GB in bf16, ~24 GB with model CPU offload, transformer 22.6 GB bf16 /
// 6.7 GB bnb-nf4 / 0.55 GB with leaf-level group offload; SDXL UNet 5.05 GB in bf16; FLUX on 6 GB with sequential
// offload + VAE tiling and slicing.
import {describe, expect, it} from '@jest/globals';
import {resolve} from 'node:path';
import {detectLocal} from '../../src/detect/index.js';
import type {ModelReport} from '../../src/detect/types.js';
import {decideMemory, fitAdvice, memoryNeeds, nextPlanHint, parseVram, planNeed} from '../../src/backends/memory-plan.js';
import {report} from './report-fixture.js';

const GiB = 2 ** 30;
const CORPUS = resolve(process.cwd(), '../shared/corpus/detect');

/** A diffusers-folder report from component sizes in billions of parameters, stored in 16-bit. */
function pipelineReport(family: ModelReport['family'], denoiser: string, parts: Record<string, number>, pipeline: string): ModelReport {
  const files = Object.entries(parts).map(([name, b]) => ({path: `${name}/diffusion_pytorch_model.safetensors`, size: b * 2e9, format: 'safetensors' as const, dtypes: {BF16: 100}}));
  const params = Object.values(parts).reduce((s, b) => s + b * 1e9, 0);
  return report({family, precision: 'bf16', parameters: params, files, pipeline, components: {[denoiser]: {class: 'X', library: 'diffusers', present: true}},
    memory: {weights_bytes: params * 2, estimated_peak_vram_bytes: {fp16: 0, bf16: 0, fp32: 0}}});
}

// Published component sizes (model cards): SDXL UNet 2.57B + CLIP-L 0.123B + OpenCLIP-G 0.695B + VAE 0.084B;
// SD3.5 Large MMDiT 8.1B + CLIP-L + CLIP-G + T5-XXL 4.76B + VAE; Wan 2.1 T2V 14B + UMT5-XXL 5.7B + VAE 0.127B.
const SDXL = pipelineReport('sdxl', 'unet', {unet: 2.567, text_encoder: 0.123, text_encoder_2: 0.695, vae: 0.084}, 'StableDiffusionXLPipeline');
const SD35L = pipelineReport('sd3', 'transformer', {transformer: 8.1, text_encoder: 0.123, text_encoder_2: 0.695, text_encoder_3: 4.76, vae: 0.084}, 'StableDiffusion3Pipeline');
const WAN14 = pipelineReport('wan', 'transformer', {transformer: 14.0, text_encoder: 5.7, vae: 0.127}, 'WanPipeline');
const CARDS = [6, 8, 12, 16, 24, 80];

async function corpus(path: string): Promise<ModelReport> {
  return detectLocal(resolve(CORPUS, path));
}

function table(r: ModelReport): string[] {
  const needs = memoryNeeds(r, 'bfloat16');
  return CARDS.map((g) => {
    const d = decideMemory({needs, device: 'cuda', free: g * GiB, dtype: 'bfloat16'});
    return `${g}:${d.plan}${d.vae_tiling ? '+tiling' : ''}`;
  });
}

describe('memory plan decision table', () => {
  it('SD1.5 (the real-size header of the corpus file) fits every card whole', async () => {
    const sd15 = await corpus('sdmecha-sd1-ldm/sd1-ldm.safetensors');
    expect(table(sd15)).toEqual(['6:gpu', '8:gpu', '12:gpu', '16:gpu', '24:gpu', '80:gpu']);
  });

  it('SDXL: whole from 8 GiB on with VAE tiling (its UNet alone is 5.05 GB in bf16; the 1024px decode ~1.5 GiB); fp8 storage on 6 GiB', () => {
    expect(table(SDXL)).toEqual(['6:fp8-cast+tiling', '8:gpu+tiling', '12:gpu', '16:gpu', '24:gpu', '80:gpu']);
    expect(memoryNeeds(SDXL, 'bfloat16').denoiser / 1e9).toBeCloseTo(5.13, 1);
  });

  it('SD3.5 Large (13.8B parameters, 25.6 GiB of bf16 weights): fp8 storage at 24 GiB, model offload at 16, group offload below', () => {
    expect(table(SD35L)).toEqual(['6:group-offload', '8:group-offload', '12:group-offload', '16:model-offload+tiling', '24:fp8-cast', '80:gpu']);
  });

  it('FLUX.1-dev (the corpus file: transformer + CLIP-L + T5-XXL): ~33 GB whole, ~24 GB under model offload', async () => {
    const flux = await corpus('sdmecha-flux-dev/flux_dev-flux.safetensors');
    const needs = memoryNeeds(flux, 'bfloat16');
    expect(planNeed('gpu', needs) / 1e9).toBeGreaterThan(30);
    expect(planNeed('gpu', needs) / 1e9).toBeLessThan(40);
    expect(planNeed('model-offload', needs) / 1e9).toBeGreaterThan(22);
    expect(planNeed('model-offload', needs) / 1e9).toBeLessThan(28);
    expect(table(flux)).toEqual(['6:group-offload', '8:group-offload', '12:group-offload', '16:group-offload', '24:fp8-cast', '80:gpu']);
    // NF4 at load time: the transformer's 11.9B weights at 4.5 bits, diffusers' bnb-nf4 row says 6.7 GB.
    expect(memoryNeeds(flux, 'bfloat16', {quantize: 'nf4'}).denoiser / 1e9).toBeGreaterThan(6);
    expect(memoryNeeds(flux, 'bfloat16', {quantize: 'nf4'}).denoiser / 1e9).toBeLessThan(7.5);
  });

  it('Wan 2.1 14B: whole only on 80 GiB; group offload from 12 GiB (its causal VAE decodes 4 frames at a time); sequential + tiling below', () => {
    expect(table(WAN14)).toEqual(['6:sequential+tiling', '8:sequential+tiling', '12:group-offload', '16:group-offload', '24:group-offload', '80:gpu']);
  });

  it('VAE tiling and slicing when only the decode does not fit', () => {
    const needs = memoryNeeds(SDXL, 'bfloat16');
    const justBelow = planNeed('gpu', needs) - 1;
    const tiledFits = planNeed('gpu', needs, true) <= justBelow;
    const d = decideMemory({needs, device: 'cuda', free: justBelow, dtype: 'bfloat16'});
    expect(tiledFits).toBe(true);
    expect(d).toMatchObject({plan: 'gpu', vae_tiling: true, vae_slicing: true});
  });

  it('nothing fits: sequential with tiling, and the OOM advice is quantization', () => {
    const d = decideMemory({needs: memoryNeeds(WAN14, 'bfloat16'), device: 'cuda', free: 0.5 * GiB, dtype: 'bfloat16'});
    expect(d.plan).toBe('sequential');
    expect(d.reason).toMatch(/nothing fits/);
    expect(d.next).toBe('--quantize nf4');
  });

  it('quantized files are not cast to fp8 again, and --quantize shrinks only the denoiser', () => {
    const gguf = report({family: 'flux', format: 'gguf', precision: 'gguf-q4_k', parameters: 11.9e9, missing: ['vae', 'text_encoder', 'text_encoder_2'],
      files: [{path: 'flux1-dev-Q4_K_S.gguf', size: 6.8e9, format: 'gguf', dtypes: {}}], memory: {weights_bytes: 6.8e9, estimated_peak_vram_bytes: {fp16: 0, bf16: 0, fp32: 0}}});
    const needs = memoryNeeds(gguf, 'bfloat16');
    expect(needs.quantized).toBe(true);
    expect(needs.denoiser).toBe(6.8e9);
    const d = decideMemory({needs, device: 'cuda', free: 6 * GiB, dtype: 'bfloat16'});
    expect(d.plan).not.toBe('fp8-cast');
    const plain = memoryNeeds(SDXL, 'bfloat16');
    const int8 = memoryNeeds(SDXL, 'bfloat16', {quantize: 'int8'});
    expect(plain.weights - int8.weights).toBeCloseTo(plain.denoiser - int8.denoiser, -3);
  });

  it('on CPU the plan is "cpu" and the advice is int8', () => {
    const d = decideMemory({needs: memoryNeeds(SDXL, 'float32'), device: 'cpu', free: null, dtype: 'float32'});
    expect(d).toMatchObject({plan: 'cpu', next: '--quantize int8 or a smaller --width/--height'});
  });

  it('an explicit --memory is kept and says whether it fits; fp8-cast of fp32 weights is a usage error', () => {
    const needs = memoryNeeds(SDXL, 'bfloat16');
    expect(decideMemory({needs, device: 'cuda', free: 80 * GiB, dtype: 'bfloat16', requested: 'sequential'})).toMatchObject({plan: 'sequential', next: '--quantize nf4'});
    expect(decideMemory({needs, device: 'cuda', free: 80 * GiB, dtype: 'bfloat16', requested: 'model-offload'}).next).toBe('--memory sequential or --quantize nf4');
    expect(() => decideMemory({needs, device: 'cuda', free: 80 * GiB, dtype: 'float32', requested: 'fp8-cast'})).toThrow(/16-bit/);
  });

  it('the OOM hint names the next plan', () => {
    expect(nextPlanHint('gpu', 'none', 'cuda')).toBe('--memory sequential or --quantize nf4');
    expect(nextPlanHint('sequential', 'nf4', 'cuda')).toBe('a smaller --width/--height');
  });
});

describe('inspect --vram advice', () => {
  it('says which --memory / --quantize makes FLUX.1-dev fit 8, 24 and 80 GiB', async () => {
    const flux = await corpus('sdmecha-flux-dev/flux_dev-flux.safetensors');
    expect(fitAdvice(flux, 8 * GiB)).toMatchObject({fits: true, flags: '--memory group-offload'});
    expect(fitAdvice(flux, 24 * GiB)).toMatchObject({fits: true, flags: '--memory fp8-cast'});
    expect(fitAdvice(flux, 80 * GiB)).toMatchObject({fits: true, flags: ''});
    expect(fitAdvice(SD35L, 16 * GiB).line).toMatch(/--memory model-offload.*or all on the GPU with --quantize (fp8|int8|nf4)/);
  });

  it('parses sizes', () => {
    expect(parseVram('8GiB')).toBe(8 * GiB);
    expect(parseVram('12GB')).toBe(12e9);
    expect(parseVram('6144MiB')).toBe(6 * GiB);
    expect(parseVram('8')).toBe(8 * GiB);
    expect(() => parseVram('lots')).toThrow(/expected a size/);
  });
});

// Video: frames x size through the family's video VAE (src/backends/video-decode.ts) decides VAE tiling. Figures:
// diffusers' CogVideoX docs (CogVideoX-2b, 49 frames of 720x480 in fp16: 33 GB whole, 19 GB with model CPU offload,
// 11 GB with offload + VAE tiling); diffusers' Wan docs (Wan 2.1 T2V 14B, 480p, 81 frames: ~13 GB with group
// offloading and no tiling, its VAE in float32); ComfyUI's per-VAE decode estimates (Wan, HunyuanVideo, LTX-Video).
describe('video decode decides VAE tiling', () => {
  const COG2B = pipelineReport('cogvideox', 'transformer', {transformer: 1.69, text_encoder: 4.76, vae: 0.216}, 'CogVideoXPipeline');
  const COG5B = pipelineReport('cogvideox', 'transformer', {transformer: 5.57, text_encoder: 4.76, vae: 0.216}, 'CogVideoXPipeline');
  const WAN13 = pipelineReport('wan', 'transformer', {transformer: 1.42, text_encoder: 5.7, vae: 0.127}, 'WanPipeline');
  const HUNYUAN = pipelineReport('hunyuanvideo', 'transformer', {transformer: 12.8, text_encoder: 7.5, text_encoder_2: 0.123, vae: 0.246}, 'HunyuanVideoPipeline');
  const LTX = pipelineReport('ltxv', 'transformer', {transformer: 1.92, text_encoder: 4.76, vae: 0.42}, 'LTXPipeline');
  const auto = (r: ModelReport, card: number, dtype: 'bfloat16' | 'float16' = 'bfloat16', video?: {width?: number; height?: number; frames?: number}) =>
    decideMemory({needs: memoryNeeds(r, dtype, {video}), device: 'cuda', free: card * GiB, dtype});

  it('CogVideoX-2b, 49 frames of 720x480 in fp16: ~33 GB whole, ~19 GB under model offload, ~11-13 GB tiled (diffusers docs)', () => {
    const needs = memoryNeeds(COG2B, 'float16');
    expect(needs.decode / 1e9).toBeGreaterThan(17);
    expect(needs.decode / 1e9).toBeLessThan(19);
    expect(planNeed('gpu', needs) / 1e9).toBeGreaterThan(30);
    expect(planNeed('gpu', needs) / 1e9).toBeLessThan(35);
    expect(planNeed('model-offload', needs) / 1e9).toBeGreaterThan(17);
    expect(planNeed('model-offload', needs) / 1e9).toBeLessThan(21);
    expect(planNeed('model-offload', needs, true) / 1e9).toBeGreaterThan(10);
    expect(planNeed('model-offload', needs, true) / 1e9).toBeLessThan(14);
    // 24 GiB: the weights fit, the decode does not: everything on the GPU, the VAE tiled.
    expect(auto(COG2B, 24, 'float16')).toMatchObject({plan: 'gpu', vae_tiling: true, vae_slicing: true});
    expect(auto(COG2B, 80, 'float16')).toMatchObject({plan: 'gpu', vae_tiling: false});
    expect(auto(COG5B, 24)).toMatchObject({plan: 'gpu', vae_tiling: true});
  });

  it('Wan 2.1 14B at 480p, 81 frames: the causal VAE decodes 4 frames at a time (~6 GB); on 24 GiB group offload needs no tiling (diffusers: ~13 GB)', () => {
    const needs = memoryNeeds(WAN14, 'bfloat16');
    expect(needs.decode / 1e9).toBeGreaterThan(5);
    expect(needs.decode / 1e9).toBeLessThan(7);
    expect(auto(WAN14, 24)).toMatchObject({plan: 'group-offload', vae_tiling: false});
    expect(planNeed('group-offload', needs) / 1e9).toBeLessThan(13.5);
    // Frames add only the decoded frames themselves: 161 frames decode in about the same memory as 81.
    expect(memoryNeeds(WAN14, 'bfloat16', {video: {frames: 161}}).decode - needs.decode).toBeLessThan(0.5e9);
  });

  it('small clips need no tiling: Wan 1.3B 480p on 24 GiB, a short LTX-Video clip on 16 GiB', () => {
    expect(auto(WAN13, 24)).toMatchObject({vae_tiling: false});
    expect(auto(LTX, 16, 'bfloat16', {width: 512, height: 320, frames: 49})).toMatchObject({vae_tiling: false});
  });

  it('HunyuanVideo 720p, 129 frames: the whole clip goes through its VAE at once, so even 80 GiB needs tiling', () => {
    expect(memoryNeeds(HUNYUAN, 'bfloat16').decode / GiB).toBeGreaterThan(80);
    expect(auto(HUNYUAN, 80)).toMatchObject({vae_tiling: true});
    expect(auto(HUNYUAN, 24)).toMatchObject({vae_tiling: true});
  });

  it('the clip asked for scales the decode (CogVideoX: frames x size) and the reason names the estimate', () => {
    const short = memoryNeeds(COG2B, 'float16', {video: {width: 360, height: 240, frames: 13}});
    expect(short.decode / memoryNeeds(COG2B, 'float16').decode).toBeCloseTo((360 * 240 * 13) / (720 * 480 * 49), 2);
    expect(auto(COG2B, 24, 'float16', {width: 360, height: 240, frames: 13})).toMatchObject({plan: 'gpu', vae_tiling: false});
    expect(auto(COG2B, 24, 'float16').reason).toMatch(/video decode ~1[67]\.\d GiB, ~2\.\d GiB tiled$/);
    expect(auto(SDXL, 24).reason).not.toMatch(/video decode/);
  });
});
