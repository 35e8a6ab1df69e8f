// Deterministic fuzzing of the readers: seeded mutations of valid safetensors headers, pickles, torch
// zips and GGUF files. Every case must end in a result or an InvalidModelError: never another
// exception, a crash or a hang.
import {describe, expect, test} from '@jest/globals';
import type {ByteSource, FileFacts} from '../../../src/detect/types.js';
import {readSafetensorsHeader} from '../../../src/detect/readers/safetensors.js';
import {readPickleFile} from '../../../src/detect/readers/pickle.js';
import {readGgufHeader} from '../../../src/detect/readers/gguf.js';
import {readWeightFile} from '../../../src/detect/readers/weight-file.js';
import {BufferSource} from '../../../src/detect/readers/byte-source.js';
import {InvalidModelError} from '../../../src/errors.js';
import {buildHeaderBytes} from '../../helpers/safetensors-writer.js';
import {dumpPickle, stateDict, torchLegacy, torchTensor, torchZip, type W} from '../../helpers/pickle-writer.js';
import {buildGgufHeader} from '../../helpers/gguf-writer.js';

/** mulberry32: a small seeded PRNG so every run mutates the same way. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const INTERESTING = [0x00, 0xff, 0x7f, 0x80, 0x01, 0x2e, 0x28, 0x7b, 0x7d, 0x22, 0x5b, 0x5d, 0x2c, 0x3a, 0x30, 0x39];

function mutate(input: Uint8Array, rand: () => number): Uint8Array {
  let b = Array.from(input);
  const n = 1 + Math.floor(rand() * 4);
  for (let i = 0; i < n; i++) {
    const at = Math.floor(rand() * Math.max(1, b.length));
    switch (Math.floor(rand() * 7)) {
      case 0: b[at] = Math.floor(rand() * 256); break; // random byte
      case 1: b[at] = INTERESTING[Math.floor(rand() * INTERESTING.length)]!; break;
      case 2: b[at] = (b[at] ?? 0) ^ (1 << Math.floor(rand() * 8)); break; // bit flip
      case 3: b.splice(at, 1 + Math.floor(rand() * 8)); break; // delete
      case 4: b.splice(at, 0, ...Array.from({length: 1 + Math.floor(rand() * 8)}, () => Math.floor(rand() * 256))); break; // insert
      case 5: b = b.slice(0, at); break; // truncate
      default: { // duplicate a region
        const len = Math.floor(rand() * 32);
        b.splice(at, 0, ...b.slice(Math.max(0, at - len), at));
      }
    }
  }
  return Uint8Array.from(b);
}

type Reader = (src: ByteSource) => Promise<FileFacts>;

async function fuzz(name: string, seeds: Uint8Array[], reader: Reader, cases: number, seed: number): Promise<{ok: number; invalid: number; failures: string[]}> {
  const rand = prng(seed);
  let ok = 0;
  let invalid = 0;
  const failures: string[] = [];
  for (let i = 0; i < cases; i++) {
    const input = mutate(seeds[i % seeds.length]!, rand);
    for (const read of [reader, (src: ByteSource) => readWeightFile(src, `${name}-${i}`)]) {
      try {
        await read(new BufferSource(input, `${name}-${i}`));
        ok++;
      } catch (err) {
        if (err instanceof InvalidModelError) invalid++;
        else if (failures.length < 10) failures.push(`${name} case ${i}: ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`);
      }
    }
  }
  return {ok, invalid, failures};
}

describe('reader fuzzing (seeded, deterministic)', () => {
  test('mutated safetensors headers', async () => {
    const tensors = Array.from({length: 12}, (_, i) => ({name: `block.${i}.weight`, dtype: ['F16', 'F32', 'BF16', 'I8'][i % 4]!, shape: [i + 1, 3]}));
    const seeds = [
      Buffer.concat([buildHeaderBytes(tensors, {metadata: {format: 'pt', 'ss_network_dim': '8'}}).bytes, Buffer.alloc(64)]),
      buildHeaderBytes(tensors.slice(0, 3)).bytes,
    ];
    const r = await fuzz('st', seeds, (src) => readSafetensorsHeader(src), 1200, 1);
    expect(r.failures).toEqual([]);
    expect(r.ok).toBeGreaterThan(0);
    expect(r.invalid).toBeGreaterThan(0);
  }, 60_000);

  test('mutated pickles (plain, protocol 0/2/4, legacy torch)', async () => {
    const sd = stateDict([{name: 'a.weight', dtype: 'F32', shape: [4, 4]}, {name: 'b', dtype: 'F16', shape: [2]}]);
    const mixed: W = {dict: [['name', 'x'], ['n', 2n ** 70n], ['f', 0.25], ['l', {list: [1, 2, {tuple: [null, true]}]}], ['g', {global: ['os', 'system']}], ['sd', sd]]};
    const legacyData: W = {dict: [['w', torchTensor('F16', [3, 3], 0, {legacy: true})]]};
    const seeds = [dumpPickle(mixed, 2), dumpPickle(mixed, 4), dumpPickle({dict: [['a', 1], ['b', {list: ['x', 'y']}]]}, 0), torchLegacy(legacyData, ['0'])];
    const r = await fuzz('pkl', seeds, (src) => readPickleFile(src), 1200, 2);
    expect(r.failures).toEqual([]);
    expect(r.ok).toBeGreaterThan(0);
    expect(r.invalid).toBeGreaterThan(0);
  }, 60_000);

  test('mutated torch zips (plain and zip64)', async () => {
    const pkl = dumpPickle(stateDict([{name: 'conv.weight', dtype: 'F32', shape: [8, 3, 3, 3]}, {name: 'conv.bias', dtype: 'BF16', shape: [8]}]));
    const seeds = [torchZip(pkl, {storages: 2}), torchZip(pkl, {zip64: true})];
    const r = await fuzz('zip', seeds, (src) => readPickleFile(src), 1000, 3);
    expect(r.failures).toEqual([]);
    expect(r.ok).toBeGreaterThan(0);
    expect(r.invalid).toBeGreaterThan(0);
  }, 60_000);

  test('mutated GGUF headers', async () => {
    const seeds = [
      buildGgufHeader(
        {'general.architecture': 'flux', 'general.file_type': {type: 'u32', value: 15}, arr: {array: 'i32', items: [1, 2, 3]}, 'comfy.gguf.orig_shape.w': {array: 'i32', items: [4, 2, 2]}, r: 0.5},
        [{name: 'w', shape: [4, 4], type: 'Q8_0'}, {name: 'b', shape: [4], type: 'F32'}],
      ).bytes,
    ];
    const r = await fuzz('gguf', seeds, (src) => readGgufHeader(src), 1000, 4);
    expect(r.failures).toEqual([]);
    expect(r.ok).toBeGreaterThan(0);
    expect(r.invalid).toBeGreaterThan(0);
  }, 60_000);
});
