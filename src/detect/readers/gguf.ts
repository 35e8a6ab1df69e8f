// GGUF header reader over a ByteSource: magic, version (2/3), key/values (typed, arrays summarized),
// tensor infos with dimensions reversed from ggml order into PyTorch order, ggml types as GGUF_<type>
// dtypes, and ComfyUI-GGUF's `comfy.gguf.orig_shape.<tensor>` honoured when present.
import type {ByteSource, FileFacts, TensorInfo} from '../types.js';
import {InvalidModelError} from '../../errors.js';
import {GGML_TYPES, GGUF_VALUE, ggmlTensorBytes} from './gguf-types.js';
import {own, record} from '../own.js';
import {MAX_TENSOR_NAME_BYTES, MAX_TENSORS} from './limits.js';

export const MAX_GGUF_HEADER_BYTES = 256 * 1024 * 1024;
const MAX_COUNT = 10_000_000;
const MAX_STRING = 64 * 1024 * 1024;
const ORIG_SHAPE = 'comfy.gguf.orig_shape.';

class Truncated extends Error {}

export interface GgufHeader {
  version: number;
  metadata: Record<string, string>;
  tensors: TensorInfo[];
  /** Raw small integer arrays (orig_shape etc.). */
  intArrays: Record<string, number[]>;
  alignment: number;
  dataOffset: number;
  /** End of the tensor data the header describes (relative to file start), when all types are known. */
  dataEnd?: number;
}

/** Parses a GGUF header from bytes starting at file offset 0; throws Truncated when more bytes are needed. */
function parseGgufHeader(buf: Uint8Array, name: string): GgufHeader {
  const fail = (reason: string): never => {
    throw new InvalidModelError(`${name}: invalid GGUF file: ${reason}`);
  };
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const utf8 = new TextDecoder('utf-8');
  let pos = 0;
  const need = (n: number) => {
    if (pos + n > buf.length) throw new Truncated();
  };
  const u32 = () => (need(4), (pos += 4), dv.getUint32(pos - 4, true));
  const u64 = (what: string) => {
    need(8);
    const v = dv.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`${what} ${v} is too large`);
    return Number(v);
  };
  const str = (what: string, max = MAX_STRING) => {
    const n = u64(`${what} length`);
    if (n > max) fail(`${what} length ${n} is too large`);
    need(n);
    pos += n;
    return utf8.decode(buf.subarray(pos - n, pos));
  };
  const scalar = (type: number): string | number | bigint | boolean => {
    switch (type) {
      case GGUF_VALUE.UINT8: need(1); return dv.getUint8(pos++);
      case GGUF_VALUE.INT8: need(1); return dv.getInt8(pos++);
      case GGUF_VALUE.UINT16: need(2); pos += 2; return dv.getUint16(pos - 2, true);
      case GGUF_VALUE.INT16: need(2); pos += 2; return dv.getInt16(pos - 2, true);
      case GGUF_VALUE.UINT32: return u32();
      case GGUF_VALUE.INT32: need(4); pos += 4; return dv.getInt32(pos - 4, true);
      case GGUF_VALUE.FLOAT32: need(4); pos += 4; return dv.getFloat32(pos - 4, true);
      case GGUF_VALUE.BOOL: need(1); return dv.getUint8(pos++) !== 0;
      case GGUF_VALUE.STRING: return str('string');
      case GGUF_VALUE.UINT64: { need(8); pos += 8; const v = dv.getBigUint64(pos - 8, true); return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v; }
      case GGUF_VALUE.INT64: { need(8); pos += 8; const v = dv.getBigInt64(pos - 8, true); return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v; }
      case GGUF_VALUE.FLOAT64: need(8); pos += 8; return dv.getFloat64(pos - 8, true);
      default: return fail(`unknown metadata value type ${type}`);
    }
  };
  need(8);
  if (dv.getUint32(0, false) !== 0x47475546) fail('bad magic (expected "GGUF")');
  pos = 4;
  const version = u32();
  if (version !== 2 && version !== 3) fail(`unsupported version ${version} (only 2 and 3 are read)`);
  const tensorCount = u64('tensor count');
  const kvCount = u64('metadata count');
  if (tensorCount > MAX_TENSORS) fail(`tensor count ${tensorCount} is more than the ${MAX_TENSORS} limit`);
  if (kvCount > MAX_COUNT) fail(`metadata count ${kvCount} is too large`);
  const metadata = record<string>();
  const intArrays = record<number[]>();
  let alignment = 32;
  for (let i = 0; i < kvCount; i++) {
    const key = str('key');
    const type = u32();
    if (type === GGUF_VALUE.ARRAY) {
      const itemType = u32();
      if (itemType === GGUF_VALUE.ARRAY) fail(`metadata "${key.slice(0, 80)}" is a nested array`);
      const count = u64('array length');
      if (count > buf.length * 8 + 1024 && count > MAX_COUNT) fail(`metadata "${key.slice(0, 80)}" array length ${count} is too large`);
      const keep: Array<string | number | bigint | boolean> = [];
      for (let j = 0; j < count; j++) {
        const v = scalar(itemType);
        if (j < 64) keep.push(v);
      }
      if (count <= 16) metadata[key] = JSON.stringify(keep, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
      else metadata[key] = `[array of ${count} ${typeName(itemType)}]`;
      if (count <= 64 && keep.every((v) => typeof v === 'number' && Number.isInteger(v))) intArrays[key] = keep as number[];
    } else {
      const v = scalar(type);
      metadata[key] = typeof v === 'string' && v.length > 4096 ? `${v.slice(0, 4096)}...` : String(v);
      if (key === 'general.alignment') {
        if (typeof v !== 'number' || v <= 0 || v > 1 << 20 || (v & (v - 1)) !== 0) fail(`general.alignment ${String(v)} is not a power of two`);
        alignment = v as number;
      }
    }
  }
  const tensors: TensorInfo[] = [];
  let dataEnd: number | undefined = 0;
  const seen = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const tname = str('tensor name', MAX_TENSOR_NAME_BYTES);
    const nDims = u32();
    if (nDims > 8) fail(`tensor "${tname.slice(0, 80)}" has ${nDims} dimensions`);
    const dims: number[] = [];
    let elements = 1;
    for (let d = 0; d < nDims; d++) {
      const n = u64(`tensor "${tname.slice(0, 80)}" dimension`);
      dims.push(n);
      elements *= n;
    }
    if (!Number.isSafeInteger(elements)) fail(`tensor "${tname.slice(0, 80)}" has too many elements`);
    const type = u32();
    const offset = u64(`tensor "${tname.slice(0, 80)}" offset`);
    const t = own(GGML_TYPES as Record<string, [string, number, number]>, type);
    if (offset % alignment !== 0) fail(`tensor "${tname.slice(0, 80)}" offset ${offset} is not aligned to ${alignment}`);
    if (seen.has(tname)) fail(`duplicate tensor name "${tname.slice(0, 80)}"`);
    seen.add(tname);
    const bytes = ggmlTensorBytes(type, elements);
    if (bytes === undefined || dataEnd === undefined) dataEnd = undefined;
    else dataEnd = Math.max(dataEnd, offset + bytes);
    tensors.push({name: tname, dtype: `GGUF_${t ? t[0] : `TYPE${type}`}`, shape: dims.reverse()});
  }
  const dataOffset = Math.ceil(pos / alignment) * alignment;
  return {version, metadata, tensors, intArrays, alignment, dataOffset, dataEnd: dataEnd === undefined ? undefined : dataOffset + dataEnd};
}

function typeName(t: number): string {
  return Object.entries(GGUF_VALUE).find(([, v]) => v === t)?.[0].toLowerCase() ?? `type${t}`;
}

export interface GgufReadOptions {
  path?: string;
  prefix?: Uint8Array;
}

/** Reads a GGUF file's header: a first read, then growing reads only for headers longer than it. */
export async function readGgufHeader(src: ByteSource, opts: GgufReadOptions = {}): Promise<FileFacts> {
  const name = opts.path ?? src.name;
  const size = await src.size();
  let buf = opts.prefix ?? (await src.read(0, Math.min(size, 1024 * 1024)));
  const limit = Math.min(size, MAX_GGUF_HEADER_BYTES);
  let header: GgufHeader;
  for (;;) {
    try {
      header = parseGgufHeader(buf, name);
      break;
    } catch (err) {
      if (!(err instanceof Truncated)) throw err;
      if (buf.length >= limit) {
        throw new InvalidModelError(`${name}: invalid GGUF file: ${size > MAX_GGUF_HEADER_BYTES ? 'header larger than the limit' : 'file ends inside the header'}`);
      }
      const next = Math.min(limit, Math.max(buf.length * 4, 4 * 1024 * 1024));
      const more = await src.read(buf.length, next - buf.length);
      if (more.length === 0) throw new InvalidModelError(`${name}: invalid GGUF file: file ends inside the header`);
      const grown = new Uint8Array(buf.length + more.length);
      grown.set(buf, 0);
      grown.set(more, buf.length);
      buf = grown;
    }
  }
  const warnings: string[] = [];
  for (const t of header.tensors) {
    const orig = own(header.intArrays, ORIG_SHAPE + t.name);
    if (orig && orig.every((d) => d >= 0)) {
      const a = orig.reduce((x, y) => x * y, 1);
      const b = t.shape.reduce((x, y) => x * y, 1);
      if (a === b) t.shape = [...orig];
      else warnings.push(`${name}: ${ORIG_SHAPE}${t.name} [${orig.join(', ')}] does not match the tensor's ${b} elements; ignored`);
    }
  }
  const metadata = Object.assign(record<string>(), header.metadata, {'gguf.version': String(header.version)});
  const facts: FileFacts = {path: name, size, format: 'gguf', tensors: header.tensors, metadata, warnings};
  if (header.dataEnd !== undefined && header.tensors.length > 0 && size < header.dataEnd) {
    facts.missingBytes = header.dataEnd - size;
    warnings.push(`${name}: tensor data is ${facts.missingBytes} bytes shorter than the header promises (partial download or header-only copy)`);
  }
  return facts;
}
