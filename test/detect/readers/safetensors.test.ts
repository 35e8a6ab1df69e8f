import {describe, expect, test} from '@jest/globals';
import {join} from 'node:path';
import {stat} from 'node:fs/promises';
import {readSafetensorsHeader} from '../../../src/detect/readers/safetensors.js';
import {BufferSource, LocalFileSource} from '../../../src/detect/readers/byte-source.js';
import {InvalidModelError, NotFoundError} from '../../../src/errors.js';
import {buildHeaderBytes, rawHeaderBytes, sdxlLikeTensors, u64le, writeRaw, writeSafetensors, type TensorSpec} from '../../helpers/safetensors-writer.js';
import {useTmpDir} from '../../helpers/tmp.js';

const CORPUS = join(process.cwd(), '..', 'shared', 'corpus', 'detect');

const tmp = useTmpDir();

const small: TensorSpec[] = [
  {name: 'a.weight', dtype: 'F16', shape: [4, 3]},
  {name: 'b.bias', dtype: 'F32', shape: [4]},
  {name: 'scalar', dtype: 'BF16', shape: []},
  {name: 'empty', dtype: 'U8', shape: [0, 5]},
];

async function expectInvalid(bytes: Uint8Array, reason: RegExp, name = 'hostile.safetensors'): Promise<void> {
  const src = new BufferSource(bytes, name);
  const err = await readSafetensorsHeader(src).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(InvalidModelError);
  expect((err as Error).message).toContain(name);
  expect((err as Error).message).toMatch(reason);
}

function full(tensors: TensorSpec[], opts = {}): Uint8Array {
  const {bytes, dataSize} = buildHeaderBytes(tensors, opts);
  return Buffer.concat([bytes, Buffer.alloc(dataSize)]);
}

function withHeader(header: unknown, dataSize = 0): Uint8Array {
  const h = rawHeaderBytes(JSON.stringify(header));
  return Buffer.concat([h, Buffer.alloc(dataSize)]);
}

describe('readSafetensorsHeader', () => {
  test('reads tensors, shapes, dtypes and __metadata__ of a complete file', async () => {
    const path = join(tmp.dir, 'ok.safetensors');
    await writeSafetensors(path, small, {metadata: {format: 'pt', 'modelspec.architecture': 'stable-diffusion-v1'}});
    const src = new LocalFileSource(path);
    const facts = await readSafetensorsHeader(src);
    expect(facts.format).toBe('safetensors');
    expect(facts.tensors).toEqual([
      {name: 'a.weight', dtype: 'F16', shape: [4, 3]},
      {name: 'b.bias', dtype: 'F32', shape: [4]},
      {name: 'scalar', dtype: 'BF16', shape: []},
      {name: 'empty', dtype: 'U8', shape: [0, 5]},
    ]);
    expect(facts.metadata).toEqual({format: 'pt', 'modelspec.architecture': 'stable-diffusion-v1'});
    expect(facts.warnings).toEqual([]);
    expect(facts.missingBytes).toBeUndefined();
    expect(facts.size).toBe((await stat(path)).size);
    expect(src.stats.reads).toBe(1);
    await src.close();
  });

  test('accepts every known dtype', async () => {
    const dtypes = ['F64', 'F32', 'F16', 'BF16', 'F8_E4M3', 'F8_E5M2', 'I64', 'I32', 'I16', 'I8', 'U64', 'U32', 'U16', 'U8', 'BOOL'];
    const facts = await readSafetensorsHeader(new BufferSource(full(dtypes.map((d) => ({name: d, dtype: d, shape: [2, 3]}))), 'x'));
    expect(facts.tensors.map((t) => t.dtype)).toEqual(dtypes);
  });

  test('a header-only file is read with a missingBytes warning', async () => {
    const path = join(tmp.dir, 'header-only.safetensors');
    await writeSafetensors(path, small, {headerOnly: true});
    const facts = await readSafetensorsHeader(new LocalFileSource(path, 'header-only.safetensors'));
    expect(facts.missingBytes).toBe(24 + 16 + 2);
    expect(facts.warnings.join('\n')).toMatch(/header-only\.safetensors: data section is 42 bytes shorter/);
  });

  test('a partial download is read with the number of missing bytes', async () => {
    const path = join(tmp.dir, 'partial.safetensors');
    await writeSafetensors(path, small, {truncateBy: 10});
    const facts = await readSafetensorsHeader(new LocalFileSource(path));
    expect(facts.missingBytes).toBe(10);
    expect(facts.tensors).toHaveLength(4);
  });

  test('strict mode refuses data offsets past the end of the file', async () => {
    const {bytes} = buildHeaderBytes(small);
    const err = await readSafetensorsHeader(new BufferSource(bytes, 'p.safetensors'), {strict: true}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidModelError);
    expect((err as Error).message).toMatch(/past the end of the file \(42 bytes missing\)/);
  });

  test('trailing bytes after the data section give a warning', async () => {
    const facts = await readSafetensorsHeader(new BufferSource(Buffer.concat([full(small), Buffer.alloc(3)]), 't'));
    expect(facts.warnings.join()).toMatch(/3 unexpected bytes/);
  });

  test('a sparse 6.9 GB SDXL-like file takes at most 2 reads and under 2 MB', async () => {
    const path = join(tmp.dir, 'sdxl-like.safetensors');
    const tensors = sdxlLikeTensors(2500);
    const size = await writeSafetensors(path, tensors, {sparse: true, metadata: {'modelspec.architecture': 'stable-diffusion-xl-v1-base'}});
    expect(size).toBeGreaterThan(6.9e9);
    const src = new LocalFileSource(path);
    const facts = await readSafetensorsHeader(src);
    expect(facts.tensors).toHaveLength(2500);
    expect(facts.missingBytes).toBeUndefined();
    expect(src.stats.reads).toBeLessThanOrEqual(2);
    expect(src.stats.bytes).toBeLessThan(2 * 1024 * 1024);
    await src.close();
  });

  test('a header longer than the first read costs exactly one more read', async () => {
    const tensors = sdxlLikeTensors(20000); // ~1.8 MB header
    const bytes = buildHeaderBytes(tensors).bytes;
    expect(bytes.length).toBeGreaterThan(1024 * 1024);
    const src = new BufferSource(bytes, 'big-header');
    const facts = await readSafetensorsHeader(src);
    expect(facts.tensors).toHaveLength(20000);
    expect(src.stats.reads).toBe(2);
    expect(src.stats.bytes).toBe(bytes.length);
  });

  test('a missing file is a NotFoundError', async () => {
    await expect(readSafetensorsHeader(new LocalFileSource(join(tmp.dir, 'nope.safetensors')))).rejects.toBeInstanceOf(NotFoundError);
  });

  test.each([
    ['sdmecha-sd1-ldm/sd1-ldm.safetensors', 'model.diffusion_model.input_blocks.0.0.weight'],
    ['invokeai-lineart/Lineart/diffusion_pytorch_model.fp16.safetensors', undefined],
  ])('reads the header-only corpus file %s', async (rel, key) => {
    const src = new LocalFileSource(join(CORPUS, rel));
    const facts = await readSafetensorsHeader(src);
    expect(facts.tensors.length).toBeGreaterThan(10);
    if (key) expect(facts.tensors.some((t) => t.name === key)).toBe(true);
    expect(facts.missingBytes).toBeGreaterThan(0);
    expect(src.stats.reads).toBeLessThanOrEqual(2);
    await src.close();
  });
});

describe('readSafetensorsHeader refuses hostile headers with a named reason', () => {
  test('file too small for the length prefix', () => expectInvalid(new Uint8Array([1, 2, 3]), /too small/));
  test('header length beyond the sane cap', () => expectInvalid(Buffer.concat([u64le(200n * 1024n * 1024n), Buffer.from('{}')]), /header length in its first 8 bytes is over the 104857600-byte limit/));
  test('huge 64-bit header length', () => expectInvalid(Buffer.concat([u64le(0xffffffffffffffffn), Buffer.from('{}')]), /is over the .*-byte limit/));
  test('header length beyond the file size', () => expectInvalid(rawHeaderBytes('{}', 1000), /beyond the file size/));
  test('invalid UTF-8', () => expectInvalid(rawHeaderBytes(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])), /not valid UTF-8/));
  test('invalid JSON', () => expectInvalid(rawHeaderBytes('{"a": '), /not valid JSON/));
  test('header not an object', () => expectInvalid(rawHeaderBytes('[1,2,3]'), /not a JSON object/));
  test('header is a JSON string', () => expectInvalid(rawHeaderBytes('"abc"'), /not a JSON object/));
  test('entry not an object', () => expectInvalid(withHeader({a: 5}), /tensor "a" is not an object with dtype, shape and data_offsets/));
  test('entry missing data_offsets', () => expectInvalid(withHeader({a: {dtype: 'F32', shape: [1]}}), /not an object with dtype, shape and data_offsets/));
  test('unknown dtype', () => expectInvalid(withHeader({a: {dtype: 'F128', shape: [1], data_offsets: [0, 16]}}, 16), /unknown dtype "F128"/));
  test('negative shape', () => expectInvalid(withHeader({a: {dtype: 'F32', shape: [-1, 2], data_offsets: [0, 8]}}, 8), /invalid shape dimension -1/));
  test('non-integer shape', () => expectInvalid(withHeader({a: {dtype: 'F32', shape: [1.5], data_offsets: [0, 4]}}, 4), /invalid shape dimension 1.5/));
  test('string shape', () => expectInvalid(withHeader({a: {dtype: 'F32', shape: ['2'], data_offsets: [0, 8]}}, 8), /invalid shape dimension "2"/));
  test('shape x dtype does not match offsets', () => expectInvalid(withHeader({a: {dtype: 'F32', shape: [2, 2], data_offsets: [0, 8]}}, 8), /needs 16 bytes but its data_offsets span 8/));
  test('offsets ending before they begin', () => expectInvalid(withHeader({a: {dtype: 'F32', shape: [1], data_offsets: [8, 4]}}, 8), /ending before they begin/));
  test('negative offsets', () => expectInvalid(withHeader({a: {dtype: 'F32', shape: [1], data_offsets: [-4, 0]}}), /invalid data_offsets/));
  test('overlapping offsets', () =>
    expectInvalid(withHeader({a: {dtype: 'F32', shape: [2], data_offsets: [0, 8]}, b: {dtype: 'F32', shape: [2], data_offsets: [4, 12]}}, 12), /overlaps the previous tensor/));
  test('a gap between tensors', () =>
    expectInvalid(withHeader({a: {dtype: 'F32', shape: [1], data_offsets: [0, 4]}, b: {dtype: 'F32', shape: [1], data_offsets: [8, 12]}}, 12), /leaves a gap/));
  test('data not starting at offset 0', () => expectInvalid(withHeader({a: {dtype: 'F32', shape: [1], data_offsets: [4, 8]}}, 8), /leaves a gap .*expected 0/));
  test('out-of-order but contiguous offsets are fine', async () => {
    const bytes = withHeader({b: {dtype: 'F32', shape: [1], data_offsets: [4, 8]}, a: {dtype: 'F32', shape: [1], data_offsets: [0, 4]}}, 8);
    const facts = await readSafetensorsHeader(new BufferSource(bytes, 'x'));
    expect(facts.tensors.map((t) => t.name)).toEqual(['b', 'a']);
  });
  test('__metadata__ with a non-string value', () => expectInvalid(withHeader({__metadata__: {steps: 5}}), /__metadata__ value for "steps" is not a string/));
  test('__metadata__ not an object', () => expectInvalid(withHeader({__metadata__: 'x'}), /__metadata__ is not an object/));
  test('offsets beyond safe integers', () =>
    expectInvalid(withHeader({a: {dtype: 'U8', shape: [1], data_offsets: [0, 2 ** 60]}}), /invalid data_offsets|needs 1 bytes/));
  test('a hostile file written to disk names the file', async () => {
    const path = join(tmp.dir, 'evil.safetensors');
    await writeRaw(path, rawHeaderBytes('{"a": nope}'));
    const err = await readSafetensorsHeader(new LocalFileSource(path)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidModelError);
    expect((err as Error).message).toContain('evil.safetensors');
    expect((err as Error).message).toMatch(/not valid JSON/);
  });
});
