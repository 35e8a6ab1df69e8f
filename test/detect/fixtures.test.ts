// End to end: every family and kind written as real files (safetensors, shards, GGUF, torch pickles,
// diffusers folders) and detected through the real readers with detectLocal.
import {afterAll, beforeAll, describe, expect, test} from '@jest/globals';
import {join} from 'node:path';
import {detectLocal} from '../../src/detect/index.js';
import {makeTmpDir} from '../helpers/tmp.js';
import * as sd from '../helpers/fixtures/sd.js';
import * as dit from '../helpers/fixtures/dit.js';
import * as ad from '../helpers/fixtures/adapters.js';
import * as files from '../helpers/fixtures/files.js';

let tmp: {dir: string; cleanup: () => Promise<void>};
beforeAll(async () => {
  tmp = await makeTmpDir('mgen-fixtures-');
});
afterAll(async () => tmp.cleanup());

const p = (name: string) => join(tmp.dir, name);
type Write = () => Promise<string>;

const CASES: Array<[string, Write, {kind: string; family: string; variants?: string[]; format?: string; precision?: string}]> = [
  ['sd1 all-in-one', () => files.writeSt(p('sd1.safetensors'), sd.sdCheckpoint('sd1')), {kind: 'checkpoint', family: 'sd1', format: 'single-file', precision: 'fp16'}],
  ['sd2 with modelspec v', () => files.writeSt(p('sd2.safetensors'), sd.sdCheckpoint('sd2'), {'modelspec.architecture': 'stable-diffusion-v2-768-v', 'modelspec.sai_model_spec': '1.0.0'}), {kind: 'checkpoint', family: 'sd2', variants: ['v-prediction']}],
  ['sdxl sharded', () => files.writeSharded(p('sdxl-sharded'), 'model', sd.sdCheckpoint('sdxl')), {kind: 'checkpoint', family: 'sdxl', format: 'sharded'}],
  ['sdxl refiner', () => files.writeSt(p('refiner.safetensors'), sd.sdCheckpoint('refiner')), {kind: 'checkpoint', family: 'sdxl-refiner'}],
  ['flux dev transformer', () => files.writeSt(p('flux1-dev.safetensors'), dit.fluxBfl()), {kind: 'checkpoint', family: 'flux', variants: ['dev'], precision: 'bf16'}],
  ['flux GGUF Q8_0', () => files.writeGgufModel(p('flux1-schnell-Q8_0.gguf'), 'flux', dit.fluxBfl({guidance: false})), {kind: 'checkpoint', family: 'flux', variants: ['schnell'], format: 'gguf', precision: 'gguf-q8_0'}],
  ['sd3 GGUF', () => files.writeGgufModel(p('sd3.5_large-Q4_0.gguf'), 'sd3', dit.sd3('3.5-large', ''), 'Q4_0'), {kind: 'checkpoint', family: 'sd3', variants: ['3.5-large'], format: 'gguf', precision: 'gguf-q4_0'}],
  ['wan GGUF', () => files.writeGgufModel(p('wan2.1-t2v-1.3b-Q8_0.gguf'), 'wan', dit.wan(1536, 16)), {kind: 'checkpoint', family: 'wan', variants: ['wan2.1-t2v-1.3b'], format: 'gguf'}],
  ['chroma', () => files.writeSt(p('chroma.safetensors'), dit.chroma()), {kind: 'checkpoint', family: 'chroma'}],
  ['flux2', () => files.writeSt(p('flux2.safetensors'), dit.flux2()), {kind: 'checkpoint', family: 'flux2'}],
  ['pixart sigma', () => files.writeSt(p('pixart.safetensors'), dit.pixart(false)), {kind: 'checkpoint', family: 'pixart', variants: ['sigma']}],
  ['auraflow', () => files.writeSt(p('aura.safetensors'), dit.auraflow()), {kind: 'checkpoint', family: 'auraflow'}],
  ['hunyuandit', () => files.writeSt(p('hydit.safetensors'), dit.hunyuanDit()), {kind: 'checkpoint', family: 'hunyuandit'}],
  ['sana', () => files.writeSt(p('sana.safetensors'), dit.sana()), {kind: 'checkpoint', family: 'sana'}],
  ['lumina2', () => files.writeSt(p('lumina2.safetensors'), dit.lumina2()), {kind: 'checkpoint', family: 'lumina2'}],
  ['qwen-image', () => files.writeSt(p('qwen.safetensors'), dit.qwenImage()), {kind: 'checkpoint', family: 'qwen-image'}],
  ['cogvideox folder', () => files.writeDiffusers(p('cogvideox'), 'CogVideoXPipeline', {
    transformer: {lib: 'diffusers', cls: 'CogVideoXTransformer3DModel', specs: dit.cogVideoX()}, vae: {lib: 'diffusers', cls: 'AutoencoderKLCogVideoX'},
    text_encoder: {lib: 'transformers', cls: 'T5EncoderModel'}, scheduler: {lib: 'diffusers', cls: 'CogVideoXDDIMScheduler'},
  }), {kind: 'checkpoint', family: 'cogvideox', format: 'diffusers', variants: ['t2v']}],
  ['ltxv', () => files.writeSt(p('ltxv.safetensors'), dit.ltxv()), {kind: 'checkpoint', family: 'ltxv'}],
  ['hunyuanvideo', () => files.writeSt(p('hyvideo.safetensors'), dit.hunyuanVideo()), {kind: 'checkpoint', family: 'hunyuanvideo'}],
  ['cascade prior', () => files.writeSt(p('stage_c.safetensors'), dit.cascade('prior')), {kind: 'checkpoint', family: 'cascade', variants: ['prior']}],
  ['kohya sdxl lora', () => files.writeSt(p('lora-xl.safetensors'), ad.kohyaSdxl(), {ss_base_model_version: 'sdxl_base_v1-0', ss_network_module: 'networks.lora'}), {kind: 'lora', family: 'sdxl'}],
  ['xlabs flux lora', () => files.writeSt(p('xlabs.safetensors'), ad.xlabsFlux()), {kind: 'lora', family: 'flux'}],
  ['lokr sd1', () => files.writeSt(p('lokr.safetensors'), [...ad.loraModule('lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k', 768, 320, 'lokr')]), {kind: 'lora', family: 'sd1', variants: ['lokr']}],
  ['A1111 embedding .pt', async () => {
    const {root, storages} = files.a1111EmbeddingPickle(768, 4);
    return files.writeTorch(p('embedding.pt'), root, storages);
  }, {kind: 'textual-inversion', family: 'sd1', format: 'pickle'}],
  ['sdxl embedding', () => files.writeSt(p('ti-xl.safetensors'), ad.textualInversion.sdxl()), {kind: 'textual-inversion', family: 'sdxl'}],
  ['hypernetwork .pt', async () => {
    const {root, storages} = files.hypernetworkPickle([320, 640, 768, 1280]);
    return files.writeTorch(p('hypernet.pt'), root, storages);
  }, {kind: 'hypernetwork', family: 'sd1', format: 'pickle'}],
  ['controlnet LDM', () => files.writeSt(p('control_sd15.safetensors'), ad.controlnetLdm(768)), {kind: 'controlnet', family: 'sd1'}],
  ['controlnet diffusers folder', async () => {
    await files.writeSt(p('cn-xl/diffusion_pytorch_model.safetensors'), ad.controlnetDiffusers(2048, true));
    const {writeFile} = await import('node:fs/promises');
    await writeFile(p('cn-xl/config.json'), JSON.stringify({_class_name: 'ControlNetModel', cross_attention_dim: 2048, projection_class_embeddings_input_dim: 2816}));
    return p('cn-xl');
  }, {kind: 'controlnet', family: 'sdxl', format: 'diffusers'}],
  ['t2i adapter', () => files.writeSt(p('t2i.safetensors'), ad.t2iAdapter(true)), {kind: 't2i-adapter', family: 'sdxl'}],
  ['ip adapter', () => files.writeSt(p('ip-adapter_sdxl.safetensors'), ad.ipAdapter(2048, 'standard')), {kind: 'ip-adapter', family: 'sdxl', variants: ['standard']}],
  ['taesd', () => files.writeSt(p('taesd.safetensors'), ad.vae.tiny()), {kind: 'vae', family: 'sd1', variants: ['tiny-autoencoder']}],
  ['flux vae', () => files.writeSt(p('ae.safetensors'), ad.vae.flux()), {kind: 'vae', family: 'flux'}],
  ['t5 encoder', () => files.writeSt(p('t5xxl_fp16.safetensors'), ad.encoders.t5xxl()), {kind: 'text-encoder', family: 'unknown'}],
  ['clip vision', () => files.writeSt(p('clip_vision_h.safetensors'), ad.encoders.clipVisionH()), {kind: 'clip-vision', family: 'unknown'}],
  ['swinir', () => files.writeSt(p('swinir.safetensors'), ad.upscalers.swinir()), {kind: 'upscaler', family: 'unknown'}],
];

describe('fixtures of every family and kind, detected from files', () => {
  test.each(CASES)('%s', async (_name, write, want) => {
    const path = await write();
    const r = await detectLocal(path);
    expect({kind: r.kind, family: r.family}).toEqual({kind: want.kind, family: want.family});
    for (const v of want.variants ?? []) expect(r.variants).toContain(v);
    if (want.format) expect(r.format).toBe(want.format);
    if (want.precision) expect(r.precision).toBe(want.precision);
  });

  test('a transformer-only FLUX file lists what it lacks and suggests a base', async () => {
    const r = await detectLocal(await files.writeSt(p('flux-only.safetensors'), dit.fluxBfl({guidance: false})));
    expect(r.missing).toEqual(['vae', 'text_encoder', 'text_encoder_2']);
    expect(r.base).toEqual({family: 'flux', suggested: 'black-forest-labs/FLUX.1-schnell'});
  });

  test('an all-in-one SD1 file has every component', async () => {
    const r = await detectLocal(await files.writeSt(p('sd1-full.safetensors'), sd.sdCheckpoint('sd1')));
    expect(r.missing).toEqual([]);
    expect(r.pipeline).toBe('StableDiffusionPipeline');
    expect(r.memory.estimated_peak_vram_bytes.fp32).toBeGreaterThan(r.memory.estimated_peak_vram_bytes.fp16);
  });

  test('pickles are flagged; metadata contradicting tensors gives a warning', async () => {
    const {root, storages} = files.hypernetworkPickle([768]);
    const r = await detectLocal(await files.writeTorch(p('hn2.pt'), root, storages));
    expect(r.security.pickle).toBe(true);
    const x = await detectLocal(await files.writeSt(p('lying.safetensors'), sd.sdCheckpoint('sd1'), {'modelspec.architecture': 'stable-diffusion-xl-v1-base'}));
    expect(x.family).toBe('sd1');
    expect(x.warnings.join(' ')).toMatch(/metadata says sdxl but the tensors say sd1/);
  });

  test('custom code in a diffusers folder sets trust_remote_code_needed', async () => {
    const dir = await files.writeDiffusers(p('custom'), 'StableDiffusionPipeline', {
      unet: {lib: 'diffusers', cls: 'UNet2DConditionModel', config: {cross_attention_dim: 768, in_channels: 4}},
      text_encoder: {lib: 'my_package', cls: 'MyEncoder'},
    });
    const r = await detectLocal(dir);
    expect(r.family).toBe('sd1');
    expect(r.security.trust_remote_code_needed).toBe(true);
  });
});

describe('real torch.save files (written by PyTorch, from the readers fixtures)', () => {
  const dir = join(process.cwd(), 'test', 'fixtures', 'detect', 'torch');
  test('A1111 textual inversion .pt', async () => {
    const r = await detectLocal(join(dir, 'textual_inversion.pt'));
    expect(r).toMatchObject({kind: 'textual-inversion', family: 'sd1', format: 'pickle'});
    expect(r.security.pickle).toBe(true);
  });
  test('A1111 hypernetwork .pt (integer-keyed)', async () => {
    expect(await detectLocal(join(dir, 'hypernetwork.pt'))).toMatchObject({kind: 'hypernetwork', family: 'sd1'});
  });
  test('a small arbitrary checkpoint is unknown, not a default family', async () => {
    expect(await detectLocal(join(dir, 'zip_checkpoint.ckpt'))).toMatchObject({kind: 'unknown', family: 'unknown'});
  });
});

describe('a folder of diffusers components without model_index.json', () => {
  test('FLUX.1-schnell snapshot holding only transformer/config.json and its shard index', async () => {
    const {mkdir, writeFile} = await import('node:fs/promises');
    const dir = p('FLUX.1-schnell');
    await mkdir(join(dir, 'transformer'), {recursive: true});
    await writeFile(join(dir, 'transformer', 'config.json'), JSON.stringify({_class_name: 'FluxTransformer2DModel', guidance_embeds: false, in_channels: 64, num_layers: 19, num_single_layers: 38}));
    const weightMap = Object.fromEntries(dit.fluxDiffusers({guidance: false}).map((s) => [s.name, 'diffusion_pytorch_model-00001-of-00003.safetensors']));
    await writeFile(join(dir, 'transformer', 'diffusion_pytorch_model.safetensors.index.json'), JSON.stringify({metadata: {}, weight_map: weightMap}));
    const r = await detectLocal(dir);
    expect(r).toMatchObject({kind: 'checkpoint', family: 'flux', variants: ['schnell'], format: 'diffusers'});
    expect(r.warnings.join(' ')).toMatch(/components inferred from subfolders \(transformer\)/);
  });
});

describe('an SD2 .ckpt (torch zip) with state_dict and global_step', () => {
  test('global_step 110000 (the 768-v release) gives v-prediction; the pickle is flagged', async () => {
    const {torchTensor} = await import('../helpers/pickle-writer.js');
    const specs = sd.sdCheckpoint('sd2');
    const stateDict = {dict: specs.map((s, i) => [s.name, torchTensor(s.dtype === 'F16' ? 'F16' : 'F32', s.shape, i)] as [string, ReturnType<typeof torchTensor>])};
    const root = {dict: [['epoch', 6], ['global_step', 110000], ['state_dict', stateDict]] as Array<[string, unknown]>};
    const path = await files.writeTorch(p('768-v-ema.ckpt'), root as never, specs.length);
    const r = await detectLocal(path);
    expect(r).toMatchObject({kind: 'checkpoint', family: 'sd2', format: 'pickle', prediction: 'v'});
    expect(r.variants).toContain('v-prediction');
    expect(r.security.pickle).toBe(true);
  });
});
