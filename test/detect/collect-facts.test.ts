import {describe, expect, jest, test} from '@jest/globals';
import {join} from 'node:path';
import {mkdir, writeFile, readFile} from 'node:fs/promises';
import {collectFacts} from '../../src/detect/collect-facts.js';
import {LocalTree} from '../../src/detect/local-tree.js';
import {InvalidModelError} from '../../src/errors.js';
import {sdxlLikeTensors, writeSafetensors, type TensorSpec} from '../helpers/safetensors-writer.js';
import type {ByteSource, ModelTree} from '../../src/detect/types.js';
import {writeGguf} from '../helpers/gguf-writer.js';
import {dumpPickle, stateDict, torchZip} from '../helpers/pickle-writer.js';
import {useTmpDir} from '../helpers/tmp.js';

const CORPUS = join(process.cwd(), '..', 'shared', 'corpus', 'detect');

const tmp = useTmpDir();

const unetKeys: TensorSpec[] = [
  {name: 'conv_in.weight', dtype: 'F16', shape: [320, 4, 3, 3]},
  {name: 'conv_in.bias', dtype: 'F16', shape: [320]},
];

async function facts(path: string) {
  return collectFacts(await LocalTree.open(path));
}

describe('collectFacts on built fixtures', () => {
  test('a single safetensors file: layout file, tensors and metadata merged', async () => {
    const p = join(tmp.dir, 'single.safetensors');
    await writeSafetensors(p, unetKeys, {metadata: {'ss_network_dim': '16'}});
    const f = await facts(p);
    expect(f.layout).toBe('file');
    expect(f.name).toBe('single.safetensors');
    expect([...f.tensors.keys()]).toEqual(['conv_in.weight', 'conv_in.bias']);
    expect(f.tensors.get('conv_in.weight')?.shape).toEqual([320, 4, 3, 3]);
    expect(f.metadata).toEqual({ss_network_dim: '16'});
    expect(f.files).toHaveLength(1);
  });

  test('a sparse 6.9 GB single file costs at most 2 reads and under 2 MB through collectFacts', async () => {
    const p = join(tmp.dir, 'sdxl-sparse.safetensors');
    await writeSafetensors(p, sdxlLikeTensors(2500), {sparse: true});
    const inner = await LocalTree.open(p);
    const sources: ByteSource[] = [];
    const counting: ModelTree = {
      name: inner.name, singleFile: inner.singleFile, list: () => inner.list(), readText: (x) => inner.readText(x),
      open: (x) => {
        const s = inner.open(x);
        sources.push(s);
        return s;
      },
    };
    const f = await collectFacts(counting);
    expect(f.tensors.size).toBe(2500);
    expect(sources).toHaveLength(1);
    expect(sources[0]!.stats.reads).toBeLessThanOrEqual(2);
    expect(sources[0]!.stats.bytes).toBeLessThan(2 * 1024 * 1024);
  });

  test('a safetensors file with a wrong extension is sniffed by its magic', async () => {
    const p = join(tmp.dir, 'weights.bin');
    await writeSafetensors(p, unetKeys);
    const f = await facts(p);
    expect(f.files[0]?.format).toBe('safetensors');
    expect(f.tensors.size).toBe(2);
  });

  test('sharded: a folder with an index reads every shard header', async () => {
    const d = join(tmp.dir, 'sharded');
    await writeSafetensors(join(d, 'model-00001-of-00002.safetensors'), [unetKeys[0]!], {sparse: true});
    await writeSafetensors(join(d, 'model-00002-of-00002.safetensors'), [unetKeys[1]!], {sparse: true});
    await writeFile(join(d, 'model.safetensors.index.json'), JSON.stringify({
      metadata: {total_size: 11524},
      weight_map: {'conv_in.weight': 'model-00001-of-00002.safetensors', 'conv_in.bias': 'model-00002-of-00002.safetensors'},
    }));
    const f = await facts(d);
    expect(f.layout).toBe('sharded');
    expect([...f.tensors.keys()].sort()).toEqual(['conv_in.bias', 'conv_in.weight']);
    expect(f.files.map((x) => x.format).sort()).toEqual(['index', 'safetensors', 'safetensors']);
    expect(f.indexKeys).toBeUndefined();
  });

  test('sharded: the index file itself, with its shards beside it', async () => {
    const f = await facts(join(tmp.dir, 'sharded', 'model.safetensors.index.json'));
    expect(f.layout).toBe('sharded');
    expect(f.tensors.size).toBe(2);
  });

  test('sharded with shards absent: tensor names come from the index, with a warning', async () => {
    const d = join(tmp.dir, 'sharded-missing');
    await mkdir(d, {recursive: true});
    await writeFile(join(d, 'model.safetensors.index.json'), JSON.stringify({weight_map: {a: 's1.safetensors', b: 's2.safetensors'}}));
    const f = await facts(d);
    expect(f.indexKeys).toEqual(['a', 'b']);
    expect(f.warnings.join()).toMatch(/2 of 2 shards are not present/);
  });

  test('diffusers: components with configs, weight headers (variants), optional and missing components', async () => {
    const d = join(tmp.dir, 'pipe');
    await mkdir(join(d, 'scheduler'), {recursive: true});
    await mkdir(join(d, 'text_encoder'), {recursive: true});
    await writeFile(join(d, 'model_index.json'), JSON.stringify({
      _class_name: 'StableDiffusionPipeline', unet: ['diffusers', 'UNet2DConditionModel'], vae: ['diffusers', 'AutoencoderKL'],
      scheduler: ['diffusers', 'PNDMScheduler'], safety_checker: [null, null], text_encoder: ['transformers', 'CLIPTextModel'],
      image_encoder: ['transformers', 'CLIPVisionModelWithProjection'],
    }));
    await writeFile(join(d, 'unet', 'config.json').replace('config.json', ''), '').catch(() => undefined);
    await mkdir(join(d, 'unet'), {recursive: true});
    await writeFile(join(d, 'unet', 'config.json'), JSON.stringify({cross_attention_dim: 768}));
    await writeSafetensors(join(d, 'unet', 'diffusion_pytorch_model.fp16.safetensors'), unetKeys, {sparse: true});
    await writeSafetensors(join(d, 'unet', 'diffusion_pytorch_model.safetensors'), [{name: 'x', dtype: 'F32', shape: [1]}], {sparse: true});
    await mkdir(join(d, 'vae'), {recursive: true});
    await writeFile(join(d, 'vae', 'config.json'), JSON.stringify({latent_channels: 4}));
    await writeFile(join(d, 'vae', 'diffusion_pytorch_model.safetensors'), '');
    await writeFile(join(d, 'scheduler', 'scheduler_config.json'), JSON.stringify({prediction_type: 'epsilon'}));
    await writeFile(join(d, 'text_encoder', 'config.json'), JSON.stringify({hidden_size: 768}));
    await writeFile(join(d, 'text_encoder', 'model.safetensors.index.json'), JSON.stringify({weight_map: {'text_model.embeddings.token_embedding.weight': 'model-00001-of-00002.safetensors'}}));
    const f = await facts(d);
    expect(f.layout).toBe('diffusers');
    expect(f.modelIndex?._class_name).toBe('StableDiffusionPipeline');
    const byName = Object.fromEntries(f.components.map((c) => [c.name, c]));
    expect(Object.keys(byName).sort()).toEqual(['image_encoder', 'safety_checker', 'scheduler', 'text_encoder', 'unet', 'vae']);
    expect(byName.unet?.present).toBe(true);
    expect(byName.unet?.config).toEqual({cross_attention_dim: 768});
    // The non-variant file is preferred over the .fp16 variant.
    expect(byName.unet?.files.map((x) => x.path)).toEqual(['unet/diffusion_pytorch_model.safetensors']);
    expect(byName.scheduler?.config).toEqual({prediction_type: 'epsilon'});
    expect(byName.safety_checker).toMatchObject({present: false, library: null, className: null});
    expect(byName.image_encoder?.present).toBe(false);
    expect(byName.vae?.files[0]?.warnings.join()).toMatch(/empty file/);
    expect(byName.text_encoder?.indexKeys).toEqual(['text_model.embeddings.token_embedding.weight']);
    expect(f.warnings.join('\n')).toMatch(/image_encoder .* folder is missing/);
  });

  test('equally ranked weight files: the first path in code-unit order is read, without localeCompare (ICU collator set-up)', async () => {
    const d = join(tmp.dir, 'ties');
    await mkdir(d, {recursive: true});
    await writeFile(join(d, 'config.json'), JSON.stringify({_class_name: 'ControlNetModel'}));
    for (const name of ['b_weights.safetensors', 'B-weights.safetensors', 'a_weights.safetensors']) await writeSafetensors(join(d, name), unetKeys, {headerOnly: true});
    const compare = jest.spyOn(String.prototype, 'localeCompare');
    try {
      const f = await facts(d);
      expect(f.files.map((x) => x.path)).toEqual(['B-weights.safetensors']);
      expect(compare).not.toHaveBeenCalled();
    } finally {
      compare.mockRestore();
    }
  });

  test('component-folder: a lone config.json with its weights', async () => {
    const d = join(tmp.dir, 'controlnet');
    await mkdir(d, {recursive: true});
    await writeFile(join(d, 'config.json'), JSON.stringify({_class_name: 'ControlNetModel'}));
    await writeSafetensors(join(d, 'diffusion_pytorch_model.fp16.safetensors'), unetKeys, {headerOnly: true});
    const f = await facts(d);
    expect(f.layout).toBe('component-folder');
    expect(f.config?._class_name).toBe('ControlNetModel');
    expect(f.tensors.size).toBe(2);
  });

  test('folder: weight files are read so rules can still classify', async () => {
    const d = join(tmp.dir, 'plain');
    await writeSafetensors(join(d, 'lora.safetensors'), [{name: 'lora_unet_down.lora_down.weight', dtype: 'F16', shape: [4, 320]}]);
    await writeFile(join(d, 'README.md'), 'hi');
    const f = await facts(d);
    expect(f.layout).toBe('folder');
    expect([...f.tensors.keys()]).toEqual(['lora_unet_down.lora_down.weight']);
  });

  test('folder with nothing recognizable: no tensors, no error', async () => {
    const d = join(tmp.dir, 'nothing');
    await mkdir(d, {recursive: true});
    await writeFile(join(d, 'notes.txt'), 'hi');
    const f = await facts(d);
    expect(f.layout).toBe('folder');
    expect(f.tensors.size).toBe(0);
  });

  test('a single .ckpt torch zip: tensors, metadata and pickle findings', async () => {
    const p = join(tmp.dir, 'model.ckpt');
    const root = {dict: [['global_step', 875000], ['state_dict', stateDict([{name: 'model.diffusion_model.out.2.weight', dtype: 'F16', shape: [4, 320, 3, 3]}])], ['hook', {global: ['os', 'system']}]]} as const;
    await writeFile(p, torchZip(dumpPickle(root as never)));
    const f = await facts(p);
    expect(f.layout).toBe('file');
    expect(f.tensors.get('model.diffusion_model.out.2.weight')?.shape).toEqual([4, 320, 3, 3]);
    expect(f.metadata.global_step).toBe('875000');
    expect(f.files[0]?.pickle?.findings).toEqual([{global: 'os.system', severity: 'dangerous', file: 'model.ckpt'}]);
  });

  test('a folder holding a GGUF file is read through the GGUF reader', async () => {
    const d = join(tmp.dir, 'gguf-folder');
    await writeGguf(join(d, 'flux1-schnell-Q8_0.gguf'), {'general.architecture': 'flux'}, [{name: 'img_in.weight', shape: [3072, 64], type: 'Q8_0'}]);
    const f = await facts(d);
    expect(f.layout).toBe('folder');
    expect(f.tensors.get('img_in.weight')).toEqual({name: 'img_in.weight', dtype: 'GGUF_Q8_0', shape: [3072, 64]});
    expect(f.metadata['general.architecture']).toBe('flux');
  });

  test('an index file given alone reads the shards beside it and lists the missing ones', async () => {
    const d = join(tmp.dir, 'half-sharded');
    await writeSafetensors(join(d, 's1.safetensors'), [unetKeys[0]!], {headerOnly: true});
    await writeFile(join(d, 'model.safetensors.index.json'), JSON.stringify({weight_map: {'conv_in.weight': 's1.safetensors', 'conv_in.bias': 's2.safetensors'}}));
    const f = await facts(join(d, 'model.safetensors.index.json'));
    expect(f.layout).toBe('sharded');
    expect([...f.tensors.keys()]).toEqual(['conv_in.weight']);
    expect(f.indexKeys).toEqual(['conv_in.weight', 'conv_in.bias']);
    expect(f.warnings.join()).toMatch(/1 of 2 shards are not present/);
  });

  test('malformed model_index.json is an InvalidModelError naming the file', async () => {
    const d = join(tmp.dir, 'badjson');
    await mkdir(d, {recursive: true});
    await writeFile(join(d, 'model_index.json'), '{"unet": [');
    const err = await facts(d).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidModelError);
    expect((err as Error).message).toMatch(/model_index\.json: invalid JSON/);
  });

  test('a scheduler config with Python\'s bare -Infinity / NaN (diffusers writes them) still reads; the values are null', async () => {
    const d = join(tmp.dir, 'pyjson');
    await mkdir(join(d, 'scheduler'), {recursive: true});
    await writeFile(join(d, 'model_index.json'), JSON.stringify({_class_name: 'PixArtSigmaPipeline', scheduler: ['diffusers', 'DPMSolverMultistepScheduler']}));
    await writeFile(join(d, 'scheduler', 'scheduler_config.json'), '{"_class_name": "DPMSolverMultistepScheduler", "lambda_min_clipped": -Infinity, "x": NaN, "note": "-Infinity NaN"}');
    const f = await facts(d);
    expect(f.components.find((c) => c.name === 'scheduler')?.config).toMatchObject({lambda_min_clipped: null, x: null, note: '-Infinity NaN'});
  });

  test('a hostile safetensors inside a folder surfaces as InvalidModelError naming it', async () => {
    const d = join(tmp.dir, 'hostile');
    await mkdir(d, {recursive: true});
    await writeFile(join(d, 'x.safetensors'), Buffer.concat([Buffer.from([5, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{"a":1}')]));
    await expect(facts(d)).rejects.toThrow(/x\.safetensors: invalid safetensors file/);
  });
});

describe('collectFacts on the detection corpus', () => {
  test('the dreamshaper-8 pipeline folder (configs only, header-only vae)', async () => {
    const f = await facts(join(CORPUS, 'invokeai-dreamshaper-8', 'dreamshaper-8'));
    expect(f.layout).toBe('diffusers');
    const unet = f.components.find((c) => c.name === 'unet');
    expect(unet?.config?.cross_attention_dim).toBe(768);
    const vae = f.components.find((c) => c.name === 'vae');
    expect(vae?.files[0]?.tensors.length).toBeGreaterThan(10);
    expect(vae?.files[0]?.missingBytes).toBeGreaterThan(0);
  });

  test('the taesdxl folder with a 0-byte placeholder weight file is tolerated', async () => {
    const f = await facts(join(CORPUS, 'invokeai-vae-taesdxl-fp16', 'taesdxl-fp16'));
    expect(f.layout).toBe('component-folder');
    expect(f.tensors.size).toBe(0);
    expect(f.warnings.join()).toMatch(/empty file/);
  });

  test('every corpus target is read without an error', async () => {
    const index = JSON.parse(await readFile(join(CORPUS, 'index.json'), 'utf8')) as {cases: Array<{id: string; target: string}>};
    expect(index.cases.length).toBeGreaterThan(40);
    const failures: string[] = [];
    for (const c of index.cases) {
      try {
        const f = await facts(join(CORPUS, c.id, c.target));
        if (f.tensors.size === 0 && f.components.length === 0 && !f.config && !f.indexKeys) failures.push(`${c.id}: nothing read (${f.warnings.join('; ')})`);
      } catch (err) {
        failures.push(`${c.id}: ${(err as Error).message}`);
      }
    }
    expect(failures).toEqual([]);
  });
});
