import {describe, expect, test} from '@jest/globals';
import {join} from 'node:path';
import {gguf} from '@huggingface/gguf';
import {readGgufHeader} from '../../../src/detect/readers/gguf.js';
import {readWeightFile} from '../../../src/detect/readers/weight-file.js';
import {BufferSource, LocalFileSource} from '../../../src/detect/readers/byte-source.js';
import {InvalidModelError} from '../../../src/errors.js';
import {buildGgufHeader, writeGguf, type GgufTensorSpec} from '../../helpers/gguf-writer.js';
import {useTmpDir} from '../../helpers/tmp.js';

const tmp = useTmpDir();

const fluxTensors: GgufTensorSpec[] = [
  {name: 'img_in.weight', shape: [3072, 64], type: 'Q8_0'},
  {name: 'double_blocks.0.img_attn.norm.key_norm.scale', shape: [128], type: 'F32'},
  {name: 'double_blocks.0.img_attn.qkv.weight', shape: [9216, 3072], type: 'Q4_K'},
  {name: 'guidance_in.in_layer.weight', shape: [3072, 256], type: 'BF16'},
  {name: 'final_layer.linear.weight', shape: [64, 3072], type: 'F16'},
];

describe('readGgufHeader', () => {
  test('reads kv metadata and tensor infos, dims reversed into PyTorch order, ggml types as GGUF_<type>', async () => {
    const path = join(tmp.dir, 'flux1-dev-Q4_K.gguf');
    const size = await writeGguf(path, {'general.architecture': 'flux', 'general.quantization_version': 2, 'general.file_type': {type: 'u32', value: 15}, ratio: 0.5, flag: true}, fluxTensors);
    const src = new LocalFileSource(path, 'flux1-dev-Q4_K.gguf');
    const facts = await readGgufHeader(src);
    expect(facts.format).toBe('gguf');
    expect(facts.size).toBe(size);
    expect(facts.tensors).toEqual([
      {name: 'img_in.weight', dtype: 'GGUF_Q8_0', shape: [3072, 64]},
      {name: 'double_blocks.0.img_attn.norm.key_norm.scale', dtype: 'GGUF_F32', shape: [128]},
      {name: 'double_blocks.0.img_attn.qkv.weight', dtype: 'GGUF_Q4_K', shape: [9216, 3072]},
      {name: 'guidance_in.in_layer.weight', dtype: 'GGUF_BF16', shape: [3072, 256]},
      {name: 'final_layer.linear.weight', dtype: 'GGUF_F16', shape: [64, 3072]},
    ]);
    expect(facts.metadata).toMatchObject({'general.architecture': 'flux', 'general.quantization_version': '2', 'general.file_type': '15', ratio: '0.5', flag: 'true', 'gguf.version': '3'});
    expect(facts.missingBytes).toBeUndefined();
    expect(src.stats.reads).toBe(1);
    await src.close();
  });

  test('the written file parses identically with @huggingface/gguf (ggml order there)', async () => {
    const path = join(tmp.dir, 'cross.gguf');
    await writeGguf(path, {'general.architecture': 'flux'}, fluxTensors);
    const theirs = await gguf(path, {allowLocalFile: true});
    expect(theirs.metadata['general.architecture']).toBe('flux');
    const ours = await readGgufHeader(new LocalFileSource(path));
    expect(theirs.tensorInfos.map((t) => t.shape.map(Number).reverse())).toEqual(ours.tensors.map((t) => t.shape));
    expect(theirs.tensorInfos.map((t) => t.name)).toEqual(ours.tensors.map((t) => t.name));
  });

  test('comfy.gguf.orig_shape metadata restores the original (5-D) shape', async () => {
    const bytes = buildGgufHeader(
      {'general.architecture': 'wan', 'comfy.gguf.orig_shape.patch_embedding.weight': {array: 'i32', items: [5120, 16, 1, 2, 2]}},
      [{name: 'patch_embedding.weight', shape: [5120, 64], type: 'F16'}],
    ).bytes;
    const facts = await readGgufHeader(new BufferSource(bytes, 'wan.gguf'));
    expect(facts.tensors[0]?.shape).toEqual([5120, 16, 1, 2, 2]);
    expect(facts.metadata['comfy.gguf.orig_shape.patch_embedding.weight']).toBe('[5120,16,1,2,2]');
    expect(facts.missingBytes).toBe(5120 * 64 * 2);
  });

  test('an orig_shape with the wrong element count is ignored with a warning', async () => {
    const bytes = buildGgufHeader({'comfy.gguf.orig_shape.w': {array: 'i32', items: [3, 3]}}, [{name: 'w', shape: [4, 4], type: 'F32'}]).bytes;
    const facts = await readGgufHeader(new BufferSource(bytes, 'x.gguf'));
    expect(facts.tensors[0]?.shape).toEqual([4, 4]);
    expect(facts.warnings.join()).toMatch(/does not match/);
  });

  test('large arrays are summarized; small ones kept as JSON; version 2 accepted; custom alignment', async () => {
    const tokens = Array.from({length: 1000}, (_, i) => `tok${i}`);
    const bytes = buildGgufHeader({'tokenizer.ggml.tokens': {array: 'string', items: tokens}, small: {array: 'f32', items: [1, 2.5]}},
      [{name: 'w', shape: [32], type: 'F32'}], {version: 2, alignment: 64}).bytes;
    const facts = await readGgufHeader(new BufferSource(bytes, 'x.gguf'));
    expect(facts.metadata['tokenizer.ggml.tokens']).toBe('[array of 1000 string]');
    expect(facts.metadata.small).toBe('[1,2.5]');
    expect(facts.metadata['gguf.version']).toBe('2');
  });

  test('a header longer than the first read is completed with more reads', async () => {
    const tokens = Array.from({length: 40_000}, (_, i) => `a-rather-long-token-string-number-${i}`);
    const bytes = buildGgufHeader({'tokenizer.ggml.tokens': {array: 'string', items: tokens}}, [{name: 'w', shape: [32], type: 'F32'}]).bytes;
    expect(bytes.length).toBeGreaterThan(1024 * 1024);
    const src = new BufferSource(bytes, 'big.gguf');
    const facts = await readGgufHeader(src);
    expect(facts.tensors).toEqual([{name: 'w', dtype: 'GGUF_F32', shape: [32]}]);
    expect(src.stats.reads).toBe(2);
  });

  test('readWeightFile sniffs GGUF by magic', async () => {
    const path = join(tmp.dir, 'model.bin');
    await writeGguf(path, {}, [{name: 'w', shape: [8, 8], type: 'Q8_0'}]);
    const facts = await readWeightFile(new LocalFileSource(path), 'model.bin');
    expect(facts.format).toBe('gguf');
  });

  const u64 = (n: number | bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(n));
    return b;
  };
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    return b;
  };
  const head = (version: number, tensors: number | bigint, kvs: number | bigint) => Buffer.concat([Buffer.from('GGUF'), u32(version), u64(tensors), u64(kvs)]);
  test.each([
    ['bad magic', Buffer.concat([Buffer.from('GGUX'), u32(3), u64(0), u64(0)]), /bad magic/],
    ['version 1', head(1, 0, 0), /unsupported version 1/],
    ['huge tensor count', head(3, 2n ** 40n, 0), /tensor count .* (too large|more than)/],
    ['string length beyond the file', Buffer.concat([head(3, 0, 1), u64(2n ** 40n)]), /too large|ends inside the header/],
    ['unknown value type', Buffer.concat([head(3, 0, 1), u64(1), Buffer.from('k'), u32(99)]), /unknown metadata value type 99/],
    ['nested array', Buffer.concat([head(3, 0, 1), u64(1), Buffer.from('k'), u32(9), u32(9), u64(1)]), /nested array/],
    ['truncated tensor info', Buffer.concat([head(3, 1, 0), u64(1), Buffer.from('w'), u32(2)]), /ends inside the header/],
    ['too many dims', Buffer.concat([head(3, 1, 0), u64(1), Buffer.from('w'), u32(99)]), /99 dimensions/],
    ['misaligned offset', Buffer.concat([head(3, 1, 0), u64(1), Buffer.from('w'), u32(1), u64(4), u32(0), u64(7)]), /not aligned/],
    ['bad alignment', Buffer.concat([head(3, 0, 1), u64(17), Buffer.from('general.alignment'), u32(4), u32(3)]), /not a power of two/],
  ])('%s is an InvalidModelError', async (_l, bytes, reason) => {
    const err = await readGgufHeader(new BufferSource(bytes, 'hostile.gguf')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidModelError);
    expect((err as Error).message).toContain('hostile.gguf');
    expect((err as Error).message).toMatch(reason);
  });
});
