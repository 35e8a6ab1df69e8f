import {describe, expect, it} from '@jest/globals';
import {buildLoadPlan, chooseVariant} from '../../src/backends/plan.js';
import {ExitCode, MgenError} from '../../src/errors.js';
import {report} from './report-fixture.js';

function exitOf(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (err) {
    return (err as MgenError).exitCode;
  }
  return undefined;
}

const cpu = {hello: {device: 'cpu' as const}};
const cuda = (free: number) => ({hello: {device: 'cuda' as const, free_memory_bytes: free}});

describe('buildLoadPlan', () => {
  it('loads a diffusers folder with the report\'s pipeline, fp32 on CPU, no offload', () => {
    const plan = buildLoadPlan(report(), {main: '/models/m'}, cpu);
    expect(plan).toMatchObject({strategy: 'diffusers-folder', path: '/models/m', pipeline: 'StableDiffusionPipeline', task: 'text-to-image',
      dtype: 'float32', variant: null, offload: 'none', vae_tiling: false, config_repo: null, component: null, base_path: null, loras: []});
  });

  it('picks half precision per family on CUDA and the fp16 variant when the folder has fp16 files', () => {
    const files = [
      {path: 'unet/diffusion_pytorch_model.safetensors', size: 1, format: 'safetensors' as const, dtypes: {}},
      {path: 'unet/diffusion_pytorch_model.fp16.safetensors', size: 1, format: 'safetensors' as const, dtypes: {}},
    ];
    const sdxl = buildLoadPlan(report({family: 'sdxl', pipeline: 'StableDiffusionXLPipeline', files}), {main: '/m'}, cuda(80e9));
    expect(sdxl).toMatchObject({dtype: 'float16', variant: 'fp16', pipeline: 'StableDiffusionXLPipeline'});
    const flux = buildLoadPlan(report({family: 'flux', pipeline: 'FluxPipeline', files}), {main: '/m'}, cuda(80e9));
    expect(flux).toMatchObject({dtype: 'bfloat16', variant: null});
    // On CPU in fp32 the full-precision files are used.
    expect(buildLoadPlan(report({files}), {main: '/m'}, cpu).variant).toBeNull();
    // A folder with only fp16 files needs the variant whatever the dtype.
    expect(chooseVariant(report({files: [files[1]!]}), 'float32')).toBe('fp16');
  });

  it('chooses the task pipeline from --image / --mask', () => {
    const r = report({family: 'sdxl', pipeline: 'StableDiffusionXLPipeline'});
    expect(buildLoadPlan(r, {main: '/m'}, {...cpu, image: true}).pipeline).toBe('StableDiffusionXLImg2ImgPipeline');
    const inp = buildLoadPlan(r, {main: '/m'}, {...cpu, image: true, mask: true});
    expect(inp).toMatchObject({pipeline: 'StableDiffusionXLInpaintPipeline', task: 'inpaint'});
    expect(exitOf(() => buildLoadPlan(r, {main: '/m'}, {...cpu, task: 'inpaint', image: true}))).toBe(ExitCode.usage);
  });

  it('loads an all-in-one single file with the family config folder', () => {
    const r = report({format: 'single-file', files: [{path: 'm.safetensors', size: 2e9, format: 'safetensors', dtypes: {F16: 1}}]});
    const plan = buildLoadPlan(r, {main: '/m/m.safetensors', configRepo: '/cfg/sd1'}, cpu);
    expect(plan).toMatchObject({strategy: 'single-file', path: '/m/m.safetensors', config_repo: '/cfg/sd1', variant: null});
  });

  it('loads a UNet-only file as a component over a base, and refuses it without one', () => {
    const r = report({format: 'single-file', missing: ['vae', 'text_encoder']});
    expect(exitOf(() => buildLoadPlan(r, {main: '/u.safetensors'}, cpu))).toBe(ExitCode.usage);
    const plan = buildLoadPlan(r, {main: '/u.safetensors', base: {path: '/base', report: report()}}, cpu);
    expect(plan).toMatchObject({strategy: 'component-file', component: 'unet', base_path: '/base', path: '/u.safetensors'});
    const flux = buildLoadPlan(report({family: 'flux', pipeline: 'FluxPipeline', format: 'single-file', missing: ['vae', 'text_encoder', 'text_encoder_2']}),
      {main: '/f.safetensors', base: {path: '/fluxbase', report: report({family: 'flux', pipeline: 'FluxPipeline'})}}, cpu);
    expect(flux).toMatchObject({strategy: 'component-file', component: 'transformer', base_path: '/fluxbase'});
  });

  it('puts a LoRA given as MODEL_ID on top of its base, and asks for a base when there is none', () => {
    const lora = report({kind: 'lora', format: 'single-file', pipeline: null, base: {family: 'sd1', suggested: 'builtin:tiny-sd'}});
    expect(exitOf(() => buildLoadPlan(lora, {main: '/l.safetensors'}, cpu))).toBe(ExitCode.usage);
    const plan = buildLoadPlan(lora, {main: '/l.safetensors', base: {path: '/base', report: report()}}, cpu);
    expect(plan).toMatchObject({strategy: 'diffusers-folder', path: '/base', pipeline: 'StableDiffusionPipeline', loras: [{path: '/l.safetensors', scale: 1, name: 'l0'}]});
  });

  it('adds adapters from their own reports and refuses a family mismatch', () => {
    const lora = {path: '/l.safetensors', scale: 0.5, report: report({kind: 'lora', base: {family: 'sd1', suggested: null}})};
    const ti = {path: '/ti.safetensors', report: report({kind: 'textual-inversion'}), token: '<x>'};
    const cn = {path: '/cn', report: report({kind: 'controlnet', format: 'diffusers'})};
    const vae = {path: '/vae.safetensors', report: report({kind: 'vae', format: 'single-file'})};
    const plan = buildLoadPlan(report(), {main: '/m', loras: [lora], embeddings: [ti], controlnet: cn, vae}, cpu);
    expect(plan).toMatchObject({
      pipeline: 'StableDiffusionPipeline',
      loras: [{path: '/l.safetensors', scale: 0.5, name: 'l0'}],
      embeddings: [{path: '/ti.safetensors', token: '<x>'}],
      controlnet: {path: '/cn', single_file: false},
      vae: {path: '/vae.safetensors', single_file: true},
    });
    const xl = {path: '/xl.safetensors', scale: 1, report: report({kind: 'lora', base: {family: 'sdxl', suggested: null}})};
    expect(exitOf(() => buildLoadPlan(report(), {main: '/m', loras: [xl]}, cpu))).toBe(ExitCode.invalidModel);
  });

  it('hypernetworks: plain-data pickles load weights-only without --allow-pickle; kind and family are checked for every adapter flag', () => {
    const pickled = {format: 'pickle' as const, files: [{path: 'hn.pt', size: 1, format: 'pickle' as const, dtypes: {}}], pipeline: null};
    const hn = {path: '/hn.pt', scale: 0.4, report: report({kind: 'hypernetwork', ...pickled, security: {pickle: true, unsafe_globals: [], trust_remote_code_needed: false}})};
    expect(buildLoadPlan(report(), {main: '/m', hypernetworks: [hn]}, cpu).hypernetworks).toEqual([{path: '/hn.pt', scale: 0.4}]);
    // The hypernetwork as the MODEL_ID goes on its base at strength 1.
    const asMain = buildLoadPlan(hn.report, {main: '/hn.pt', base: {path: '/base', report: report()}}, cpu);
    expect(asMain).toMatchObject({path: '/base', hypernetworks: [{path: '/hn.pt', scale: 1}]});
    const evil = {...hn, report: report({kind: 'hypernetwork', ...pickled, security: {pickle: true, unsafe_globals: ['os.system'], trust_remote_code_needed: false}})};
    expect(exitOf(() => buildLoadPlan(report(), {main: '/m', hypernetworks: [evil]}, cpu))).toBe(ExitCode.invalidModel);
    const sd2 = {...hn, report: report({kind: 'hypernetwork', family: 'sd2', ...pickled, security: hn.report.security})};
    expect(() => buildLoadPlan(report(), {main: '/m', hypernetworks: [sd2]}, cpu)).toThrow(/hypernetwork \/hn.pt is for sd2 but the model is sd1/);
    const ti = {path: '/ti.safetensors', scale: 1, report: report({kind: 'textual-inversion'})};
    expect(() => buildLoadPlan(report(), {main: '/m', loras: [ti]}, cpu)).toThrow(/--lora \/ti.safetensors is a textual-inversion, not a lora/);
    expect(() => buildLoadPlan(report(), {main: '/m', hypernetworks: [ti]}, cpu)).toThrow(/--hypernetwork \/ti.safetensors is a textual-inversion, not a hypernetwork/);
    const xlVae = {path: '/vae.safetensors', report: report({kind: 'vae', family: 'sdxl', format: 'single-file'})};
    expect(() => buildLoadPlan(report(), {main: '/m', vae: xlVae}, cpu)).toThrow(/VAE \/vae.safetensors is for sdxl but the model is sd1/);
  });

  it('an aesthetic embedding (a plain-data pickle) goes into the plan with its CLIP folder and settings', () => {
    const emb = report({kind: 'aesthetic-embedding', format: 'pickle', pipeline: null, files: [{path: 'a.pt', size: 1, format: 'pickle', dtypes: {}}],
      security: {pickle: true, unsafe_globals: [], trust_remote_code_needed: false}});
    const plan = buildLoadPlan(report(), {main: '/m', aesthetic: {ref: {path: '/a.pt', report: emb}, clip: '/clip', weight: 0.5, steps: 3, lr: 0.001, slerp: true}}, cpu);
    expect(plan.aesthetic).toEqual({path: '/a.pt', clip_path: '/clip', weight: 0.5, steps: 3, lr: 0.001, slerp: true});
    const lora = {path: '/l.safetensors', report: report({kind: 'lora'})};
    expect(() => buildLoadPlan(report(), {main: '/m', aesthetic: {ref: lora, clip: '/clip', weight: 0.5, steps: 3, lr: 0.001, slerp: true}}, cpu))
      .toThrow(/--aesthetic \/l.safetensors is a lora, not an aesthetic-embedding/);
  });

  it('refuses pickle checkpoints naming the findings unless --allow-pickle', () => {
    const r = report({format: 'pickle', files: [{path: 'm.ckpt', size: 1, format: 'pickle', dtypes: {}}],
      security: {pickle: true, unsafe_globals: ['os.system'], trust_remote_code_needed: false}});
    let msg = '';
    try {
      buildLoadPlan(r, {main: '/m.ckpt', configRepo: '/cfg'}, cpu);
    } catch (err) {
      msg = (err as Error).message;
      expect((err as MgenError).exitCode).toBe(ExitCode.invalidModel);
    }
    expect(msg).toContain('m.ckpt');
    expect(msg).toContain('os.system');
    expect(buildLoadPlan(r, {main: '/m.ckpt', configRepo: '/cfg'}, {...cpu, allowPickle: true})).toMatchObject({strategy: 'single-file', allow_pickle: true});
  });

  it('refuses remote code unless trusted', () => {
    const r = report({security: {pickle: false, unsafe_globals: [], trust_remote_code_needed: true}});
    expect(exitOf(() => buildLoadPlan(r, {main: '/m'}, cpu))).toBe(ExitCode.invalidModel);
    expect(buildLoadPlan(r, {main: '/m'}, {...cpu, trustRemoteCode: true}).trust_remote_code).toBe(true);
  });

  it('offloads automatically when the estimate exceeds free GPU memory, and says so; --offload forces', () => {
    const notes: string[] = [];
    const big = buildLoadPlan(report(), {main: '/m'}, {...cuda(2e9), notes});
    expect(big).toMatchObject({dtype: 'float16', offload: 'model', vae_tiling: true});
    expect(notes[0]).toMatch(/offload/);
    expect(buildLoadPlan(report(), {main: '/m'}, {...cuda(80e9), notes: []})).toMatchObject({offload: 'none', vae_tiling: false});
    expect(buildLoadPlan(report(), {main: '/m'}, {...cuda(2e9), offload: 'none'}).offload).toBe('none');
    expect(buildLoadPlan(report(), {main: '/m'}, {...cuda(80e9), offload: 'sequential'}).offload).toBe('sequential');
    expect(buildLoadPlan(report(), {main: '/m'}, {...cpu, dtype: 'bfloat16'}).dtype).toBe('bfloat16');
  });

  it('refuses kinds it cannot generate with', () => {
    expect(exitOf(() => buildLoadPlan(report({kind: 'unknown'}), {main: '/m'}, cpu))).toBe(ExitCode.invalidModel);
    expect(exitOf(() => buildLoadPlan(report({family: 'unknown', pipeline: null}), {main: '/m'}, cpu))).toBe(ExitCode.invalidModel);
  });
});
