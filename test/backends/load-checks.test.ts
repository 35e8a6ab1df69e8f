// What the reports alone say cannot load, refused before any worker loads (src/backends/plan.ts): an incomplete
// NF4/FP4 file (exit 6), a GGUF that is no diffusion model (exit 6), a transformer-only file on a base of another
// family (exit 2). buildLoadPlan gives the same answers.
import {describe, expect, it} from '@jest/globals';
import {buildLoadPlan, checkBaseFamily, checkComplete, checkGeneratable, type ModelRef} from '../../src/backends/plan.js';
import {INCOMPLETE_4BIT} from '../../src/detect/quant-checks.js';
import {MgenError} from '../../src/errors.js';
import {report} from './report-fixture.js';

const cpu = {hello: {device: 'cpu' as const}};

function failure(fn: () => unknown): {exit: number; message: string} | null {
  try {
    fn();
    return null;
  } catch (err) {
    const e = err as MgenError;
    return {exit: e.exitCode, message: e.hint ? `${e.message} (${e.hint})` : e.message};
  }
}

const ref = (r: ReturnType<typeof report>, id = '/m/model.gguf'): ModelRef => ({path: id, id, report: r});

describe('checkComplete: incomplete 4-bit files', () => {
  it('a report warning of 4-bit weights without quant_state is exit 6, one line with the count', () => {
    const r = report({format: 'single-file', precision: 'nf4', warnings: [`f.safetensors: 12 ${INCOMPLETE_4BIT} (an incomplete NF4/FP4 file)`]});
    expect(failure(() => checkComplete(ref(r, '/m/f.safetensors')))).toEqual({
      exit: 6,
      message: '/m/f.safetensors is an incomplete NF4/FP4 file: 12 packed 4-bit weights have no quant_state/absmax tensors to dequantize them with (download it again, or use a file saved with its quantization state)',
    });
    expect(failure(() => buildLoadPlan(r, {main: '/m/f.safetensors'}, cpu))?.exit).toBe(6);
  });

  it('a complete NF4 file passes', () => {
    expect(failure(() => checkComplete(ref(report({precision: 'nf4'}))))).toBeNull();
  });
});

describe('checkGeneratable: GGUF files that are no diffusion model', () => {
  it('an architecture no rule knows: exit 6 naming it', () => {
    const r = report({format: 'gguf', kind: 'unknown', family: 'unknown', pipeline: null, metadata: {'general.architecture': 'mystery'}});
    const want = {exit: 6, message: '/m/model.gguf is a GGUF file of architecture mystery (its tensors match no image or video model); mgen cannot generate with it (mgen loads GGUF transformers of FLUX, SD3/SD3.5, Qwen-Image and Wan, with --base for the rest)'};
    expect(failure(() => checkGeneratable(ref(r)))).toEqual(want);
    expect(failure(() => buildLoadPlan(r, {main: '/m/model.gguf'}, cpu))).toEqual({...want, message: want.message.replace('/m/model.gguf', '/models/m')});
  });

  it('a language model\'s GGUF is named as what it is; an architecture string that is not a plain name is not quoted', () => {
    const llm = report({format: 'gguf', kind: 'text-encoder', family: 'unknown', pipeline: null, metadata: {'general.architecture': 'llama'}});
    expect(failure(() => checkGeneratable(ref(llm)))?.message).toMatch(/^\/m\/model\.gguf is a GGUF file of architecture llama \(a text-encoder, not a diffusion model\); /);
    const odd = report({format: 'gguf', kind: 'unknown', family: 'unknown', pipeline: null, metadata: {'general.architecture': 'x\u001b[2Jy z'}});
    expect(failure(() => checkGeneratable(ref(odd)))?.message).toMatch(/^\/m\/model\.gguf is a GGUF file of an architecture mgen does not know \(/);
  });

  it('checkpoints and adapters pass; other kinds keep their message', () => {
    expect(failure(() => checkGeneratable(ref(report({format: 'gguf', family: 'sd3'}))))).toBeNull();
    expect(failure(() => checkGeneratable(ref(report({kind: 'lora'}))))).toBeNull();
    expect(failure(() => checkGeneratable(ref(report({kind: 'unknown'}), '/m/x.safetensors')))).toEqual({exit: 6, message: '/m/x.safetensors is a model of unknown kind; mgen can only generate with checkpoints and their adapters'});
  });
});

describe('checkBaseFamily: a transformer-only file on a base of another family', () => {
  const sd3 = report({format: 'gguf', family: 'sd3', pipeline: 'StableDiffusion3Pipeline', precision: 'gguf-q4_k', missing: ['vae', 'text_encoder', 'text_encoder_2', 'text_encoder_3']});
  const fluxBase = {path: '/b', id: 'builtin:tiny-flux', report: report({family: 'flux', pipeline: 'FluxPipeline'})};
  it('is exit 2 naming both families', () => {
    const want = {exit: 2, message: '/m/model.gguf holds a sd3 transformer, but the base builtin:tiny-flux is a flux model (pass --base with a sd3 model)'};
    expect(failure(() => checkBaseFamily(ref(sd3), fluxBase))).toEqual(want);
    expect(failure(() => buildLoadPlan(sd3, {main: '/m/model.gguf', base: fluxBase}, cpu))).toEqual({...want, message: want.message.replace('/m/model.gguf', '/models/m')});
  });

  it('the same family, a whole checkpoint, or no base: nothing to refuse here', () => {
    expect(failure(() => checkBaseFamily(ref(sd3), {path: '/b', report: report({family: 'sd3'})}))).toBeNull();
    expect(failure(() => checkBaseFamily(ref(report({family: 'sd3'})), fluxBase))).toBeNull();
    expect(failure(() => checkBaseFamily(ref(sd3), null))).toBeNull();
  });
});
