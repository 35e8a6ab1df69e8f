// --t2i-adapter in the load plan: the file or folder and its scale; refused for another family, a non-SD model, an
// input image, alongside a ControlNet, and with an IP-Adapter on SD1.
import {describe, expect, it} from '@jest/globals';
import {buildLoadPlan} from '../../src/backends/plan.js';
import {ExitCode, MgenError} from '../../src/errors.js';
import {report} from './report-fixture.js';

const cpu = {hello: {device: 'cpu' as const}};
const t2i = (family: 'sd1' | 'sdxl', format: 'single-file' | 'diffusers' = 'single-file') =>
  ({path: '/t2i', scale: 0.7, id: `t2i-${family}`, report: report({kind: 't2i-adapter', family, format, pipeline: null})});

function error(fn: () => unknown): {code?: number; message: string} {
  try {
    fn();
  } catch (err) {
    return {code: (err as MgenError).exitCode, message: (err as Error).message};
  }
  return {message: ''};
}

describe('buildLoadPlan with a T2I-Adapter', () => {
  it('puts the adapter, its layout and scale in the plan; none when not asked', () => {
    expect(buildLoadPlan(report(), {main: '/m', t2iAdapter: t2i('sd1')}, cpu).t2i_adapter).toEqual({path: '/t2i', single_file: true, scale: 0.7});
    const xl = buildLoadPlan(report({family: 'sdxl', pipeline: 'StableDiffusionXLPipeline'}), {main: '/m', t2iAdapter: t2i('sdxl', 'diffusers')}, cpu);
    expect(xl.t2i_adapter).toEqual({path: '/t2i', single_file: false, scale: 0.7});
    expect(buildLoadPlan(report(), {main: '/m'}, cpu)).not.toHaveProperty('t2i_adapter');
    // SD1 and SD2 adapters share their shapes (detection says sd1): one goes on an SD2 model.
    expect(buildLoadPlan(report({family: 'sd2'}), {main: '/m', t2iAdapter: t2i('sd1')}, cpu).t2i_adapter).toBeTruthy();
  });

  it('refuses in one line what cannot run', () => {
    const cases: Array<[() => unknown, number, RegExp]> = [
      [() => buildLoadPlan(report(), {main: '/m', t2iAdapter: t2i('sdxl')}, cpu), ExitCode.invalidModel, /^T2I-Adapter t2i-sdxl is for sdxl but the model is sd1$/],
      [() => buildLoadPlan(report({family: 'flux', pipeline: 'FluxPipeline'}), {main: '/m', t2iAdapter: {...t2i('sd1'), report: report({kind: 't2i-adapter', family: 'unknown'})}}, cpu),
        ExitCode.usage, /^--t2i-adapter works with SD1, SD2 and SDXL models; the model is flux$/],
      [() => buildLoadPlan(report(), {main: '/m', t2iAdapter: t2i('sd1')}, {...cpu, image: true}), ExitCode.usage, /^--t2i-adapter works for text-to-image only/],
      [() => buildLoadPlan(report(), {main: '/m', t2iAdapter: t2i('sd1'), controlnet: {path: '/cn', report: report({kind: 'controlnet'})}}, cpu), ExitCode.usage, /cannot be combined/],
      [() => buildLoadPlan(report(), {main: '/m', t2iAdapter: {...t2i('sd1'), report: report({kind: 'lora'})}}, cpu), ExitCode.usage, /^--t2i-adapter t2i-sd1 is a lora, not a t2i-adapter$/],
    ];
    for (const [fn, code, re] of cases) {
      const e = error(fn);
      expect(e.message).toMatch(re);
      expect(e.code).toBe(code);
    }
  });
});
