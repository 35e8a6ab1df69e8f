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

  it('loads an image-to-image-only family (the SDXL refiner) for image-to-image when no task is asked', () => {
    const refiner = report({family: 'sdxl-refiner', pipeline: 'StableDiffusionXLImg2ImgPipeline', task: 'image-to-image'});
    expect(buildLoadPlan(refiner, {main: '/m'}, cpu)).toMatchObject({task: 'image-to-image', pipeline: 'StableDiffusionXLImg2ImgPipeline'});
    expect(buildLoadPlan(refiner, {main: '/m'}, {...cpu, image: true}).task).toBe('image-to-image');
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
    // 2 GB free for 2 GB of fp16 weights: the UNet in fp8 storage (memory-plan.ts), with VAE tiling.
    expect(big).toMatchObject({dtype: 'float16', offload: 'none', memory: 'fp8-cast', vae_tiling: true});
    expect(notes[0]).toMatch(/memory plan fp8-cast/);
    expect(buildLoadPlan(report(), {main: '/m'}, {...cuda(0.9e9), notes: []})).toMatchObject({memory: 'group', memory_plan: 'group-offload'});
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

describe('buildLoadPlan: --quantize and --memory', () => {
  const cpu = {hello: {device: 'cpu' as const}};
  const gpu = {hello: {device: 'cuda' as const, free_memory_bytes: 80e9}};
  const code = (fn: () => unknown): {exit: number; message: string} => {
    try {
      fn();
    } catch (e) {
      return {exit: (e as MgenError).exitCode, message: (e as Error).message};
    }
    return {exit: 0, message: ''};
  };

  it('--quantize nf4 on a CPU worker is a usage error naming what the device lacks (exit 2, before loading)', () => {
    const r = code(() => buildLoadPlan(report(), {main: '/m'}, {...cpu, quantize: 'nf4'}));
    expect(r.exit).toBe(ExitCode.usage);
    expect(r.message).toBe('--quantize nf4 needs bitsandbytes\' 4-bit kernels on a CUDA GPU; this worker runs on cpu');
  });

  it('--quantize int8/fp8 on CPU and nf4 on CUDA go into the plan', () => {
    expect(buildLoadPlan(report(), {main: '/m'}, {...cpu, quantize: 'int8'})).toMatchObject({quantize: 'int8', memory_plan: 'cpu'});
    expect(buildLoadPlan(report(), {main: '/m'}, {...gpu, quantize: 'nf4'})).toMatchObject({quantize: 'nf4', memory: 'gpu'});
  });

  it('already quantized weights are not quantized again (exit 2)', () => {
    const gguf = report({precision: 'gguf-q8_0'});
    expect(code(() => buildLoadPlan(gguf, {main: '/m'}, {...cpu, quantize: 'int8'}))).toEqual({exit: ExitCode.usage, message: '--quantize int8: the model\'s weights are already gguf-q8_0'});
  });

  it('--memory picks the plan; --offload is its older spelling and must agree', () => {
    expect(buildLoadPlan(report(), {main: '/m'}, {...gpu, memory: 'group-offload'})).toMatchObject({memory: 'group', offload: 'none', memory_plan: 'group-offload'});
    expect(buildLoadPlan(report(), {main: '/m'}, {...gpu, offload: 'model'})).toMatchObject({memory: 'model', offload: 'model'});
    expect(code(() => buildLoadPlan(report(), {main: '/m'}, {...gpu, offload: 'model', memory: 'sequential'})).exit).toBe(ExitCode.usage);
  });

  it('the plan carries the reason and the advice for an out-of-memory error', () => {
    const p = buildLoadPlan(report(), {main: '/m'}, gpu);
    expect(p.memory_reason).toMatch(/everything fits; gpu needs ~[\d.]+ GiB of 74.5 GiB free/);
    expect(p.memory_next).toBe('--memory sequential or --quantize nf4');
  });

  it('a truncated weight file is refused before loading (exit 6)', () => {
    const short = report({format: 'gguf', precision: 'gguf-q8_0', warnings: ['m.gguf: tensor data is 4096 bytes shorter than the header promises (partial download or header-only copy)']});
    expect(code(() => buildLoadPlan(short, {main: '/m.gguf'}, cpu))).toEqual({exit: 6, message: '/models/m is truncated: its tensor data is 4096 bytes shorter than its header promises'});
  });
});

describe('the memory plan sizes a video decode by the clip asked for', () => {
  // CogVideoX-2b: transformer 1.69B, T5-XXL 4.76B, VAE 0.22B in bf16; 24 GiB free.
  const parts = {transformer: 1.69, text_encoder: 4.76, vae: 0.216};
  const files = Object.entries(parts).map(([name, b]) => ({path: `${name}/diffusion_pytorch_model.safetensors`, size: b * 2e9, format: 'safetensors' as const, dtypes: {BF16: 1}}));
  const cog = report({family: 'cogvideox', pipeline: 'CogVideoXPipeline', precision: 'bf16', parameters: 6.666e9, files, components: {transformer: {class: 'CogVideoXTransformer3DModel', library: 'diffusers', present: true}}});
  it('49 frames of 720x480 (the default clip) tile the VAE on 24 GiB; 13 frames of 360x240 do not', () => {
    const whole = buildLoadPlan(cog, {main: '/m'}, {...cuda(24 * 2 ** 30), notes: []});
    expect(whole).toMatchObject({memory_plan: 'gpu', vae_tiling: true, vae_slicing: true});
    expect(whole.memory_reason).toMatch(/video decode ~16\.9 GiB, ~2\.1 GiB tiled/);
    const small = buildLoadPlan(cog, {main: '/m'}, {...cuda(24 * 2 ** 30), notes: [], video: {width: 360, height: 240, frames: 13}});
    expect(small).toMatchObject({memory_plan: 'gpu', vae_tiling: false});
  });
});
