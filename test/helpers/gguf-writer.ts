// Test helper: writes valid GGUF v3 files (key/values + tensor infos, data aligned, sparse on disk).
// Tensor shapes are given in PyTorch order and written reversed (ggml order), as real writers do.
import {mkdir, open} from 'node:fs/promises';
import {dirname} from 'node:path';
import {GGUF_VALUE, ggmlTensorBytes, ggmlTypeId} from '../../src/detect/readers/gguf-types.js';

export type GgufScalarType = 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'bool' | 'string' | 'u64' | 'i64' | 'f64';
export type GgufValue =
  | string | number | boolean | bigint
  | {type: GgufScalarType; value: string | number | boolean | bigint}
  | {array: GgufScalarType; items: Array<string | number | boolean | bigint>};

export interface GgufTensorSpec {
  name: string;
  /** PyTorch order. */
  shape: number[];
  /** ggml type name: F32, F16, BF16, Q8_0, Q4_K, ... */
  type: string;
}

const TYPE_IDS: Record<GgufScalarType, number> = {
  u8: GGUF_VALUE.UINT8, i8: GGUF_VALUE.INT8, u16: GGUF_VALUE.UINT16, i16: GGUF_VALUE.INT16, u32: GGUF_VALUE.UINT32, i32: GGUF_VALUE.INT32,
  f32: GGUF_VALUE.FLOAT32, bool: GGUF_VALUE.BOOL, string: GGUF_VALUE.STRING, u64: GGUF_VALUE.UINT64, i64: GGUF_VALUE.INT64, f64: GGUF_VALUE.FLOAT64,
};

class Out {
  chunks: Buffer[] = [];
  length = 0;
  push(b: Buffer) {
    this.chunks.push(b);
    this.length += b.length;
  }
  u32(n: number) {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    this.push(b);
  }
  u64(n: number | bigint) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(n));
    this.push(b);
  }
  str(s: string) {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.push(b);
  }
  scalar(type: GgufScalarType, v: string | number | boolean | bigint) {
    const b = Buffer.alloc(8);
    switch (type) {
      case 'u8': b.writeUInt8(Number(v)); return this.push(b.subarray(0, 1));
      case 'i8': b.writeInt8(Number(v)); return this.push(b.subarray(0, 1));
      case 'u16': b.writeUInt16LE(Number(v)); return this.push(b.subarray(0, 2));
      case 'i16': b.writeInt16LE(Number(v)); return this.push(b.subarray(0, 2));
      case 'u32': b.writeUInt32LE(Number(v)); return this.push(b.subarray(0, 4));
      case 'i32': b.writeInt32LE(Number(v)); return this.push(b.subarray(0, 4));
      case 'f32': b.writeFloatLE(Number(v)); return this.push(b.subarray(0, 4));
      case 'bool': b.writeUInt8(v ? 1 : 0); return this.push(b.subarray(0, 1));
      case 'string': return this.str(String(v));
      case 'u64': b.writeBigUInt64LE(BigInt(v)); return this.push(b);
      case 'i64': b.writeBigInt64LE(BigInt(v)); return this.push(b);
      case 'f64': b.writeDoubleLE(Number(v)); return this.push(b);
    }
  }
}

function normalize(v: GgufValue): {type: GgufScalarType; value: string | number | boolean | bigint} | {array: GgufScalarType; items: Array<string | number | boolean | bigint>} {
  if (typeof v === 'string') return {type: 'string', value: v};
  if (typeof v === 'boolean') return {type: 'bool', value: v};
  if (typeof v === 'bigint') return {type: 'u64', value: v};
  if (typeof v === 'number') return Number.isInteger(v) ? {type: v < 0 ? 'i32' : 'u32', value: v} : {type: 'f32', value: v};
  return v;
}

export interface GgufBuildOptions {
  version?: number;
  alignment?: number;
}

/** Builds header bytes (through the alignment padding) and the size of the data section. */
export function buildGgufHeader(kvs: Record<string, GgufValue>, tensors: GgufTensorSpec[], opts: GgufBuildOptions = {}): {bytes: Buffer; dataSize: number} {
  const alignment = opts.alignment ?? 32;
  const out = new Out();
  out.push(Buffer.from('GGUF', 'latin1'));
  out.u32(opts.version ?? 3);
  out.u64(tensors.length);
  const allKvs: Record<string, GgufValue> = {...kvs};
  if (opts.alignment !== undefined) allKvs['general.alignment'] = {type: 'u32', value: alignment};
  out.u64(Object.keys(allKvs).length);
  for (const [k, raw] of Object.entries(allKvs)) {
    out.str(k);
    const v = normalize(raw);
    if ('array' in v) {
      out.u32(GGUF_VALUE.ARRAY);
      out.u32(TYPE_IDS[v.array]);
      out.u64(v.items.length);
      for (const it of v.items) out.scalar(v.array, it);
    } else {
      out.u32(TYPE_IDS[v.type]);
      out.scalar(v.type, v.value);
    }
  }
  let offset = 0;
  for (const t of tensors) {
    const id = ggmlTypeId(t.type);
    if (id === undefined) throw new Error(`unknown ggml type ${t.type}`);
    out.str(t.name);
    out.u32(t.shape.length);
    for (const d of [...t.shape].reverse()) out.u64(d);
    out.u32(id);
    out.u64(offset);
    const elements = t.shape.reduce((a, b) => a * b, 1);
    offset += Math.ceil(ggmlTensorBytes(id, elements)! / alignment) * alignment;
  }
  const pad = (alignment - (out.length % alignment)) % alignment;
  out.push(Buffer.alloc(pad));
  return {bytes: Buffer.concat(out.chunks), dataSize: offset};
}

/** Writes a GGUF file; the data section is sparse (truncate) unless headerOnly. Returns the file size. */
export async function writeGguf(path: string, kvs: Record<string, GgufValue>, tensors: GgufTensorSpec[], opts: GgufBuildOptions & {headerOnly?: boolean} = {}): Promise<number> {
  const {bytes, dataSize} = buildGgufHeader(kvs, tensors, opts);
  await mkdir(dirname(path), {recursive: true});
  const fh = await open(path, 'w');
  try {
    await fh.write(bytes, 0, bytes.length, 0);
    if (!opts.headerOnly && dataSize > 0) await fh.truncate(bytes.length + dataSize);
  } finally {
    await fh.close();
  }
  return opts.headerOnly ? bytes.length : bytes.length + dataSize;
}
