// Byte sources for the readers: a local file read by positional reads, and an in-memory buffer
// (tests, fuzzing). Both count reads and bytes so tests and benchmarks can check the read budget.
import {open, stat, type FileHandle} from 'node:fs/promises';
import type {ByteSource} from '../types.js';
import {NotFoundError, InvalidModelError} from '../../errors.js';

export class LocalFileSource implements ByteSource {
  readonly stats = {reads: 0, bytes: 0};
  private handle?: Promise<FileHandle>;
  private sizeCache?: number;

  constructor(readonly path: string, readonly name: string = path) {}

  private fh(): Promise<FileHandle> {
    if (!this.handle) {
      this.handle = open(this.path, 'r').catch((err: NodeJS.ErrnoException) => {
        this.handle = undefined;
        throw mapFsError(err, this.name);
      });
    }
    return this.handle;
  }

  async size(): Promise<number> {
    if (this.sizeCache === undefined) {
      try {
        const st = await stat(this.path);
        if (!st.isFile()) throw new InvalidModelError(`${this.name}: not a regular file`);
        this.sizeCache = st.size;
      } catch (err) {
        throw mapFsError(err as NodeJS.ErrnoException, this.name);
      }
    }
    return this.sizeCache;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
      throw new InvalidModelError(`${this.name}: invalid read range ${offset}+${length}`);
    }
    const size = await this.size();
    const n = Math.max(0, Math.min(length, size - offset));
    const buf = Buffer.alloc(n);
    this.stats.reads++;
    if (n === 0) return buf;
    const fh = await this.fh();
    let got = 0;
    while (got < n) {
      const {bytesRead} = await fh.read(buf, got, n - got, offset + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    this.stats.bytes += got;
    return got === n ? buf : buf.subarray(0, got);
  }

  /** Releases the file handle; reading again reopens it. */
  async close(): Promise<void> {
    const h = this.handle;
    this.handle = undefined;
    if (h) await (await h.catch(() => undefined))?.close();
  }
}

function mapFsError(err: NodeJS.ErrnoException, name: string): Error {
  if (err instanceof InvalidModelError || err instanceof NotFoundError) return err;
  if (err.code === 'ENOENT') return new NotFoundError(`${name}: no such file`);
  if (err.code === 'EACCES' || err.code === 'EPERM') return new InvalidModelError(`${name}: permission denied`);
  if (err.code === 'EISDIR') return new InvalidModelError(`${name}: is a directory, not a file`);
  return err;
}

/** An in-memory byte source (tests and fuzzing). */
export class BufferSource implements ByteSource {
  readonly stats = {reads: 0, bytes: 0};
  constructor(readonly data: Uint8Array, readonly name = 'buffer') {}
  async size(): Promise<number> {
    return this.data.length;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    this.stats.reads++;
    const out = this.data.subarray(Math.min(offset, this.data.length), Math.min(offset + length, this.data.length));
    this.stats.bytes += out.length;
    return out;
  }
}
