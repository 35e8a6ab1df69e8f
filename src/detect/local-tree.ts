// A local file or folder as a ModelTree: recursive listing with sizes (hidden entries such as .git
// skipped, bounded in count and depth), byte sources over local files, small text reads with a cap.
import {readdir, stat, realpath, readFile} from 'node:fs/promises';
import {dirname, join, resolve, sep, posix} from 'node:path';
import type {ByteSource, ModelTree, TreeEntry} from './types.js';
import {LocalFileSource} from './readers/byte-source.js';
import {InvalidModelError, NotFoundError} from '../errors.js';

export const MAX_TREE_ENTRIES = 20_000;
export const MAX_TREE_DEPTH = 12;
export const MAX_TEXT_BYTES = 16 * 1024 * 1024;

export class LocalTree implements ModelTree {
  /** Set when the listing stopped early (too many entries). */
  truncated = false;
  private listing?: Promise<TreeEntry[]>;

  private constructor(readonly root: string, readonly name: string, readonly singleFile: boolean, readonly quoteContent = false) {}

  /**
   * Opens a local path; a missing path is a NotFoundError. `quoteContent`: messages about a file that is not what
   * its name says may quote its first bytes (the CLI on the user's own files; never serve).
   */
  static async open(path: string, opts: {quoteContent?: boolean} = {}): Promise<LocalTree> {
    const abs = resolve(path);
    let st;
    try {
      st = await stat(abs);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') throw new NotFoundError(`${path}: no such file or folder`);
      if (code === 'EACCES') throw new InvalidModelError(`${path}: permission denied`);
      throw err;
    }
    if (!st.isFile() && !st.isDirectory()) throw new InvalidModelError(`${path}: not a regular file or folder`);
    return new LocalTree(abs, path, st.isFile(), opts.quoteContent === true);
  }

  /** The directory that relative paths resolve against (a single file's folder for sibling shards). */
  private base(): string {
    return this.singleFile ? dirname(this.root) : this.root;
  }

  /** Absolute path of a tree path ('' is the file itself for a single-file tree). */
  resolvePath(path: string): string {
    if (path === '' || path === '.') return this.root;
    if (path.split('/').some((p) => p === '..') || path.startsWith('/')) {
      throw new InvalidModelError(`${this.name}: path "${path}" leaves the model folder`);
    }
    return join(this.base(), ...path.split('/'));
  }

  list(): Promise<TreeEntry[]> {
    this.listing ??= this.walk();
    return this.listing;
  }

  private async walk(): Promise<TreeEntry[]> {
    if (this.singleFile) {
      const st = await stat(this.root);
      return [{path: '', size: st.size}];
    }
    const out: TreeEntry[] = [];
    const seen = new Set<string>();
    const visit = async (dir: string, rel: string, depth: number): Promise<void> => {
      if (depth > MAX_TREE_DEPTH || this.truncated) return;
      let real: string;
      try {
        real = await realpath(dir);
      } catch {
        return;
      }
      if (seen.has(real)) return; // symlink loop
      seen.add(real);
      let names: string[];
      try {
        names = (await readdir(dir)).sort();
      } catch {
        return;
      }
      for (const name of names) {
        if (name.startsWith('.')) continue; // .git, .cache, .DS_Store, hidden files
        if (out.length >= MAX_TREE_ENTRIES) {
          this.truncated = true;
          return;
        }
        const abs = join(dir, name);
        const relPath = rel ? posix.join(rel, name) : name;
        let st;
        try {
          st = await stat(abs); // follows symlinks (HF cache snapshots link to blobs)
        } catch {
          continue; // dangling link
        }
        if (st.isDirectory()) await visit(abs, relPath, depth + 1);
        else if (st.isFile()) out.push({path: relPath, size: st.size});
      }
    };
    await visit(this.root, '', 0);
    return out;
  }

  open(path: string): ByteSource {
    const abs = this.resolvePath(path);
    return new LocalFileSource(abs, this.displayPath(path));
  }

  async readText(path: string, maxBytes = MAX_TEXT_BYTES): Promise<string> {
    const abs = this.resolvePath(path);
    const shown = this.displayPath(path);
    let st;
    try {
      st = await stat(abs);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`${shown}: no such file`);
      throw err;
    }
    if (!st.isFile()) throw new InvalidModelError(`${shown}: not a regular file`);
    if (st.size > maxBytes) throw new InvalidModelError(`${shown}: ${st.size} bytes is too large for a text/config file (limit ${maxBytes})`);
    return readFile(abs, 'utf8');
  }

  private displayPath(path: string): string {
    if (path === '' || path === '.') return this.name;
    return this.singleFile ? join(dirname(this.name), path) : `${this.name.replace(/[\\/]+$/, '')}${sep}${path}`;
  }
}
