import {describe, expect, test} from '@jest/globals';
import {buildReport} from '../../src/detect/report.js';
import {runRules} from '../../src/detect/registry.js';
import {summarizePrecision} from '../../src/detect/precision.js';
import {estimatePeakVram} from '../../src/detect/memory.js';
import {factsFrom} from '../helpers/facts.js';
import {fluxBfl} from '../helpers/fixtures/dit.js';
import {sdCheckpoint} from '../helpers/fixtures/sd.js';

const src = {type: 'local' as const, id: 'x'};
const report = (f: ReturnType<typeof factsFrom>) => buildReport(f, runRules(f), src);

describe('precision', () => {
  test('dominant dtype of weights; scalars and integer tensors ignored', () => {
    const s = summarizePrecision([
      {name: 'a', dtype: 'F16', shape: [1000, 1000]}, {name: 'alpha', dtype: 'F32', shape: []},
      {name: 'position_ids', dtype: 'I64', shape: [1, 77]}, {name: 'n', dtype: 'F32', shape: [1000]},
    ], []);
    expect(s.precision).toBe('fp16');
  });
  test('fp8 with fp32 scales, mixed, bitsandbytes nf4, GGUF', () => {
    expect(summarizePrecision([{name: 'w', dtype: 'F8_E4M3', shape: [4096, 4096]}, {name: 'w.scale_weight', dtype: 'F32', shape: [1]}], []).precision).toBe('fp8');
    expect(summarizePrecision([{name: 'a', dtype: 'F16', shape: [100, 100]}, {name: 'b', dtype: 'F32', shape: [100, 100]}], []).precision).toBe('mixed');
    const scaled = [{name: 'scaled_fp8', dtype: 'F8_E4M3', shape: [1]}, {name: 'q.weight', dtype: 'F8_E4M3', shape: [100, 100]}, {name: 'q.scale_weight', dtype: 'F32', shape: [1]}, {name: 'emb.weight', dtype: 'BF16', shape: [300, 100]}];
    expect(summarizePrecision(scaled, []).precision).toBe('fp8');
    expect(summarizePrecision(scaled.slice(1), []).precision).toBe('mixed');
    const nf4 = summarizePrecision([
      {name: 'w.weight', dtype: 'U8', shape: [4096 * 2048, 1]}, {name: 'w.weight.absmax', dtype: 'F32', shape: [131072]},
      {name: 'w.weight.quant_map', dtype: 'F32', shape: [16]}, {name: 'w.weight.quant_state.bitsandbytes__nf4', dtype: 'U8', shape: [100]},
    ], []);
    expect(nf4.precision).toBe('nf4');
    expect(nf4.parameters).toBeGreaterThan(4096 * 4096);
    const gguf = summarizePrecision([{name: 'w', dtype: 'GGUF_Q4_K', shape: [3072, 3072]}, {name: 'n', dtype: 'GGUF_F32', shape: [3072]}], [{path: 'm.gguf', size: 1, format: 'gguf', tensors: [], metadata: {}, warnings: []}]);
    expect(gguf.precision).toBe('gguf-q4_k');
    expect(gguf.weightsBytes).toBeLessThan(3072 * 3072);
  });
});

describe('report', () => {
  test('transformer-only FLUX: missing components, base, defaults, pipeline', () => {
    const r = report(factsFrom(fluxBfl()));
    expect(r).toMatchObject({kind: 'checkpoint', family: 'flux', variants: ['dev'], pipeline: 'FluxPipeline', task: 'text-to-image', format: 'single-file'});
    expect(r.missing).toEqual(['vae', 'text_encoder', 'text_encoder_2']);
    expect(r.base).toEqual({family: 'flux', suggested: 'black-forest-labs/FLUX.1-dev'});
    expect(r.defaults).toEqual({width: 1024, height: 1024, steps: 28, guidance_scale: 3.5});
  });

  test('VRAM estimate: weights at precision + activations + overhead, fp32 about twice fp16', () => {
    const r = report(factsFrom(sdCheckpoint('sd1')));
    const {fp16, fp32, bf16} = r.memory.estimated_peak_vram_bytes;
    expect(fp16).toBe(bf16);
    expect(fp32).toBeGreaterThan(fp16);
    expect(fp16).toBeGreaterThan(r.parameters * 2);
    const q = estimatePeakVram({family: 'flux', kind: 'checkpoint', parameters: 12e9, weightsBytes: 6.5e9, quantized: true});
    expect(q.fp16).toBeLessThan(12e9 * 2);
  });

  test('unknown: what was found, a warning, no defaults', () => {
    const r = report(factsFrom([{name: 'foo.bar.weight', dtype: 'F32', shape: [4, 4]}]));
    expect(r).toMatchObject({kind: 'unknown', family: 'unknown', defaults: null, pipeline: null});
    expect(r.evidence.at(-1)!.facts.join(' ')).toMatch(/1 tensors in 1 file.*foo\.bar/s);
  });

  test('pickle findings reach security.unsafe_globals', () => {
    const f = factsFrom(sdCheckpoint('sd1'), {format: 'pickle'});
    f.files[0]!.pickle = {globals: ['os.system'], findings: [{global: 'os.system', severity: 'dangerous', file: 'model.ckpt'}], legacy: false};
    const r = report(f);
    expect(r.security).toEqual({pickle: true, unsafe_globals: ['os.system'], trust_remote_code_needed: false});
    expect(r.warnings.join(' ')).toMatch(/os\.system/);
  });

  test('Kolors folder from a Forge-edited model_index: KolorsPipeline, with a warning', () => {
    const r = report(factsFrom([], {
      modelIndex: {_class_name: 'StableDiffusionXLPipeline', text_encoder: ['kolors', 'ChatGLMModel'], unet: ['diffusers', 'UNet2DConditionModel']},
      components: [{name: 'text_encoder', library: 'kolors', className: 'ChatGLMModel'}, {name: 'unet', className: 'UNet2DConditionModel', config: {cross_attention_dim: 2048, projection_class_embeddings_input_dim: 5632, encoder_hid_dim: 4096}}],
    }));
    expect(r).toMatchObject({family: 'kolors', pipeline: 'KolorsPipeline', format: 'diffusers'});
    expect(r.warnings.join(' ')).toMatch(/KolorsPipeline/);
  });
});
