import {describe, expect, it} from '@jest/globals';
import {globToRegExp, selectFiles} from '../../src/sources/select-files.js';
import {diffusersRepo} from '../helpers/hub-fixtures.js';

const listing = (paths: string[]) => paths.map((path) => ({path, size: 1}));
const sdRepo = diffusersRepo('org/sd');
const sdFiles = sdRepo.files.map((f) => ({path: f.path, size: f.content!.length}));
const modelIndex = JSON.parse(sdRepo.files.find((f) => f.path === 'model_index.json')!.content!.toString());

describe('selectFiles: diffusers repos', () => {
  it('takes model_index components, safetensors over bin, skips flax/onnx/ckpt/ema and [null,null] components', () => {
    const s = selectFiles(sdFiles, modelIndex);
    expect(s.files).toEqual([
      'model_index.json',
      'scheduler/scheduler_config.json',
      'text_encoder/config.json', 'text_encoder/model.safetensors',
      'tokenizer/merges.txt', 'tokenizer/tokenizer_config.json', 'tokenizer/vocab.json',
      'unet/config.json', 'unet/diffusion_pytorch_model.safetensors',
      'vae/config.json', 'vae/diffusion_pytorch_model.safetensors',
    ]);
  });
  it('--variant fp16 takes the fp16 files and falls back to the default ones where a component has none', () => {
    const s = selectFiles(sdFiles, modelIndex, {variant: 'fp16'});
    expect(s.files).toContain('unet/diffusion_pytorch_model.fp16.safetensors');
    expect(s.files).toContain('vae/diffusion_pytorch_model.fp16.safetensors');
    expect(s.files).not.toContain('unet/diffusion_pytorch_model.safetensors');
    expect(s.files).toContain('text_encoder/model.safetensors');
  });
  it('sharded weights: all shards and the matching index only', () => {
    const files = listing([
      'model_index.json', 'transformer/config.json',
      'transformer/diffusion_pytorch_model-00001-of-00002.safetensors', 'transformer/diffusion_pytorch_model-00002-of-00002.safetensors',
      'transformer/diffusion_pytorch_model.safetensors.index.json',
      'transformer/diffusion_pytorch_model.fp16-00001-of-00001.safetensors', 'transformer/diffusion_pytorch_model.safetensors.index.fp16.json',
      'transformer/diffusion_pytorch_model.bin.index.json',
    ]);
    const s = selectFiles(files, {transformer: ['diffusers', 'X']});
    expect(s.files).toEqual(['model_index.json', 'transformer/config.json',
      'transformer/diffusion_pytorch_model-00001-of-00002.safetensors', 'transformer/diffusion_pytorch_model-00002-of-00002.safetensors',
      'transformer/diffusion_pytorch_model.safetensors.index.json']);
    const f = selectFiles(files, {transformer: ['diffusers', 'X']}, {variant: 'fp16'});
    expect(f.files).toContain('transformer/diffusion_pytorch_model.safetensors.index.fp16.json');
    expect(f.files).not.toContain('transformer/diffusion_pytorch_model.safetensors.index.json');
  });
  it('.bin only components still load', () => {
    const s = selectFiles(listing(['model_index.json', 'unet/config.json', 'unet/diffusion_pytorch_model.bin']), {unet: ['diffusers', 'U']});
    expect(s.files).toContain('unet/diffusion_pytorch_model.bin');
  });
});

describe('selectFiles: single-file repos, globs', () => {
  it('one weight file: it alone', () => {
    expect(selectFiles(listing(['README.md', 'lora.safetensors']), undefined).files).toEqual(['lora.safetensors']);
  });
  it('safetensors beats ckpt, non-ema beats ema', () => {
    expect(selectFiles(listing(['m.ckpt', 'm.safetensors', 'm-emaonly.safetensors']), undefined).files).toEqual(['m.safetensors']);
  });
  it('several candidates: choices returned, nothing chosen', () => {
    const s = selectFiles(listing(['a.safetensors', 'b.safetensors']), undefined);
    expect(s.files).toEqual([]);
    expect(s.choices).toEqual(['a.safetensors', 'b.safetensors']);
    expect(selectFiles(listing(['m.fp16.safetensors', 'm.safetensors']), undefined, {variant: 'fp16'}).files).toEqual(['m.fp16.safetensors']);
  });
  it('a component repo (config.json + weights at the root)', () => {
    expect(selectFiles(listing(['config.json', 'diffusion_pytorch_model.safetensors', 'diffusion_pytorch_model.bin', 'README.md']), undefined).files)
      .toEqual(['config.json', 'diffusion_pytorch_model.safetensors']);
  });
  it('--all, --include, --exclude and --file', () => {
    expect(selectFiles(sdFiles, modelIndex, {all: true}).files.length).toBe(sdFiles.length);
    expect(selectFiles(sdFiles, modelIndex, {include: ['unet/*']}).files.every((p) => p.startsWith('unet/'))).toBe(true);
    expect(selectFiles(sdFiles, modelIndex, {exclude: ['tokenizer/*']}).files.some((p) => p.startsWith('tokenizer/'))).toBe(false);
    expect(selectFiles(sdFiles, modelIndex, {file: 'v1-5-pruned.ckpt'}).files).toEqual(['v1-5-pruned.ckpt']);
    expect(selectFiles(sdFiles, modelIndex, {file: 'unet'}).files).toEqual(['unet/config.json', 'unet/diffusion_pytorch_model.safetensors']);
  });
  it('globs are fnmatch-like', () => {
    expect(globToRegExp('*.safetensors').test('a/b.safetensors')).toBe(true);
    expect(globToRegExp('unet/?.json').test('unet/a.json')).toBe(true);
    expect(globToRegExp('[!a]*').test('abc')).toBe(false);
  });
});
