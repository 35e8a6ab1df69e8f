import {describe, expect, it} from '@jest/globals';
import {a1111ToNative, nativeToA1111} from '../../../src/backends/server/a1111.js';
import {A1111_SAMPLERS, A1111_SCHEDULERS, chooseSampler, describeScheduler, SamplerRefusal} from '../../../src/backends/server/samplers.js';
import {DEFAULT_CAPS, type NativeResponse} from '../../../src/backends/server/types.js';

const res: NativeResponse = {
  images: [{b64_json: 'AAAA', seed: 7, width: 64, height: 64}, {b64_json: 'BBBB', seed: 8, width: 64, height: 64}],
  metadata: {model: 'm'},
  timings: {queue_s: 0, worker_s: 1, worker_total_s: 1, denoise_s: 1, total_s: 1, steps: 2},
};

const ctx = {caps: DEFAULT_CAPS, pipelineParams: null, env: {MGEN_HOME: '/nonexistent/mgen-home', HF_HUB_CACHE: '/nonexistent/hub'}};

describe('A1111 samplers', () => {
  it.each([
    ['Euler', 'EulerDiscreteScheduler', {}],
    ['Euler a', 'EulerAncestralDiscreteScheduler', {}],
    ['DPM++ 2M', 'DPMSolverMultistepScheduler', {use_karras_sigmas: true}],
    ['DPM++ 2M Karras', 'DPMSolverMultistepScheduler', {use_karras_sigmas: true}],
    ['DPM++ 2M SDE', 'DPMSolverMultistepScheduler', {algorithm_type: 'sde-dpmsolver++', use_exponential_sigmas: true}],
    ['DPM++ 2M SDE Karras', 'DPMSolverMultistepScheduler', {algorithm_type: 'sde-dpmsolver++', use_karras_sigmas: true}],
    ['DPM++ SDE Karras', 'DPMSolverSinglestepScheduler', {use_karras_sigmas: true}],
    ['DPM2 Karras', 'KDPM2DiscreteScheduler', {use_karras_sigmas: true}],
    ['DDIM', 'DDIMScheduler', {}],
    ['LMS', 'LMSDiscreteScheduler', {}],
    ['UniPC', 'UniPCMultistepScheduler', {}],
    ['euler  A', 'EulerAncestralDiscreteScheduler', {}],
  ])('%s -> %s %j', (name, cls, config) => {
    expect(chooseSampler(name, null)).toMatchObject({scheduler: cls, config});
  });

  it('maps every listed sampler, with every schedule type it takes, to a distinct scheduler config', () => {
    const seen = new Map<string, string>();
    for (const sampler of A1111_SAMPLERS) {
      for (const type of A1111_SCHEDULERS) {
        let c;
        try {
          c = chooseSampler(sampler, type);
        } catch (err) {
          expect(err).toBeInstanceOf(SamplerRefusal);
          continue;
        }
        const key = JSON.stringify([c!.scheduler, Object.entries(c!.config).sort()]);
        const label = `${c!.sampler} / ${c!.scheduleType}`;
        // Automatic is the sampler's own schedule: the same config as naming that schedule.
        expect([undefined, label]).toContain(seen.get(key));
        seen.set(key, label);
        expect(describeScheduler(c!.scheduler, c!.config)).toEqual({sampler: c!.sampler, scheduleType: c!.scheduleType});
      }
    }
    const plain = A1111_SAMPLERS.map((s) => JSON.stringify(chooseSampler(s, null)!.config) + chooseSampler(s, null)!.scheduler);
    expect(new Set(plain).size).toBe(A1111_SAMPLERS.length);
  });

  it('refuses unknown names and the samplers and schedule types with no diffusers equivalent', () => {
    for (const name of ['Bogus 3000', 'DPM++ 2S a', 'DPM++ 2S a Karras', 'DPM++ 3M SDE', 'DPM fast', 'DPM adaptive', 'Restart', 'DDIM CFG++']) {
      expect(() => chooseSampler(name, null)).toThrow(SamplerRefusal);
    }
    for (const type of ['Polyexponential', 'KL Optimal', 'Align Your Steps', 'Simple', 'Normal', 'DDIM', 'Bogus']) {
      expect(() => chooseSampler('Euler', type)).toThrow(/schedule type/);
    }
    expect(chooseSampler(null, null)).toBeNull();
    // A1111 takes a schedule type by its label or its name.
    expect(chooseSampler('Euler', 'sgm_uniform')).toMatchObject({scheduleType: 'SGM Uniform', config: {timestep_spacing: 'trailing'}});
    expect(chooseSampler('DPM++ 2M Karras', 'Exponential')).toMatchObject({scheduleType: 'Exponential', config: {use_exponential_sigmas: true}});
  });
});

describe('A1111 dialect', () => {
  it('maps the common subset and treats seed -1 as random', () => {
    const {native} = a1111ToNative({prompt: 'p', negative_prompt: 'n', steps: 4, cfg_scale: 3, width: 64, height: 128, seed: -1, batch_size: 2, sampler_name: 'Euler a'}, false, ctx);
    expect(native).toEqual({
      prompt: 'p', negative_prompt: 'n', steps: 4, guidance_scale: 3, width: 64, height: 128, num_images: 2,
      scheduler: 'EulerAncestralDiscreteScheduler', scheduler_config: {}, response_format: 'b64_json',
    });
  });
  it('names sampler_name in the error for an unknown sampler', () => {
    expect(() => a1111ToNative({prompt: 'p', sampler_name: 'Nope'}, false, ctx)).toThrow(/^sampler_name: unknown sampler/);
  });
  it('refuses clip skip and eta when the pipeline does not take them', () => {
    expect(() => a1111ToNative({prompt: 'p', override_settings: {CLIP_stop_at_last_layers: 2}}, false, ctx)).toThrow(/^override_settings.CLIP_stop_at_last_layers: .*clip skip/);
    expect(() => a1111ToNative({prompt: 'p', eta: 0.3}, false, ctx)).toThrow(/^eta: /);
  });
  it('answers images, parameters and info (what ran) as a JSON string', () => {
    const req = {prompt: 'p', steps: 2, sampler_name: 'DPM++ 2M SDE Karras'};
    const out = nativeToA1111(res, req, a1111ToNative(req, false, ctx));
    expect(out.images).toEqual(['AAAA', 'BBBB']);
    expect(out.parameters).toBe(req);
    const info = JSON.parse(out.info);
    expect(info.all_seeds).toEqual([7, 8]);
    expect(info.sampler_name).toBe('DPM++ 2M SDE');
    expect(info.scheduler).toBe('Karras');
    expect(info.steps).toBe(2);
  });
});
