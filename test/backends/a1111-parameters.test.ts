import {describe, expect, it} from '@jest/globals';
import {buildA1111Parameters, loraTagName, parseA1111Parameters, promptWithLoraTags, samplerName} from '../../src/backends/a1111-parameters.js';

describe('A1111 parameters text', () => {
  it('writes a <lora:name:scale> tag per LoRA in the prompt part, as A1111 does, and TI hashes', () => {
    const text = buildA1111Parameters({
      prompt: 'a cat, tinytok', steps: 4, guidanceScale: 7, seed: 1, width: 64, height: 64, scheduler: null,
      loraTags: [{name: 'builtin:tiny-sd-lora-kohya', scale: 0.8}, {name: 'style', scale: 1}],
      loras: [{name: 'lora', hash: '0123456789ab'}, {name: 'style', hash: 'ba9876543210'}],
      tiHashes: [{name: 'tinytok', hash: 'aabbccddeeff'}], version: 'mgen',
    });
    expect(text).toBe('a cat, tinytok <lora:builtin:tiny-sd-lora-kohya:0.8> <lora:style:1>\nSteps: 4, Sampler: Default, CFG scale: 7, Seed: 1, Size: 64x64, ' +
      'TI hashes: "tinytok: aabbccddeeff", Lora hashes: "lora: 0123456789ab, style: ba9876543210", Version: mgen');
    expect(parseA1111Parameters(text).prompt).toBe('a cat, tinytok <lora:builtin:tiny-sd-lora-kohya:0.8> <lora:style:1>');
  });

  it('does not repeat a tag the prompt already has', () => {
    expect(promptWithLoraTags('x <lora:a:0.5>', [{name: 'a', scale: 0.5}])).toBe('x <lora:a:0.5>');
    expect(promptWithLoraTags('', [{name: 'a', scale: 0.5}])).toBe('<lora:a:0.5>');
  });

  it('names a LoRA in a tag by its MODEL_ID, or a file by its name without the extension', () => {
    expect(loraTagName('builtin:tiny-sd-lora-kohya')).toBe('builtin:tiny-sd-lora-kohya');
    expect(loraTagName('civitai:12@34')).toBe('civitai:12@34');
    expect(loraTagName('org/detail-lora')).toBe('org/detail-lora');
    expect(loraTagName('/srv/models/detail.safetensors')).toBe('detail');
    expect(loraTagName('./detail.safetensors')).toBe('detail');
  });

  it('writes the prompt line, the negative prompt line and the settings line in A1111\'s order', () => {
    const text = buildA1111Parameters({
      prompt: 'a red cube, studio light', negativePrompt: 'blurry', steps: 20, scheduler: 'EulerAncestralDiscreteScheduler',
      guidanceScale: 7.5, seed: 1234, width: 512, height: 768, modelHash: 'abcdef0123', modelName: 'tiny-sd',
    });
    expect(text).toBe('a red cube, studio light\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, CFG scale: 7.5, Seed: 1234, Size: 512x768, Model hash: abcdef0123, Model: tiny-sd');
  });

  it('leaves out the negative prompt line when there is none and quotes values with commas', () => {
    const text = buildA1111Parameters({prompt: 'p', steps: 4, guidanceScale: 1, seed: 0, width: 64, height: 64, modelName: 'a, b', scheduler: null});
    expect(text).toBe('p\nSteps: 4, Sampler: Default, CFG scale: 1, Seed: 0, Size: 64x64, Model: "a, b"');
  });

  it('writes the hires fix as A1111 does: Denoising strength, Hires upscale or resize, steps, upscaler, sampler, prompt', () => {
    const base = {prompt: 'p', steps: 4, guidanceScale: 1, seed: 0, width: 64, height: 64, scheduler: null};
    expect(buildA1111Parameters({...base, hires: {width: 128, height: 128, steps: 3, strength: 0.5, upscaler: 'latent-nearest'}})).toBe(
      'p\nSteps: 4, Sampler: Default, CFG scale: 1, Seed: 0, Size: 64x64, Denoising strength: 0.5, Hires upscale: 2, Hires steps: 3, Hires upscaler: Latent (nearest)');
    expect(buildA1111Parameters({...base, hires: {width: 96, height: 160, upscaler: 'lanczos', scheduler: 'EulerAncestralDiscreteScheduler', prompt: 'a, b'}})).toBe(
      'p\nSteps: 4, Sampler: Default, CFG scale: 1, Seed: 0, Size: 64x64, Denoising strength: 0.7, Hires resize: 96x160, Hires upscaler: Lanczos, Hires sampler: Euler a, Hires prompt: "a, b"');
  });

  it('lists LoRAs as A1111 does: "Lora hashes" with name and short hash, quoted', () => {
    const text = buildA1111Parameters({prompt: 'p', steps: 4, guidanceScale: 1, seed: 0, width: 64, height: 64, scheduler: null,
      loras: [{name: 'detail', hash: '0123456789ab'}, {name: 'style', hash: 'ba9876543210'}], version: 'mgen'});
    expect(text).toBe('p\nSteps: 4, Sampler: Default, CFG scale: 1, Seed: 0, Size: 64x64, Lora hashes: "detail: 0123456789ab, style: ba9876543210", Version: mgen');
    expect(parseA1111Parameters(text).fields['Lora hashes']).toBe('detail: 0123456789ab, style: ba9876543210');
  });

  it('parses its own output back, multi-line prompts included', () => {
    const text = buildA1111Parameters({
      prompt: 'line one\nline two', negativePrompt: 'bad\nworse', steps: 9, scheduler: 'DPMSolverMultistepScheduler', guidanceScale: 3.5,
      seed: 42, width: 64, height: 32, modelHash: '0123456789', modelName: 'x: y', strength: 0.6,
    });
    const p = parseA1111Parameters(text);
    expect(p.prompt).toBe('line one\nline two');
    expect(p.negativePrompt).toBe('bad\nworse');
    expect(p.fields).toMatchObject({Steps: '9', Sampler: 'DPM++ 2M', 'CFG scale': '3.5', Seed: '42', Size: '64x32', 'Model hash': '0123456789', Model: 'x: y', 'Denoising strength': '0.6'});
  });

  it('names the sampler and schedule type that ran from the scheduler config, and the clip skip', () => {
    const text = buildA1111Parameters({
      prompt: 'p', steps: 4, scheduler: 'DPMSolverMultistepScheduler', schedulerConfig: {algorithm_type: 'sde-dpmsolver++', use_karras_sigmas: true},
      guidanceScale: 7, seed: 1, width: 64, height: 64, clipSkip: 1,
    });
    expect(parseA1111Parameters(text).fields).toMatchObject({Sampler: 'DPM++ 2M SDE', 'Schedule type': 'Karras', 'Clip skip': '2'});
    const plain = buildA1111Parameters({prompt: 'p', steps: 4, scheduler: 'DPMSolverMultistepScheduler', guidanceScale: 7, seed: 1, width: 64, height: 64});
    expect(parseA1111Parameters(plain).fields['Schedule type']).toBeUndefined();
  });

  it('names samplers as A1111 does and passes unknown scheduler classes through', () => {
    expect(samplerName('EulerDiscreteScheduler')).toBe('Euler');
    expect(samplerName('PNDMScheduler')).toBe('PLMS');
    expect(samplerName('MyScheduler')).toBe('MyScheduler');
  });
});
