// Zip listing over a ByteSource: the end-of-central-directory record (zip64 too), the central
// directory, then single entries read by range. Never loads the whole archive. PyTorch's zip
// checkpoints store entries uncompressed; deflate is supported for small entries.
import type {ByteSource} from '../types.js';
import {InvalidModelError} from '../../errors.js';

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const EOCD_SIG = 0x06054b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CD_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
export const MAX_CENTRAL_DIRECTORY_BYTES = 64 * 1024 * 1024;
export const MAX_ZIP_ENTRIES = 1_000_000;

function fail(name: string, reason: string): never {
  throw new InvalidModelError(`${name}: invalid zip archive: ${reason}`);
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function u64(v: DataView, at: number, name: string): number {
  const n = v.getBigUint64(at, true);
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) fail(name, 'a 64-bit size or offset is too large');
  return Number(n);
}

/** Reads `length` bytes at `offset`, from `cache` (bytes from offset `cacheAt`) when it covers the range. */
async function readRange(src: ByteSource, offset: number, length: number, cache?: {at: number; bytes: Uint8Array}): Promise<Uint8Array> {
  if (cache && offset >= cache.at && offset + length <= cache.at + cache.bytes.length) {
    return cache.bytes.subarray(offset - cache.at, offset - cache.at + length);
  }
  return src.read(offset, length);
}

export interface ZipListing {
  entries: ZipEntry[];
  /** Bytes near the end of the archive, kept to save reads. */
  tail: {at: number; bytes: Uint8Array};
}

/** Lists a zip archive: reads its tail (EOCD, zip64 records) and central directory. */
export async function listZip(src: ByteSource, name = src.name, prefix?: Uint8Array): Promise<ZipListing> {
  const size = await src.size();
  if (size < 22) fail(name, 'file too small for an end-of-central-directory record');
  const tailLen = Math.min(size, 22 + 0xffff + 20 + 56);
  const tailAt = size - tailLen;
  const tail = prefix && prefix.length >= size ? prefix.subarray(tailAt, size) : await src.read(tailAt, tailLen);
  if (tail.length !== tailLen) fail(name, 'short read at the end of the file');
  const tv = view(tail);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tv.getUint32(i, true) === EOCD_SIG && i + 22 + tv.getUint16(i + 20, true) <= tail.length) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) fail(name, 'no end-of-central-directory record');
  let count = tv.getUint16(eocd + 10, true);
  let cdSize = tv.getUint32(eocd + 12, true);
  let cdOffset = tv.getUint32(eocd + 16, true);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || tv.getUint32(loc, true) !== ZIP64_LOCATOR_SIG) fail(name, 'zip64 fields without a zip64 locator');
    const z64At = u64(tv, loc + 8, name);
    if (z64At + 56 > size) fail(name, 'zip64 end record beyond the end of the file');
    const rec = await readRange(src, z64At, 56, {at: tailAt, bytes: tail});
    if (rec.length < 56) fail(name, 'short zip64 end record');
    const rv = view(rec);
    if (rv.getUint32(0, true) !== ZIP64_EOCD_SIG) fail(name, 'bad zip64 end record signature');
    count = u64(rv, 32, name);
    cdSize = u64(rv, 40, name);
    cdOffset = u64(rv, 48, name);
  }
  if (count > MAX_ZIP_ENTRIES) fail(name, `${count} entries is more than the ${MAX_ZIP_ENTRIES} limit`);
  if (cdSize > MAX_CENTRAL_DIRECTORY_BYTES) fail(name, `central directory of ${cdSize} bytes is too large`);
  if (cdOffset + cdSize > size) fail(name, 'central directory goes beyond the end of the file');
  const cd = await readRange(src, cdOffset, cdSize, {at: tailAt, bytes: tail});
  if (cd.length !== cdSize) fail(name, 'short read of the central directory');
  const cv = view(cd);
  const entries: ZipEntry[] = [];
  const decoder = new TextDecoder('utf-8');
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cd.length || cv.getUint32(p, true) !== CD_SIG) fail(name, `central directory entry ${i} is damaged`);
    const method = cv.getUint16(p + 10, true);
    let compressedSize = cv.getUint32(p + 20, true);
    let uncompressed = cv.getUint32(p + 24, true);
    const nameLen = cv.getUint16(p + 28, true);
    const extraLen = cv.getUint16(p + 30, true);
    const commentLen = cv.getUint16(p + 32, true);
    let localHeaderOffset = cv.getUint32(p + 42, true);
    const end = p + 46 + nameLen + extraLen + commentLen;
    if (end > cd.length) fail(name, `central directory entry ${i} runs past the directory`);
    const entryName = decoder.decode(cd.subarray(p + 46, p + 46 + nameLen));
    // zip64 extended information: only the fields that are saturated, in this order.
    let e = p + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = cv.getUint16(e, true);
      const len = cv.getUint16(e + 2, true);
      if (e + 4 + len > extraEnd) break;
      if (id === 0x0001) {
        let q = e + 4;
        const take = (): number => {
          if (q + 8 > e + 4 + len) fail(name, `entry "${entryName.slice(0, 80)}" has a short zip64 extra field`);
          const v = u64(cv, q, name);
          q += 8;
          return v;
        };
        if (uncompressed === 0xffffffff) uncompressed = take();
        if (compressedSize === 0xffffffff) compressedSize = take();
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = take();
      }
      e += 4 + len;
    }
    if (localHeaderOffset + 30 > size) fail(name, `entry "${entryName.slice(0, 80)}" starts beyond the end of the file`);
    entries.push({name: entryName, method, compressedSize, size: uncompressed, localHeaderOffset});
    p = end;
  }
  return {entries, tail: {at: tailAt, bytes: tail}};
}

/** Reads one entry's (uncompressed) bytes, refusing entries larger than maxBytes. */
export async function readZipEntry(src: ByteSource, entry: ZipEntry, maxBytes: number, name = src.name, cache?: {at: number; bytes: Uint8Array}): Promise<Uint8Array> {
  const size = await src.size();
  const label = `entry "${entry.name.slice(0, 80)}"`;
  if (entry.compressedSize > maxBytes || entry.size > maxBytes) fail(name, `${label} is larger than the ${maxBytes}-byte limit`);
  if (entry.method !== 0 && entry.method !== 8) fail(name, `${label} uses unsupported compression method ${entry.method}`);
  // Local header, name and extra field (torch pads it for alignment) and the data, in one read when possible.
  const guess = 30 + 1024 + entry.name.length * 3;
  const want = Math.min(size - entry.localHeaderOffset, guess + entry.compressedSize);
  let chunk = await readRange(src, entry.localHeaderOffset, want, cache);
  if (chunk.length < 30) fail(name, `${label} local header is truncated`);
  const lv = view(chunk);
  if (lv.getUint32(0, true) !== LOCAL_SIG) fail(name, `${label} has a bad local header signature`);
  const dataAt = 30 + lv.getUint16(26, true) + lv.getUint16(28, true);
  if (entry.localHeaderOffset + dataAt + entry.compressedSize > size) fail(name, `${label} data goes beyond the end of the file`);
  if (chunk.length < dataAt + entry.compressedSize) {
    chunk = await readRange(src, entry.localHeaderOffset + dataAt, entry.compressedSize, cache);
  } else {
    chunk = chunk.subarray(dataAt, dataAt + entry.compressedSize);
  }
  if (chunk.length !== entry.compressedSize) fail(name, `${label} data is truncated`);
  if (entry.method === 0) return chunk;
  // zlib is loaded on first use: torch's own zip checkpoints store entries uncompressed, and every `mgen inspect` would
  // otherwise load it at start.
  const {inflateRawSync} = await import('node:zlib');
  try {
    return inflateRawSync(chunk, {maxOutputLength: maxBytes});
  } catch (err) {
    return fail(name, `${label} does not inflate (${(err as Error).message})`);
  }
}
