import {describe, expect, it} from '@jest/globals';
import {a1111ToNative, nativeToA1111} from '../../../src/backends/server/a1111.js';
import {nativeToOpenAI, openAIToNative, parseSize} from '../../../src/backends/server/openai.js';
import {samplerForScheduler, schedulerForSampler} from '../../../src/backends/server/samplers.js';
import {DEFAULT_CAPS, type NativeResponse} from '../../../src/backends/server/types.js';

const res: NativeResponse = {
  images: [{b64_json: 'AAAA', seed: 7, width: 64, height: 64}, {b64_json: 'BBBB', seed: 8, width: 64, height: 64}],
  metadata: {model: 'm'},
  timings: {queue_s: 0, worker_s: 1, worker_total_s: 1, denoise_s: 1, total_s: 1, steps: 2},
};

describe('A1111 samplers', () => {
  it.each([
    ['Euler', 'EulerDiscreteScheduler', false],
    ['Euler a', 'EulerAncestralDiscreteScheduler', false],
    ['DPM++ 2M', 'DPMSolverMultistepScheduler', false],
    ['DPM++ 2M Karras', 'DPMSolverMultistepScheduler', true],
    ['DDIM', 'DDIMScheduler', false],
    ['PNDM', 'PNDMScheduler', false],
    ['LMS', 'LMSDiscreteScheduler', false],
    ['Heun', 'HeunDiscreteScheduler', false],
    ['UniPC', 'UniPCMultistepScheduler', false],
    ['euler  A', 'EulerAncestralDiscreteScheduler', false],
  ])('%s -> %s', (name, cls, karras) => {
    expect(schedulerForSampler(name)).toEqual({scheduler: cls, karras});
  });
  it('returns null for an unknown sampler and maps back', () => {
    expect(schedulerForSampler('Bogus 3000')).toBeNull();
    expect(samplerForScheduler('EulerAncestralDiscreteScheduler')).toBe('Euler a');
  });
});

describe('OpenAI Images dialect', () => {
  it('parses size and refuses sizes off the grid or over the cap', () => {
    expect(parseSize('512x768', DEFAULT_CAPS)).toEqual({width: 512, height: 768});
    expect(parseSize('auto', DEFAULT_CAPS)).toEqual({});
    expect(() => parseSize('500x512', DEFAULT_CAPS)).toThrow(/size: .*multiples of 8/);
    expect(() => parseSize('4096x512', DEFAULT_CAPS)).toThrow(/size/);
  });
  it('maps n, size and the extension fields', () => {
    expect(openAIToNative({prompt: 'a cat', n: 2, size: '64x64', negative_prompt: 'dog', steps: 3, guidance: 2, seed: 5}, DEFAULT_CAPS)).toEqual({
      prompt: 'a cat', width: 64, height: 64, num_images: 2, negative_prompt: 'dog', steps: 3, guidance_scale: 2, seed: 5, response_format: 'b64_json',
    });
  });
  it('answers {created, data}', () => {
    expect(nativeToOpenAI(res, 100)).toEqual({created: 100, data: [{b64_json: 'AAAA'}, {b64_json: 'BBBB'}]});
  });
});

describe('A1111 dialect', () => {
  it('maps the common subset and treats seed -1 as random', () => {
    const n = a1111ToNative({prompt: 'p', negative_prompt: 'n', steps: 4, cfg_scale: 3, width: 64, height: 128, seed: -1, batch_size: 2, sampler_name: 'Euler a'}, false);
    expect(n).toEqual({prompt: 'p', negative_prompt: 'n', steps: 4, guidance_scale: 3, width: 64, height: 128, num_images: 2, scheduler: 'EulerAncestralDiscreteScheduler', response_format: 'b64_json'});
  });
  it('names sampler_name in the error for an unknown sampler', () => {
    expect(() => a1111ToNative({prompt: 'p', sampler_name: 'Nope'}, false)).toThrow(/^sampler_name: unknown sampler/);
  });
  it('answers images, parameters and info as a JSON string', () => {
    const req = {prompt: 'p', steps: 2, sampler_name: 'Euler'};
    const out = nativeToA1111(res, req, a1111ToNative(req, false));
    expect(out.images).toEqual(['AAAA', 'BBBB']);
    expect(out.parameters).toBe(req);
    const info = JSON.parse(out.info);
    expect(info.all_seeds).toEqual([7, 8]);
    expect(info.sampler_name).toBe('Euler');
    expect(info.steps).toBe(2);
  });
});
