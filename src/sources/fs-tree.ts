// A ModelTree over local files: a file, a folder, or a cached HF snapshot (links into blobs/ are followed).
// Used for local MODEL_IDs and offline/cached models until src/detect's own local tree is wired in.
import {open, readFile, readdir, stat} from 'node:fs/promises';
import {basename, join} from 'node:path';
import type {ByteSource, ModelTree, TreeEntry} from '../detect/types.js';
import {NotFoundError} from '../errors.js';

export class FileByteSource implements ByteSource {
  readonly stats = {reads: 0, bytes: 0};
  constructor(readonly name: string) {}
  async size(): Promise<number> {
    return (await stat(this.name)).size;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    const fh = await open(this.name, 'r');
    try {
      const buf = Buffer.alloc(length);
      const {bytesRead} = await fh.read(buf, 0, length, offset);
      this.stats.reads++;
      this.stats.bytes += bytesRead;
      return bytesRead === length ? buf : buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  }
}

export class FsTree implements ModelTree {
  constructor(readonly root: string, readonly singleFile: boolean, readonly name = basename(root)) {}

  static async at(path: string): Promise<FsTree> {
    let st;
    try {
      st = await stat(path);
    } catch {
      throw new NotFoundError(`no such file or folder: ${path}`);
    }
    return new FsTree(path, st.isFile());
  }

  async list(): Promise<TreeEntry[]> {
    if (this.singleFile) return [{path: '', size: (await stat(this.root)).size}];
    const out: TreeEntry[] = [];
    const walk = async (dir: string, prefix: string) => {
      for (const n of (await readdir(dir)).sort()) {
        if (n === '.git' || n === '.cache') continue;
        const p = join(dir, n);
        let st;
        try {
          st = await stat(p);
        } catch {
          continue;
        }
        if (st.isDirectory()) await walk(p, `${prefix}${n}/`);
        else out.push({path: prefix + n, size: st.size});
      }
    };
    await walk(this.root, '');
    return out;
  }

  private full(path: string): string {
    if (this.singleFile) {
      if (path !== '') throw new NotFoundError(`${this.root} is a single file (no '${path}')`);
      return this.root;
    }
    if (path.split('/').includes('..')) throw new NotFoundError(`bad path '${path}'`);
    return join(this.root, ...path.split('/'));
  }

  open(path: string): ByteSource {
    return new FileByteSource(this.full(path));
  }

  async readText(path: string): Promise<string> {
    try {
      return await readFile(this.full(path), 'utf8');
    } catch {
      throw new NotFoundError(`no file '${path}' in ${this.root}`);
    }
  }
}
