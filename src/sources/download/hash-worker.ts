// sha256 / git-sha1 of a file being downloaded, computed in a worker thread so hashing runs on another core
// while the transfer goes on: from received buffers copied into shared memory slots, or from bytes already on
// disk (page cache). Requests are processed in order.
import {Worker} from 'node:worker_threads';

const SLOT = 4 << 20;
const SLOTS = 6;

const WORKER_SOURCE = `
const {parentPort} = require('node:worker_threads');
const {createHash} = require('node:crypto');
const {openSync, readSync, closeSync} = require('node:fs');
let hash;
let sab;
const buf = Buffer.allocUnsafe(4 << 20);
parentPort.on('message', (m) => {
  try {
    if (m.type === 'init') {
      hash = createHash(m.algo);
      sab = m.sab;
      if (m.prefix) hash.update(m.prefix);
    } else if (m.type === 'buf') {
      hash.update(new Uint8Array(sab, m.slot * ${SLOT}, m.len));
      parentPort.postMessage({type: 'ack', slot: m.slot});
    } else if (m.type === 'file') {
      const fd = openSync(m.path, 'r');
      try {
        let pos = m.start;
        while (pos < m.end) {
          const n = readSync(fd, buf, 0, Math.min(buf.length, m.end - pos), pos);
          if (n <= 0) throw new Error('short read at ' + pos);
          hash.update(buf.subarray(0, n));
          pos += n;
        }
      } finally {
        closeSync(fd);
      }
    } else if (m.type === 'digest') {
      parentPort.postMessage({type: 'digest', hex: hash.digest('hex')});
    }
  } catch (err) {
    parentPort.postMessage({type: 'error', message: String(err && err.message || err)});
  }
});
`;

export class FileHashWorker {
  private worker: Worker;
  private failure?: Error;
  private pending?: {resolve: (hex: string) => void; reject: (e: Error) => void};
  private sab = new SharedArrayBuffer(SLOT * SLOTS);
  private free = Array.from({length: SLOTS}, (_, i) => i);
  private waiting: Array<() => void> = [];

  constructor(algo: 'sha256' | 'sha1', prefix?: string) {
    this.worker = new Worker(WORKER_SOURCE, {eval: true});
    this.worker.unref();
    this.worker.on('message', (m: {type: string; hex?: string; message?: string; slot?: number}) => {
      if (m.type === 'ack') {
        this.free.push(m.slot!);
        this.waiting.shift()?.();
      }
      if (m.type === 'digest') this.pending?.resolve(m.hex!);
      if (m.type === 'error') {
        this.failure = new Error(m.message);
        this.pending?.reject(this.failure);
      }
    });
    this.worker.on('error', (err) => {
      this.failure = err;
      this.pending?.reject(err);
      for (const w of this.waiting.splice(0)) w();
    });
    this.worker.postMessage({type: 'init', algo, prefix, sab: this.sab});
  }

  /** Queues hashing of received bytes (copied into a shared slot; waits only while every slot is in use). */
  async hashBuffers(bufs: Buffer[]): Promise<void> {
    for (const b of bufs) {
      for (let off = 0; off < b.length; off += SLOT) {
        if (this.failure) throw this.failure;
        while (this.free.length === 0) await new Promise<void>((resolve) => this.waiting.push(resolve));
        const slot = this.free.pop()!;
        const n = Math.min(SLOT, b.length - off);
        b.copy(new Uint8Array(this.sab, slot * SLOT, n), 0, off, off + n);
        this.worker.postMessage({type: 'buf', slot, len: n});
      }
    }
  }

  /** Queues hashing of bytes [start, end) of the file. */
  hashFile(path: string, start: number, end: number): void {
    if (end > start) this.worker.postMessage({type: 'file', path, start, end});
  }

  digest(): Promise<string> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending = {resolve, reject};
      this.worker.postMessage({type: 'digest'});
    });
  }

  close(): void {
    void this.worker.terminate();
  }
}
