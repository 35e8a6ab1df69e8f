// Header-level checks of quantized files (src/detect/quant-checks.ts) and how reports of transformer-only GGUF files
// of SD3.5 and Qwen-Image read (city96's key names and architectures), from files written in code.
import {describe, expect, test} from '@jest/globals';
import {join} from 'node:path';
import {detectLocal} from '../../src/detect/index.js';
import {incomplete4bitWeights, INCOMPLETE_4BIT} from '../../src/detect/quant-checks.js';
import type {FileFacts} from '../../src/detect/types.js';
import {writeGguf, type GgufTensorSpec} from '../helpers/gguf-writer.js';
import {writeSafetensors, type TensorSpec} from '../helpers/safetensors-writer.js';
import {useTmpDir} from '../helpers/tmp.js';

const tmp = useTmpDir();

function file(tensors: TensorSpec[], format: FileFacts['format'] = 'safetensors'): FileFacts {
  return {path: 'm.safetensors', size: 1, format, tensors, metadata: {}, warnings: []};
}

function fourBit(name: string, parts: string[]): TensorSpec[] {
  return [{name, dtype: 'U8', shape: [512, 1]}, ...parts.map((p) => ({name: name + p, dtype: p === '.quant_state.bitsandbytes__nf4' ? 'U8' : 'F32', shape: [16]}))];
}

describe('incomplete4bitWeights', () => {
  test('every packed weight with its absmax and quant_state: complete', () => {
    expect(incomplete4bitWeights(file([...fourBit('a.weight', ['.absmax', '.quant_map', '.quant_state.bitsandbytes__nf4']), {name: 'a.bias', dtype: 'BF16', shape: [16]}]))).toBe(0);
  });

  test('packed weights without their quant_state (or absmax) are counted', () => {
    expect(incomplete4bitWeights(file([
      ...fourBit('a.weight', ['.absmax', '.quant_map']),
      ...fourBit('b.weight', ['.quant_map', '.quant_state.bitsandbytes__nf4']),
      ...fourBit('c.weight', ['.absmax', '.quant_map', '.quant_state.bitsandbytes__nf4']),
    ]))).toBe(2);
  });

  test('U8 weights in a file without any bitsandbytes tensor, and GGUF files, are not 4-bit files', () => {
    expect(incomplete4bitWeights(file([{name: 'a.weight', dtype: 'U8', shape: [4, 4]}]))).toBe(0);
    expect(incomplete4bitWeights(file(fourBit('a.weight', ['.absmax']), 'gguf'))).toBe(0);
  });

  test('the report of such a file carries the warning the backends refuse it by', async () => {
    const path = join(tmp.dir, 'flux1-dev-bnb-nf4.safetensors');
    await writeSafetensors(path, [...fourBit('model.diffusion_model.img_in.weight', ['.absmax', '.quant_map']), {name: 'model.diffusion_model.img_in.bias', dtype: 'BF16', shape: [16]}]);
    const r = await detectLocal(path);
    expect(r.precision).toBe('nf4');
    expect(r.warnings).toContain(`flux1-dev-bnb-nf4.safetensors: 1 ${INCOMPLETE_4BIT} (an incomplete NF4/FP4 file)`);
  });
});

describe('transformer-only GGUF files as city96 publishes them', () => {
  test('SD3.5 (architecture sd3, Stability\'s MMDiT names): family sd3, the bulk quant type, a base needed', async () => {
    const t: GgufTensorSpec[] = [
      {name: 'pos_embed', shape: [1, 36864, 1536], type: 'F32'},
      {name: 'x_embedder.proj.weight', shape: [1536, 16, 2, 2], type: 'F32'},
      {name: 'context_embedder.weight', shape: [1536, 4096], type: 'Q4_K'},
      {name: 'joint_blocks.0.x_block.attn.qkv.weight', shape: [4608, 1536], type: 'Q4_K'},
      {name: 'joint_blocks.0.context_block.attn.qkv.weight', shape: [4608, 1536], type: 'Q4_K'},
      {name: 'joint_blocks.0.x_block.attn.qkv.bias', shape: [4608], type: 'F32'},
      {name: 'final_layer.linear.weight', shape: [64, 1536], type: 'Q8_0'},
    ];
    const path = join(tmp.dir, 'sd3.5_medium-Q4_K_M.gguf');
    await writeGguf(path, {'general.architecture': 'sd3', 'general.file_type': {type: 'u32', value: 15}}, t);
    const r = await detectLocal(path);
    expect(r).toMatchObject({format: 'gguf', kind: 'checkpoint', family: 'sd3', precision: 'gguf-q4_k'});
    expect(r.missing.length).toBeGreaterThan(0);
  });

  test('Qwen-Image (architecture qwen_image, diffusers\' names): family qwen-image', async () => {
    const t: GgufTensorSpec[] = [
      {name: 'img_in.weight', shape: [3072, 64], type: 'Q8_0'},
      {name: 'txt_in.weight', shape: [3072, 3584], type: 'Q8_0'},
      {name: 'txt_norm.weight', shape: [3584], type: 'F32'},
      {name: 'transformer_blocks.0.img_mod.1.weight', shape: [18432, 3072], type: 'Q8_0'},
      {name: 'transformer_blocks.0.attn.to_q.weight', shape: [3072, 3072], type: 'Q8_0'},
      {name: 'transformer_blocks.0.img_mlp.net.0.proj.weight', shape: [12288, 3072], type: 'Q8_0'},
      {name: 'proj_out.weight', shape: [64, 3072], type: 'Q8_0'},
    ];
    const path = join(tmp.dir, 'qwen-image-Q8_0.gguf');
    await writeGguf(path, {'general.architecture': 'qwen_image'}, t);
    const r = await detectLocal(path);
    expect(r).toMatchObject({format: 'gguf', kind: 'checkpoint', family: 'qwen-image', precision: 'gguf-q8_0'});
    expect(r.evidence[0]?.facts).toContain('GGUF general.architecture=qwen_image');
    expect(r.missing.length).toBeGreaterThan(0);
  });
});
