// Deterministic fuzzing of the readers and of detect() on what they return: seeded mutations of valid safetensors
// headers, pickles, torch zips and GGUF files, with Object.prototype names (constructor, __proto__, toString) spliced
// in as names, dtypes, keys and globals, long names, and tensor counts past the caps. Every case must end in a
// report or a typed MgenError with exit 6 (or 3): never another exception (exit 1), a crash or a hang.
import {describe, expect, test} from '@jest/globals';
import type {ByteSource, FileFacts} from '../../../src/detect/types.js';
import {readSafetensorsHeader} from '../../../src/detect/readers/safetensors.js';
import {readPickleFile} from '../../../src/detect/readers/pickle.js';
import {readGgufHeader} from '../../../src/detect/readers/gguf.js';
import {readWeightFile} from '../../../src/detect/readers/weight-file.js';
import {BufferSource} from '../../../src/detect/readers/byte-source.js';
import {MgenError} from '../../../src/errors.js';
import {detect} from '../../../src/detect/index.js';
import type {ModelTree} from '../../../src/detect/types.js';
import {MAX_TENSORS} from '../../../src/detect/readers/limits.js';
import {rawHeaderBytes} from '../../helpers/safetensors-writer.js';
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
/** Names that find Object.prototype members when a file's string is used as a plain object key. */
const PROTO_NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__', 'isPrototypeOf', 'prototype'];
const TOKENS = [...PROTO_NAMES, '"', '\\', '\\u0000', '\u001b]0;x\u0007', 'x'.repeat(2000), '{', '[', '"dtype":', '"__metadata__":'].map((t) => Buffer.from(t));

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
      case 5: if (rand() < 0.3) b = b.slice(0, at); else b.splice(at, 0, ...TOKENS[Math.floor(rand() * TOKENS.length)]!); break; // truncate, or splice a token
      default: { // duplicate a region
        const len = Math.floor(rand() * 32);
        b.splice(at, 0, ...b.slice(Math.max(0, at - len), at));
      }
    }
  }
  return Uint8Array.from(b);
}

type Reader = (src: ByteSource) => Promise<FileFacts>;

/** One in-memory file as a ModelTree, so detect() (rules, precision, report) runs on what the readers accept. */
function memoryTree(bytes: Uint8Array, name: string): ModelTree {
  return {
    name, singleFile: true,
    list: async () => [{path: '', size: bytes.length}],
    open: () => new BufferSource(bytes, name),
    readText: async () => Buffer.from(bytes).toString('utf8'),
  };
}

/** A typed error the CLI maps to exit 6 (invalid/unsafe file) or 3 (not found); anything else is a bug. */
function expected(err: unknown): boolean {
  return err instanceof MgenError && (err.exitCode === 6 || err.exitCode === 3);
}

async function fuzz(name: string, seeds: Uint8Array[], reader: Reader, cases: number, seed: number, ext: string): Promise<{ok: number; invalid: number; failures: string[]}> {
  const rand = prng(seed);
  let ok = 0;
  let invalid = 0;
  const failures: string[] = [];
  const fail = (i: number, err: unknown) => {
    if (failures.length < 10) failures.push(`${name} case ${i}: ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`);
  };
  for (let i = 0; i < cases; i++) {
    const input = mutate(seeds[i % seeds.length]!, rand);
    const file = `${name}-${i}${ext}`;
    let accepted = false;
    for (const read of [reader, (src: ByteSource) => readWeightFile(src, file)]) {
      try {
        await read(new BufferSource(input, file));
        ok++;
        accepted = true;
      } catch (err) {
        if (expected(err)) invalid++;
        else fail(i, err);
      }
    }
    if (!accepted) continue;
    try {
      JSON.stringify(await detect(memoryTree(input, file)));
    } catch (err) {
      if (!expected(err)) fail(i, err);
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
      // Prototype names as tensor names, metadata keys and dtypes; a long name; an escape sequence.
      Buffer.concat([rawHeaderBytes(JSON.stringify({
        __metadata__: {constructor: 'c', toString: 't', hasOwnProperty: 'h'},
        constructor: {dtype: 'F16', shape: [2], data_offsets: [0, 4]},
        toString: {dtype: 'constructor', shape: [2], data_offsets: [4, 8]},
        ['x'.repeat(900)]: {dtype: 'F32', shape: [1], data_offsets: [8, 12]},
        'a\u001b]0;t\u0007': {dtype: '__proto__', shape: [1], data_offsets: [12, 14]},
      }).replace('"toString":', '"__proto__":')), Buffer.alloc(16)]),
    ];
    const r = await fuzz('st', seeds, (src) => readSafetensorsHeader(src), 3000, 1, '.safetensors');
    expect(r.failures).toEqual([]);
    expect(r.ok).toBeGreaterThan(0);
    expect(r.invalid).toBeGreaterThan(0);
  }, 60_000);

  test('mutated pickles (plain, protocol 0/2/4, legacy torch)', async () => {
    const sd = stateDict([{name: 'a.weight', dtype: 'F32', shape: [4, 4]}, {name: 'b', dtype: 'F16', shape: [2]}]);
    const mixed: W = {dict: [['name', 'x'], ['n', 2n ** 70n], ['f', 0.25], ['l', {list: [1, 2, {tuple: [null, true]}]}], ['g', {global: ['os', 'system']}], ['sd', sd]]};
    const legacyData: W = {dict: [['w', torchTensor('F16', [3, 3], 0, {legacy: true})]]};
    const proto = (name: string): W => ({reduce: [{global: ['torch._utils', '_rebuild_tensor_v2']}, [
      {persid: {tuple: ['storage', {global: ['torch', name]}, '0', 'cpu', 4]}}, 0, {tuple: [2, 2]}, {tuple: [2, 1]}, false, {reduce: [{global: ['collections', 'OrderedDict']}, []]},
    ]]});
    const hostile: W = {dict: [
      ['constructor', proto('constructor')], ['__proto__', proto('__proto__')], ['toString', proto('toString')],
      ['state_dict', {dict: [['hasOwnProperty', proto('valueOf')]]}], ['x', {reduce: [{global: ['torch.serialization', 'os.system']}, ['id']]}],
      ['global_step', 'constructor'], ['n', {reduce: [{global: ['numpy.core.multiarray', '_reconstruct']}, []]}],
    ]};
    const seeds = [dumpPickle(mixed, 2), dumpPickle(mixed, 4), dumpPickle({dict: [['a', 1], ['b', {list: ['x', 'y']}]]}, 0), torchLegacy(legacyData, ['0']), dumpPickle(hostile, 2), dumpPickle(hostile, 4)];
    const r = await fuzz('pkl', seeds, (src) => readPickleFile(src), 3000, 2, '.ckpt');
    expect(r.failures).toEqual([]);
    expect(r.ok).toBeGreaterThan(0);
    expect(r.invalid).toBeGreaterThan(0);
  }, 60_000);

  test('mutated torch zips (plain and zip64)', async () => {
    const pkl = dumpPickle(stateDict([{name: 'conv.weight', dtype: 'F32', shape: [8, 3, 3, 3]}, {name: 'conv.bias', dtype: 'BF16', shape: [8]}]));
    const many: Array<[string, Uint8Array]> = Array.from({length: 20}, (_, i) => [`archive/x${i}.pkl`, dumpPickle({global: ['torch', PROTO_NAMES[i % PROTO_NAMES.length]!]}, 2)]);
    const seeds = [torchZip(pkl, {storages: 2}), torchZip(pkl, {zip64: true}), torchZip(pkl, {storages: 2, extra: many})];
    const r = await fuzz('zip', seeds, (src) => readPickleFile(src), 2000, 3, '.pt');
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
      buildGgufHeader(
        {'general.architecture': 'constructor', __proto__: {array: 'i32', items: [1, 2]}, constructor: 'x', 'comfy.gguf.orig_shape.toString': {array: 'i32', items: [4]}} as never,
        [{name: 'toString', shape: [4], type: 'F32'}, {name: '__proto__', shape: [4], type: 'F16'}, {name: 'n'.repeat(60), shape: [4], type: 'F32'}],
      ).bytes,
    ];
    const r = await fuzz('gguf', seeds, (src) => readGgufHeader(src), 2000, 4, '.gguf');
    expect(r.failures).toEqual([]);
    expect(r.ok).toBeGreaterThan(0);
    expect(r.invalid).toBeGreaterThan(0);
  }, 60_000);

  test('a header past the tensor cap ends in exit 6 through readWeightFile and detect()', async () => {
    const parts: string[] = [];
    for (let i = 0; i < MAX_TENSORS + 1; i++) parts.push(`"${PROTO_NAMES[i % PROTO_NAMES.length]}${i}":{"dtype":"F16","shape":[1],"data_offsets":[${2 * i},${2 * i + 2}]}`);
    const bytes = Buffer.concat([rawHeaderBytes(`{${parts.join(',')}}`), Buffer.alloc(2 * (MAX_TENSORS + 1))]);
    await expect(detect(memoryTree(bytes, 'many.safetensors'))).rejects.toMatchObject({exitCode: 6});
  }, 60_000);
});
