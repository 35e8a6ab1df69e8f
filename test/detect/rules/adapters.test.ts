import {describe, expect, test} from '@jest/globals';
import {runRules} from '../../../src/detect/registry.js';
import {factsFrom} from '../../helpers/facts.js';
import * as a from '../../helpers/fixtures/adapters.js';
import type {TensorSpec} from '../../helpers/safetensors-writer.js';

function llmEncoder(): TensorSpec[] {
  return [{name: 'model.embed_tokens.weight', dtype: 'BF16', shape: [152064, 3584]}, {name: 'model.layers.0.self_attn.q_proj.weight', dtype: 'BF16', shape: [3584, 3584]}, {name: 'model.layers.27.mlp.up_proj.weight', dtype: 'BF16', shape: [18944, 3584]}];
}

const win = (f: ReturnType<typeof factsFrom>) => runRules(f).winner;

describe('aesthetic-gradient embeddings', () => {
  const one = (shape: number[], format: 'pickle' | 'safetensors' = 'pickle') => factsFrom([{name: 'tensor', dtype: 'F32', shape}], {name: 'sac_8plus.pt', format});
  test('a pickle holding one bare [1, 768] tensor is an SD1 aesthetic embedding that names the CLIP it needs', () => {
    const w = win(one([1, 768]));
    expect(w).toMatchObject({kind: 'aesthetic-embedding', family: 'sd1'});
    expect(w!.warnings?.join(' ')).toMatch(/needs openai\/clip-vit-large-patch14/);
    expect(win(one([1, 32]))).toMatchObject({kind: 'aesthetic-embedding', family: 'unknown'});
  });
  test('not a matrix, and not a safetensors file', () => {
    expect(win(one([4, 768]))?.kind).not.toBe('aesthetic-embedding');
    expect(win(one([1, 768], 'safetensors'))?.kind).not.toBe('aesthetic-embedding');
  });
});

describe('adapter and component kinds', () => {
  test.each([
    ['A1111 embedding 768', a.textualInversion.a1111(768), 'textual-inversion', 'sd1'],
    ['A1111 embedding 1024', a.textualInversion.a1111(1024), 'textual-inversion', 'sd2'],
    ['safetensors emb_params', a.textualInversion.embParams(768), 'textual-inversion', 'sd1'],
    ['SDXL clip_l + clip_g', a.textualInversion.sdxl(), 'textual-inversion', 'sdxl'],
    ['diffusers learned_embeds', a.textualInversion.learnedEmbeds(768), 'textual-inversion', 'sd1'],
    ['hypernetwork 768', a.hypernetworkTensors([320, 640, 768, 1280]), 'hypernetwork', 'sd1'],
    ['hypernetwork 1024', a.hypernetworkTensors([320, 640, 1024, 1280]), 'hypernetwork', 'sd2'],
    ['LDM ControlNet SD1', a.controlnetLdm(768), 'controlnet', 'sd1'],
    ['LDM ControlNet SDXL', a.controlnetLdm(2048, true), 'controlnet', 'sdxl'],
    ['diffusers ControlNet SD2', a.controlnetDiffusers(1024), 'controlnet', 'sd2'],
    ['diffusers ControlNet SDXL', a.controlnetDiffusers(2048, true), 'controlnet', 'sdxl'],
    ['FLUX ControlNet (InstantX)', a.controlnetFluxInstantX(), 'controlnet', 'flux'],
    ['T2I-Adapter SD1', a.t2iAdapter(false), 't2i-adapter', 'sd1'],
    ['T2I-Adapter SDXL', a.t2iAdapter(true), 't2i-adapter', 'sdxl'],
    ['IP-Adapter SD1 plus', a.ipAdapter(768, 'plus'), 'ip-adapter', 'sd1'],
    ['IP-Adapter SDXL standard', a.ipAdapter(2048, 'standard'), 'ip-adapter', 'sdxl'],
    ['XLabs FLUX IP-Adapter', a.xlabsIpAdapter(), 'ip-adapter', 'flux'],
    ['SD VAE (LDM)', a.vae.sd(), 'vae', 'sd1'],
    ['FLUX VAE (16 latent, no quant_conv)', a.vae.flux(), 'vae', 'flux'],
    ['diffusers-named VAE', a.vae.diffusers(), 'vae', 'sd1'],
    ['Wan 2.2 VAE (z=48)', a.vae.wan(48), 'vae', 'wan'],
    ['CLIP-L text encoder', a.encoders.clipL(), 'text-encoder', 'unknown'],
    ['T5-XXL', a.encoders.t5xxl(), 'text-encoder', 'unknown'],
    ['Qwen2.5-VL LLM encoder', llmEncoder(), 'text-encoder', 'unknown'],
    ['CLIP ViT-H image encoder', a.encoders.clipVisionH(), 'clip-vision', 'unknown'],
    ['SigLIP', a.encoders.siglip(), 'clip-vision', 'unknown'],
    ['Real-ESRGAN x4', a.upscalers.realesrganX4(), 'upscaler', 'unknown'],
    ['SwinIR', a.upscalers.swinir(), 'upscaler', 'unknown'],
  ] as const)('%s', (_n, specs, kind, family) => {
    expect(win(factsFrom([...specs]))).toMatchObject({kind, family});
  });

  test('variants: IP-Adapter plus vs standard, TAESD, UMT5, SigLIP, ESRGAN scale', () => {
    expect(win(factsFrom(a.ipAdapter(768, 'plus')))?.variants).toEqual(['plus']);
    expect(win(factsFrom(a.ipAdapter(768, 'plus'), {name: 'ip-adapter-plus-face_sd15.safetensors'}))?.variants).toEqual(['plus-face']);
    expect(win(factsFrom(a.vae.tiny(), {name: 'taesdxl.safetensors'}))).toMatchObject({kind: 'vae', family: 'sdxl', variants: ['tiny-autoencoder']});
    expect(win(factsFrom(a.encoders.umt5()))?.variants).toContain('umt5');
    expect(win(factsFrom(a.encoders.siglip()))?.variants).toContain('siglip-so400m');
    expect(win(factsFrom(a.upscalers.realesrganX4()))?.variants).toEqual(['esrgan', 'x4']);
  });

  test('SD1 vs SDXL VAE: config scaling factor decides, otherwise a warning', () => {
    const cfg = {_class_name: 'AutoencoderKL', latent_channels: 4, scaling_factor: 0.13025};
    expect(win(factsFrom(a.vae.diffusers(), {config: cfg}))?.family).toBe('sdxl');
    const bare = win(factsFrom(a.vae.sd(), {name: 'kl-f8-anime2.safetensors'}));
    expect(bare?.family).toBe('sd1');
    expect(bare?.warnings?.join(' ')).toMatch(/share every shape/);
  });

  test('random tensors are unknown, not SD1', () => {
    const c = runRules(factsFrom([{name: 'foo.weight', dtype: 'F32', shape: [10, 10]}, {name: 'bar.bias', dtype: 'F32', shape: [10]}]));
    expect(c.winner).toBeNull();
  });
});
