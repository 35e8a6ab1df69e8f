// safetensors header reader: 8-byte little-endian header length, a JSON header, then the data.
// Reads at most twice (a first read sized to hold most headers, then the rest if the header is longer)
// and validates everything a hostile or damaged file can get wrong, each with a named reason.
import {existsSync} from 'node:fs';
import {fileURLToPath} from 'node:url';
import type {ByteSource, FileFacts, TensorInfo} from '../types.js';
import {InvalidModelError} from '../../errors.js';
import {own, record} from '../own.js';
import {MAX_HEADER_DEPTH, MAX_HEADER_VALUES, MAX_METADATA_ENTRIES, MAX_METADATA_VALUE_CHARS, MAX_TENSOR_NAME_BYTES, MAX_TENSORS} from './limits.js';

/** Bytes per element for the dtypes safetensors defines (sub-byte types as fractions). */
export const SAFETENSORS_DTYPE_BITS: Record<string, number> = {
  F64: 64, F32: 32, F16: 16, BF16: 16,
  F8_E4M3: 8, F8_E5M2: 8, F8_E4M3FNUZ: 8, F8_E5M2FNUZ: 8, F8_E8M0: 8,
  F6_E2M3: 6, F6_E3M2: 6, F4: 4,
  I64: 64, I32: 32, I16: 16, I8: 8, U64: 64, U32: 32, U16: 16, U8: 8, BOOL: 8,
  C64: 64,
};

/** The first read: enough for nearly every header (SDXL all-in-one headers are a few hundred KB). */
export const FIRST_READ_BYTES = 1024 * 1024;
/** Headers longer than this are refused (the reference implementation uses the same order of magnitude). */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/** Headers longer than this are parsed in a worker thread (real headers are a few hundred KB). */
export const OFF_THREAD_HEADER_BYTES = 4 * 1024 * 1024;

export interface SafetensorsReadOptions {
  /** Path to report in FileFacts (defaults to the source name). */
  path?: string;
  /** Bytes already read from offset 0 (e.g. by format sniffing); saves the first read when long enough. */
  prefix?: Uint8Array;
  /** Treat a data section shorter than the header promises as an error instead of a warning. */
  strict?: boolean;
  /** Headers longer than this many bytes are parsed in a worker thread (default OFF_THREAD_HEADER_BYTES). */
  offThreadBytes?: number;
}

export async function readSafetensorsHeader(src: ByteSource, opts: SafetensorsReadOptions = {}): Promise<FileFacts> {
  const name = opts.path ?? src.name;
  const fail: Fail = failFor(name);
  const size = await src.size();
  if (size < 8) fail(`file is ${size} bytes, too small to hold the 8-byte header length`);
  let first = opts.prefix && opts.prefix.length >= Math.min(size, 8) ? opts.prefix : undefined;
  if (!first || first.length < 8) first = await src.read(0, Math.min(size, FIRST_READ_BYTES));
  if (first.length < 8) fail('could not read the 8-byte header length');
  const view = new DataView(first.buffer, first.byteOffset, first.byteLength);
  const n64 = view.getBigUint64(0, true);
  // The length itself is not printed: for a file that is not safetensors it is 8 bytes of its content.
  if (n64 > BigInt(MAX_HEADER_BYTES)) fail(`the header length in its first 8 bytes is over the ${MAX_HEADER_BYTES}-byte limit (not a safetensors file?)`);
  const n = Number(n64);
  if (n < 2) fail(`header length ${n} is too small for a JSON object`);
  if (8 + n > size) fail(`the header length in its first 8 bytes goes beyond the file size (${size} bytes): truncated, or not a safetensors file`);
  let headerBytes: Uint8Array;
  const offThread = n > (opts.offThreadBytes ?? OFF_THREAD_HEADER_BYTES);
  let ours = false;
  if (first.length >= 8 + n) {
    headerBytes = first.subarray(8, 8 + n);
  } else if (offThread) {
    // One read into a buffer of its own, handed to the worker without a copy on this thread.
    headerBytes = await src.read(8, n);
    if (headerBytes.length !== n) fail('file ended while reading the header');
    ours = true;
  } else {
    const rest = await src.read(first.length, 8 + n - first.length);
    if (rest.length !== 8 + n - first.length) fail('file ended while reading the header');
    headerBytes = new Uint8Array(n);
    headerBytes.set(first.subarray(8), 0);
    headerBytes.set(rest, first.length - 8);
  }
  if (offThread) {
    const off = await parseOffThread(headerBytes, size, {path: name, strict: opts.strict}, ours);
    if (off) return off;
  }
  return parseSafetensorsHeader(headerBytes, size, {...opts, path: name});
}

const WORKER_URL = new URL('./safetensors-worker.js', import.meta.url);
/** How many headers were parsed in a worker thread (tests, MGEN_STATS). */
export const offThreadStats = {parses: 0};

/**
 * Runs parseSafetensorsHeader in a worker thread; undefined when the compiled worker is not there (tests run the
 * TypeScript sources), and the caller parses in place.
 */
async function parseOffThread(bytes: Uint8Array, fileSize: number, opts: {path: string; strict?: boolean}, ours: boolean): Promise<FileFacts | undefined> {
  if (WORKER_URL.protocol !== 'file:' || !existsSync(fileURLToPath(WORKER_URL))) return undefined;
  // The bytes are moved, not copied, into the worker when they fill a buffer of their own that nobody else holds.
  offThreadStats.parses++;
  // worker_threads is loaded only for such a header, not on every `mgen inspect` start.
  const {Worker} = await import('node:worker_threads');
  const whole = ours && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer;
  const own = whole ? bytes : Uint8Array.from(bytes);
  const reply = await new Promise<{ok: boolean; facts?: PackedFacts; invalid?: boolean; message?: string}>((resolve, reject) => {
    const worker = new Worker(WORKER_URL, {workerData: {bytes: own, fileSize, ...opts}, transferList: [own.buffer as ArrayBuffer]});
    worker.once('message', (m) => {
      resolve(m as {ok: boolean});
      void worker.terminate();
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`safetensors header worker exited with code ${code}`)));
  });
  if (!reply.ok) {
    if (reply.invalid) throw new InvalidModelError(reply.message ?? `${opts.path}: invalid safetensors file`);
    throw new Error(reply.message);
  }
  return unpackFacts(reply.facts!);
}

/** FileFacts with the tensor list in a few flat buffers: cloning 100k small objects would block the receiver. */
export interface PackedFacts extends Omit<FileFacts, 'tensors'> {
  /** Every name, concatenated; nameEnds are string (UTF-16) offsets, so names come back as cheap slices. */
  names: string;
  nameEnds: Uint32Array;
  dtypes: string[];
  dtypeIndex: Uint16Array;
  ranks: Uint8Array;
  dims: Float64Array;
}

export function packFacts(facts: FileFacts): {packed: PackedFacts; transfer: ArrayBuffer[]} {
  const {tensors, ...rest} = facts;
  const names = tensors.map((t) => t.name).join('');
  const nameEnds = new Uint32Array(tensors.length);
  const dtypes: string[] = [];
  const dtypeIndex = new Uint16Array(tensors.length);
  const ranks = new Uint8Array(tensors.length);
  const dims = new Float64Array(tensors.reduce((s, t) => s + t.shape.length, 0));
  let at = 0;
  let d = 0;
  tensors.forEach((t, i) => {
    at += t.name.length;
    nameEnds[i] = at;
    let k = dtypes.indexOf(t.dtype);
    if (k < 0) k = dtypes.push(t.dtype) - 1;
    dtypeIndex[i] = k;
    ranks[i] = t.shape.length;
    for (const x of t.shape) dims[d++] = x;
  });
  const packed: PackedFacts = {...rest, metadata: {...rest.metadata}, names, nameEnds, dtypes, dtypeIndex, ranks, dims};
  return {packed, transfer: [nameEnds.buffer, dtypeIndex.buffer, ranks.buffer, dims.buffer] as ArrayBuffer[]};
}

export function unpackFacts(p: PackedFacts): FileFacts {
  const {names, nameEnds, dtypes, dtypeIndex, ranks, dims, ...rest} = p;
  const tensors: TensorInfo[] = new Array(nameEnds.length);
  let start = 0;
  let d = 0;
  for (let i = 0; i < nameEnds.length; i++) {
    const shape = Array.from(dims.subarray(d, d + ranks[i]!));
    d += ranks[i]!;
    tensors[i] = {name: names.slice(start, nameEnds[i]!), dtype: dtypes[dtypeIndex[i]!]!, shape};
    start = nameEnds[i]!;
  }
  // Structured cloning gives plain objects back: keys from the file go into a prototype-free record again.
  return {...rest, metadata: Object.assign(record<string>(), rest.metadata), tensors};
}

/** Validates and interprets header bytes (without the length prefix) of a file of `fileSize` bytes. */
export function parseSafetensorsHeader(headerBytes: Uint8Array, fileSize: number, opts: {path: string; strict?: boolean}): FileFacts {
  const name = opts.path;
  const fail: Fail = failFor(name);
  // Counted on the bytes before anything is decoded or parsed, so a hostile header is refused in milliseconds.
  const shape = scanHeaderShape(headerBytes);
  if (shape.problem) fail(shape.problem);
  let text = '';
  try {
    text = new TextDecoder('utf-8', {fatal: true}).decode(headerBytes);
  } catch {
    fail('header is not valid UTF-8');
  }
  if (!text.trimStart().startsWith('{')) fail('header is not a JSON object');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    fail(`header is not valid JSON (${(err as Error).message.split('\n')[0]})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) fail('header is not a JSON object');
  const header = parsed as Record<string, unknown>;
  const metadata = record<string>();
  const tensors: TensorInfo[] = [];
  const spans: Array<{name: string; begin: number; end: number}> = [];
  for (const [key, value] of Object.entries(header)) {
    if (key === '__metadata__') {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) fail('__metadata__ is not an object of strings');
      const entries = Object.entries(value as Record<string, unknown>);
      if (entries.length > MAX_METADATA_ENTRIES) fail(`__metadata__ has more than ${MAX_METADATA_ENTRIES} entries`);
      for (const [mk, mv] of entries) {
        if (typeof mv !== 'string') fail(`__metadata__ value for "${clip(mk)}" is not a string`);
        metadata[mk] = mv.length > MAX_METADATA_VALUE_CHARS ? `${mv.slice(0, MAX_METADATA_VALUE_CHARS)}...` : mv;
      }
      continue;
    }
    if (tensors.length >= MAX_TENSORS) fail(`more than ${MAX_TENSORS} tensors`);
    const where = `tensor "${clip(key)}"`;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(`${where} is not an object with dtype, shape and data_offsets`);
    const entry = value as Record<string, unknown>;
    const {dtype, shape, data_offsets: offsets} = entry;
    if (typeof dtype !== 'string' || !Array.isArray(shape) || !Array.isArray(offsets)) {
      fail(`${where} is not an object with dtype, shape and data_offsets`);
    }
    const bits = own(SAFETENSORS_DTYPE_BITS, dtype as string);
    if (bits === undefined) fail(`${where} has unknown dtype "${clip(String(dtype))}"`);
    const dims = shape as unknown[];
    if (dims.length > 64) fail(`${where} has ${dims.length} dimensions`);
    let elements = 1n;
    for (const d of dims) {
      if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) fail(`${where} has an invalid shape dimension ${clip(JSON.stringify(d) ?? String(d))} (dimensions must be non-negative integers)`);
      elements *= BigInt(d as number);
    }
    const offs = offsets as unknown[];
    if (offs.length !== 2 || !offs.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0)) {
      fail(`${where} has invalid data_offsets (need two non-negative integers)`);
    }
    const [begin, end] = offs as [number, number];
    if (end < begin) fail(`${where} has data_offsets ending before they begin (${begin} > ${end})`);
    const bytesNeeded = (elements * BigInt(bits) + 7n) / 8n;
    if (bytesNeeded !== BigInt(end - begin)) {
      fail(`${where} shape [${(dims as number[]).join(', ')}] x ${dtype} needs ${bytesNeeded} bytes but its data_offsets span ${end - begin}`);
    }
    tensors.push({name: key, dtype: dtype as string, shape: dims as number[]});
    spans.push({name: key, begin, end});
  }
  // The data section must be covered exactly: sorted by begin, each tensor starts where the previous ended.
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const s of spans) {
    if (s.begin < cursor) fail(`tensor "${clip(s.name)}" overlaps the previous tensor (data_offsets begin ${s.begin} < ${cursor})`);
    if (s.begin > cursor) fail(`tensor "${clip(s.name)}" leaves a gap in the data section (begins at ${s.begin}, expected ${cursor})`);
    cursor = s.end;
  }
  const dataStart = 8 + headerBytes.length;
  const expected = dataStart + cursor;
  const warnings: string[] = [];
  const facts: FileFacts = {path: name, size: fileSize, format: 'safetensors', tensors, metadata, warnings};
  if (fileSize < expected) {
    const missing = expected - fileSize;
    if (opts.strict) fail(`data_offsets go past the end of the file (${missing} bytes missing)`);
    facts.missingBytes = missing;
    warnings.push(`${name}: data section is ${missing} bytes shorter than the header promises (partial download or header-only copy)`);
  } else if (fileSize > expected) {
    warnings.push(`${name}: ${fileSize - expected} unexpected bytes after the data section`);
  }
  return facts;
}

type Fail = (reason: string) => never;
function failFor(name: string): Fail {
  return (reason: string): never => {
    throw new InvalidModelError(`${name}: invalid safetensors file: ${reason}`);
  };
}

function clip(s: string, max = 80): string {
  return s.length > max ? `${s.slice(0, max)}...` : s;
}

/**
 * One pass over the header bytes without parsing: counts top-level members (tensors), measures their names, counts
 * values and nesting, and stops at the first limit passed. Jumps string to string with indexOf, so even a 100 MB
 * header costs milliseconds; malformed JSON is left for JSON.parse to name.
 */
export function scanHeaderShape(b: Uint8Array): {members: number; problem?: string} {
  let depth = 0;
  let members = 0;
  let values = 0;
  let expectKey = false;
  let i = 0;
  const n = b.length;
  while (i < n) {
    const c = b[i]!;
    if (c === 0x22 /* " */) {
      // Find the closing quote: one not preceded by an odd run of backslashes.
      let j = i + 1;
      for (;;) {
        j = b.indexOf(0x22, j);
        if (j < 0) return {members};
        let k = j - 1;
        while (k > i && b[k] === 0x5c) k--;
        if ((j - 1 - k) % 2 === 0) break;
        j++;
      }
      if (depth === 1 && expectKey) {
        members++;
        if (members > MAX_TENSORS + 1) return {members, problem: `more than ${MAX_TENSORS} tensors`};
        if (j - i - 1 > MAX_TENSOR_NAME_BYTES) return {members, problem: `a tensor name of ${j - i - 1} bytes (more than ${MAX_TENSOR_NAME_BYTES})`};
        expectKey = false;
      }
      i = j + 1;
      continue;
    }
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      depth++;
      if (depth > MAX_HEADER_DEPTH) return {members, problem: `nested more than ${MAX_HEADER_DEPTH} levels deep`};
      if (depth === 1) expectKey = true;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth--;
    } else if (c === 0x2c /* , */) {
      if (++values > MAX_HEADER_VALUES) return {members, problem: `more than ${MAX_HEADER_VALUES} values`};
      if (depth === 1) expectKey = true;
    }
    i++;
  }
  return {members};
}
