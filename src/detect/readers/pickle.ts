// PyTorch pickle checkpoints (.ckpt .pt .pth .bin): the zip format (archive/data.pkl), the legacy
// format (magic number, protocol, sys_info, data pickle) and plain pickles. The pickle is interpreted
// symbolically (pickle-vm.ts): tensors come from torch's rebuild calls, names from the dict keys, and
// every global is recorded and graded. Nothing is ever unpickled or called.
import type {ByteSource, FileFacts, TensorInfo} from '../types.js';
import {InvalidModelError} from '../../errors.js';
import {interpretPickle, PickleTruncatedError, type PValue, type PickleResult} from './pickle-vm.js';
import {securityFindings, storageDtype, torchDtype} from './pickle-security.js';
import {listZip, readZipEntry} from './zip.js';
import {own, record} from '../own.js';
import {MAX_TENSORS} from './limits.js';

/** Pickles (data.pkl, or the pickles of a legacy/plain file) larger than this are refused. */
export const MAX_PICKLE_BYTES = 64 * 1024 * 1024;
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
/** Top-level wrappers that hold the actual state dict, in the order they are tried. */
const WRAPPERS = ['state_dict', 'params_ema', 'params', 'model'];
const MAX_FLATTEN_VISITS = 500_000;
/** Every other pickle in a torch zip is scanned for globals, up to this many bytes and entries in all. */
export const MAX_EXTRA_PICKLE_BYTES = 256 * 1024 * 1024;
export const MAX_EXTRA_PICKLES = 4096;
const MAX_DEPTH = 64;

export interface PickleReadOptions {
  path?: string;
  /** Bytes already read from offset 0. */
  prefix?: Uint8Array;
}

export async function readPickleFile(src: ByteSource, opts: PickleReadOptions = {}): Promise<FileFacts> {
  const name = opts.path ?? src.name;
  const size = await src.size();
  const prefix = opts.prefix ?? (await src.read(0, Math.min(size, 1024 * 1024)));
  const isZip = prefix.length >= 4 && prefix[0] === 0x50 && prefix[1] === 0x4b;
  return isZip ? readTorchZip(src, name, size, prefix) : readPickleStream(src, name, size, prefix);
}

async function readTorchZip(src: ByteSource, name: string, size: number, prefix: Uint8Array): Promise<FileFacts> {
  const {entries, tail} = await listZip(src, name, prefix);
  const pkls = entries.filter((e) => e.name === 'data.pkl' || e.name.endsWith('/data.pkl'));
  pkls.sort((a, b) => a.name.split('/').length - b.name.split('/').length);
  const main = pkls[0];
  if (!main) throw new InvalidModelError(`${name}: zip archive without a data.pkl (not a PyTorch checkpoint)`);
  const cache = prefix.length >= main.localHeaderOffset + 30 ? {at: 0, bytes: prefix} : tail;
  const bytes = await readZipEntry(src, main, MAX_PICKLE_BYTES, name, cache);
  const result = interpretPickle(bytes, `${name}:${main.name}`);
  const facts = toFacts(name, size, result.value, 'pickle');
  const globals = new Set(result.globals);
  // Every other pickle in the archive (TorchScript constants.pkl, ...) is scanned for globals: none is skipped, and an
  // archive with more than the budget allows is refused rather than half-scanned.
  const others = entries.filter((e) => e !== main && e.name.toLowerCase().endsWith('.pkl'));
  if (others.length > MAX_EXTRA_PICKLES) throw new InvalidModelError(`${name}: ${others.length + 1} pickles in one archive is more than the ${MAX_EXTRA_PICKLES + 1} that are scanned; not a plain checkpoint`);
  const budget = others.reduce((s, e) => s + Math.max(e.size, e.compressedSize), 0);
  if (budget > MAX_EXTRA_PICKLE_BYTES) throw new InvalidModelError(`${name}: its other pickles hold ${budget} bytes, more than the ${MAX_EXTRA_PICKLE_BYTES} that are scanned; not a plain checkpoint`);
  for (const other of others) {
    const b = await readZipEntry(src, other, MAX_PICKLE_BYTES, name, tail);
    for (const g of interpretPickle(b, `${name}:${other.name}`).globals) globals.add(g);
  }
  facts.metadata['pickle.container'] = 'torch-zip';
  facts.pickle = {globals: [...globals], findings: securityFindings([...globals], name), legacy: false};
  if (entries.some((e) => e.name.endsWith('/code/') || /\/code\/.*\.py$/.test(e.name))) {
    facts.warnings.push(`${name}: TorchScript archive (contains code); not a plain state dict`);
  }
  return facts;
}

async function readPickleStream(src: ByteSource, name: string, size: number, prefix: Uint8Array): Promise<FileFacts> {
  let buf = prefix;
  const limit = Math.min(size, MAX_PICKLE_BYTES);
  const parseAt = async (offset: number): Promise<PickleResult> => {
    for (;;) {
      try {
        return interpretPickle(buf, name, offset);
      } catch (err) {
        if (!(err instanceof PickleTruncatedError) || buf.length >= limit) {
          if (err instanceof PickleTruncatedError && size > MAX_PICKLE_BYTES) {
            throw new InvalidModelError(`${name}: pickle data is larger than the ${MAX_PICKLE_BYTES}-byte limit`);
          }
          throw err;
        }
        const next = Math.min(limit, Math.max(buf.length * 4, 4 * 1024 * 1024));
        const more = await src.read(buf.length, next - buf.length);
        const grown = new Uint8Array(buf.length + more.length);
        grown.set(buf, 0);
        grown.set(more, buf.length);
        if (more.length === 0) throw err;
        buf = grown;
      }
    }
  };
  const first = await parseAt(0);
  const globals = new Set(first.globals);
  let legacy = false;
  let data = first;
  if (first.value === LEGACY_MAGIC) {
    legacy = true;
    const protocol = await parseAt(first.end);
    const sysInfo = await parseAt(protocol.end);
    data = await parseAt(sysInfo.end);
    for (const r of [protocol, sysInfo, data]) for (const g of r.globals) globals.add(g);
    // The storage-key list follows; scan it too when it is there (a header-only copy may lack it).
    try {
      for (const g of (await parseAt(data.end)).globals) globals.add(g);
    } catch (err) {
      if (!(err instanceof InvalidModelError)) throw err;
    }
  }
  const facts = toFacts(name, size, data.value, 'pickle');
  facts.metadata['pickle.container'] = legacy ? 'torch-legacy' : 'pickle';
  facts.pickle = {globals: [...globals], findings: securityFindings([...globals], name), legacy};
  return facts;
}

function isObj<T extends string>(v: PValue, t: T): v is Extract<PValue, {t: T}> {
  return v !== null && typeof v === 'object' && (v as {t?: string}).t === t;
}

function globalName(v: PValue): string | undefined {
  return isObj(v, 'global') ? `${v.module}.${v.name}` : undefined;
}

function intList(v: PValue): number[] | undefined {
  if (isObj(v, 'call') && globalName(v.fn) === 'torch.Size') return intList(v.args[0] ?? null);
  if (!isObj(v, 'tuple') && !isObj(v, 'list')) return undefined;
  const out: number[] = [];
  for (const x of v.items) {
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 0) return undefined;
    out.push(x);
  }
  return out;
}

const NUMPY_DTYPES: Record<string, string> = {f2: 'F16', f4: 'F32', f8: 'F64', i1: 'I8', i2: 'I16', i4: 'I32', i8: 'I64', u1: 'U8', u2: 'U16', u4: 'U32', u8: 'U64', b1: 'BOOL'};

/** The tensor a value stands for, when it is a torch rebuild call (or a numpy array). */
export function asTensor(v: PValue, depth = 0): {dtype: string; shape: number[]} | undefined {
  if (!isObj(v, 'call') || depth > 8) return undefined;
  const fn = globalName(v.fn);
  if (!fn) return undefined;
  if (fn === 'torch._utils._rebuild_parameter' || fn === 'torch._utils._rebuild_parameter_with_state' || fn === 'torch.nn.parameter.Parameter') {
    return asTensor(v.args[0] ?? null, depth + 1);
  }
  if (fn === 'torch._tensor._rebuild_from_type_v2') {
    const inner = v.args[2];
    if (v.args[0] !== undefined && (isObj(inner ?? null, 'tuple'))) {
      return asTensor({t: 'call', fn: v.args[0], args: (inner as {items: PValue[]}).items, items: [], entries: []}, depth + 1);
    }
    return undefined;
  }
  if (fn.startsWith('torch._utils._rebuild_tensor') || fn === 'torch._utils._rebuild_qtensor') {
    const storage = v.args[0];
    const shape = intList(v.args[2] ?? null);
    if (!shape || !isObj(storage ?? null, 'persid')) return undefined;
    const pid = (storage as {pid: PValue}).pid;
    let dtype = 'unknown';
    if (isObj(pid, 'tuple')) {
      const st = pid.items[1];
      if (isObj(st ?? null, 'global')) dtype = storageDtype((st as {name: string}).name) ?? 'unknown';
    }
    // _rebuild_tensor_v3(storage, offset, size, stride, requires_grad, hooks, dtype, metadata): untyped storage + dtype.
    const dtArg = v.args.find((a, i) => i >= 4 && isObj(a, 'global') && a.module === 'torch' && torchDtype(a.name));
    if (dtArg && isObj(dtArg, 'global')) dtype = torchDtype(dtArg.name)!;
    return {dtype, shape};
  }
  if ((fn === 'numpy.core.multiarray._reconstruct' || fn === 'numpy._core.multiarray._reconstruct') && isObj(v.state ?? null, 'tuple')) {
    const st = (v.state as {items: PValue[]}).items;
    const shape = intList(st[1] ?? null);
    const dt = st[2];
    let dtype = 'unknown';
    if (isObj(dt ?? null, 'call') && typeof (dt as {args: PValue[]}).args[0] === 'string') {
      dtype = own(NUMPY_DTYPES, (dt as {args: PValue[]}).args[0] as string) ?? 'unknown';
    }
    return shape ? {dtype, shape} : undefined;
  }
  return undefined;
}

function keyString(k: PValue): string | undefined {
  if (typeof k === 'string') return k;
  if (typeof k === 'number' || typeof k === 'bigint') return String(k);
  if (typeof k === 'boolean') return k ? 'True' : 'False';
  return undefined;
}

function dictEntries(v: PValue): Array<[PValue, PValue]> | undefined {
  if (isObj(v, 'dict')) return v.entries;
  if (isObj(v, 'call') && v.entries.length > 0) return v.entries;
  if (isObj(v, 'call') && globalName(v.fn) === 'collections.OrderedDict') return v.entries;
  return undefined;
}

/** Collects tensors under `v` with dotted names; bounded in depth and total visits, cycle-safe. */
export function flattenTensors(v: PValue, prefix = ''): {tensors: TensorInfo[]; truncated: boolean} {
  const tensors: TensorInfo[] = [];
  let visits = 0;
  let truncated = false;
  const onPath = new Set<object>();
  const walk = (x: PValue, name: string, depth: number): void => {
    if (++visits > MAX_FLATTEN_VISITS || depth > MAX_DEPTH || tensors.length >= MAX_TENSORS) {
      truncated = true;
      return;
    }
    if (x === null || typeof x !== 'object') return;
    if (onPath.has(x)) return;
    const t = asTensor(x);
    if (t) {
      tensors.push({name: name === '' ? 'tensor' : name, dtype: t.dtype, shape: t.shape});
      return;
    }
    onPath.add(x);
    const sub = (k: string) => (name === '' ? k : `${name}.${k}`);
    const entries = dictEntries(x);
    if (entries) for (const [k, val] of entries) {
      const ks = keyString(k);
      if (ks !== undefined) walk(val, sub(ks), depth + 1);
    }
    if (isObj(x, 'list') || isObj(x, 'tuple')) x.items.forEach((it, i) => walk(it, sub(String(i)), depth + 1));
    if (isObj(x, 'call')) {
      x.items.forEach((it, i) => walk(it, sub(String(i)), depth + 1));
      if (x.state !== undefined) walk(x.state, name, depth + 1);
    }
    onPath.delete(x);
  };
  walk(v, prefix, 0);
  return {tensors, truncated};
}

function scalarString(v: PValue): string | undefined {
  if (typeof v === 'string') return v.length > 4096 ? `${v.slice(0, 4096)}...` : v;
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (v === null) return 'None';
  if ((isObj(v, 'list') || isObj(v, 'tuple')) && v.items.length <= 64) {
    const simple = (x: PValue) => typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean' || x === null;
    if (v.items.every(simple)) return JSON.stringify(v.items);
  }
  return undefined;
}

/** FileFacts of a pickle's root value: wrapper stripped, top-level scalars as metadata. */
export function toFacts(path: string, size: number, root: PValue, format: 'pickle'): FileFacts {
  const metadata = record<string>();
  const warnings: string[] = [];
  const entries = dictEntries(root);
  let tensorRoot: PValue = root;
  if (entries) {
    const keys: string[] = [];
    for (const [k, v] of entries) {
      const ks = keyString(k);
      if (ks === undefined) continue;
      keys.push(ks);
      const s = isObj(v, 'dict') ? undefined : scalarString(v);
      if (s !== undefined) metadata[ks] = s;
    }
    metadata['pickle.top_level_keys'] = keys.slice(0, 50).join(',') + (keys.length > 50 ? ',...' : '');
    for (const w of WRAPPERS) {
      const hit = entries.find(([k]) => k === w);
      if (hit && dictEntries(hit[1]) && flattenTensors(hit[1]).tensors.length > 0) {
        tensorRoot = hit[1];
        metadata['pickle.wrapper'] = w;
        break;
      }
    }
  }
  const {tensors, truncated} = flattenTensors(tensorRoot);
  if (truncated) warnings.push(`${path}: pickle structure too large or too deep; some tensors were not listed`);
  return {path, size, format, tensors, metadata, warnings};
}
