// sha256 / git-sha1 of a file being downloaded, computed in a worker thread from the bytes already on disk
// (page cache), so hashing runs on another core while the transfer goes on. Requests are processed in order.
import {Worker} from 'node:worker_threads';

const WORKER_SOURCE = `
const {parentPort} = require('node:worker_threads');
const {createHash} = require('node:crypto');
const {openSync, readSync, closeSync} = require('node:fs');
let hash;
const buf = Buffer.allocUnsafe(4 << 20);
parentPort.on('message', (m) => {
  try {
    if (m.type === 'init') {
      hash = createHash(m.algo);
      if (m.prefix) hash.update(m.prefix);
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

  constructor(algo: 'sha256' | 'sha1', prefix?: string) {
    this.worker = new Worker(WORKER_SOURCE, {eval: true});
    this.worker.unref();
    this.worker.on('message', (m: {type: string; hex?: string; message?: string}) => {
      if (m.type === 'digest') this.pending?.resolve(m.hex!);
      if (m.type === 'error') {
        this.failure = new Error(m.message);
        this.pending?.reject(this.failure);
      }
    });
    this.worker.on('error', (err) => {
      this.failure = err;
      this.pending?.reject(err);
    });
    this.worker.postMessage({type: 'init', algo, prefix});
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
