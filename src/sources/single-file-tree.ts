// A one-file ModelTree over an HTTP resource (a CivitAI download, a plain URL): Range reads through
// HttpByteSource, the exact size learned from the first read (prefetched, so the header read is free).
import type {ByteSource, ModelTree, TreeEntry} from '../detect/types.js';
import {NotFoundError} from '../errors.js';
import {HttpByteSource, type HttpByteSourceOptions} from './http-byte-source.js';

export class HttpFileTree implements ModelTree {
  readonly singleFile = true;
  readonly source: HttpByteSource;

  constructor(readonly name: string, opts: HttpByteSourceOptions, private readonly sha256?: string) {
    this.source = new HttpByteSource({prefetch: 256 * 1024, ...opts, name});
  }

  async list(): Promise<TreeEntry[]> {
    return [{path: '', size: await this.source.size(), ...(this.sha256 ? {sha256: this.sha256} : {})}];
  }

  open(path: string): ByteSource {
    if (path !== '') throw new NotFoundError(`${this.name} is a single file (no '${path}')`);
    return this.source;
  }

  async readText(path: string): Promise<string> {
    if (path !== '') throw new NotFoundError(`${this.name} is a single file (no '${path}')`);
    const n = await this.source.size();
    return Buffer.from(await this.source.read(0, n)).toString('utf8');
  }

  get stats(): {requests: number; bytes: number; reads: number} {
    return {...this.source.stats};
  }
}
