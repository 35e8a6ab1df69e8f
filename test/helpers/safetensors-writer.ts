// Test helper: writes safetensors files from a key/shape list. Data offsets are computed the way the
// format lays them out (contiguous, in the order given). `sparse` extends the file with truncate so a
// multi-GB checkpoint costs only its header on disk; `headerOnly` stops right after the header, like
// the stripped files of the detection corpus; `rawHeader` writes arbitrary header bytes (hostile tests).
import {open, mkdir} from 'node:fs/promises';
import {dirname} from 'node:path';

export interface TensorSpec {
  name: string;
  dtype: string;
  shape: number[];
}

export const DTYPE_BYTES: Record<string, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, F8_E4M3: 1, F8_E5M2: 1, I64: 8, I32: 4, I16: 2, I8: 1,
  U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1,
};

export interface HeaderOptions {
  metadata?: Record<string, string>;
  /** Overrides computed offsets per tensor name (hostile tests). */
  offsets?: Record<string, [number, number]>;
  /** Pads the JSON with spaces to this length (real writers pad to a multiple of 8). */
  padTo?: number;
}

/** Builds the header JSON object and the data size it promises. */
export function buildHeaderObject(tensors: TensorSpec[], opts: HeaderOptions = {}): {header: Record<string, unknown>; dataSize: number} {
  const header: Record<string, unknown> = {};
  if (opts.metadata) header.__metadata__ = opts.metadata;
  let off = 0;
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1) * (DTYPE_BYTES[t.dtype] ?? 1);
    const offsets = opts.offsets?.[t.name] ?? [off, off + n];
    header[t.name] = {dtype: t.dtype, shape: t.shape, data_offsets: offsets};
    off += n;
  }
  return {header, dataSize: off};
}

/** The 8-byte little-endian length followed by the JSON header bytes. */
export function buildHeaderBytes(tensors: TensorSpec[], opts: HeaderOptions = {}): {bytes: Buffer; dataSize: number} {
  const {header, dataSize} = buildHeaderObject(tensors, opts);
  let json = JSON.stringify(header);
  const pad = opts.padTo ?? Math.ceil(Buffer.byteLength(json) / 8) * 8;
  const jsonBytes = Buffer.from(json);
  const body = Buffer.alloc(Math.max(pad, jsonBytes.length), 0x20);
  jsonBytes.copy(body);
  return {bytes: Buffer.concat([u64le(body.length), body]), dataSize};
}

/** A raw header: any bytes, with the length prefix given or computed. */
export function rawHeaderBytes(json: string | Uint8Array, declaredLength?: number | bigint): Buffer {
  const body = typeof json === 'string' ? Buffer.from(json) : Buffer.from(json);
  return Buffer.concat([u64le(declaredLength ?? body.length), body]);
}

export function u64le(n: number | bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

export interface WriteOptions extends HeaderOptions {
  /** Extend to full size with truncate (no data written: a sparse file). */
  sparse?: boolean;
  /** File ends right after the header. */
  headerOnly?: boolean;
  /** Write this many data bytes less than promised (partial download). */
  truncateBy?: number;
}

/** Writes a safetensors file; returns its total size on disk (as seen by stat). */
export async function writeSafetensors(path: string, tensors: TensorSpec[], opts: WriteOptions = {}): Promise<number> {
  const {bytes, dataSize} = buildHeaderBytes(tensors, opts);
  let total = bytes.length;
  if (!opts.headerOnly) total += dataSize - (opts.truncateBy ?? 0);
  await mkdir(dirname(path), {recursive: true});
  const fh = await open(path, 'w');
  try {
    await fh.write(bytes, 0, bytes.length, 0);
    if (!opts.headerOnly && !opts.sparse && dataSize - (opts.truncateBy ?? 0) <= 64 * 1024 * 1024) {
      const data = Buffer.alloc(dataSize - (opts.truncateBy ?? 0));
      if (data.length) await fh.write(data, 0, data.length, bytes.length);
    } else if (total > bytes.length) {
      await fh.truncate(total);
    }
  } finally {
    await fh.close();
  }
  return total;
}

/** Writes raw bytes as a file (hostile headers). */
export async function writeRaw(path: string, bytes: Uint8Array, extendTo?: number): Promise<void> {
  await mkdir(dirname(path), {recursive: true});
  const fh = await open(path, 'w');
  try {
    await fh.write(bytes, 0, bytes.length, 0);
    if (extendTo !== undefined && extendTo > bytes.length) await fh.truncate(extendTo);
  } finally {
    await fh.close();
  }
}

/** A realistic SDXL-like key list (~2500 tensors) for read-budget tests. */
export function sdxlLikeTensors(count = 2500): TensorSpec[] {
  const out: TensorSpec[] = [];
  for (let i = 0; out.length < count; i++) {
    const block = `model.diffusion_model.input_blocks.${i % 12}.1.transformer_blocks.${Math.floor(i / 12)}`;
    out.push({name: `${block}.attn1.to_q.weight`, dtype: 'F16', shape: [1280, 1280]});
    out.push({name: `${block}.attn2.to_k.weight`, dtype: 'F16', shape: [1280, 2048]});
    out.push({name: `${block}.ff.net.0.proj.weight`, dtype: 'F16', shape: [10240, 1280]});
    out.push({name: `${block}.norm1.bias`, dtype: 'F16', shape: [1280]});
  }
  return out.slice(0, count);
}
