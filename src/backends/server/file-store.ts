// Output images kept for `response_format: "url"`: files under the server's work folder, served at
// /v1/files/<name>, dropped after a TTL or when more than `max` are kept.
import {mkdir, readFile, rename, rm} from 'node:fs/promises';
import {join} from 'node:path';

export class FileStore {
  private readonly entries = new Map<string, number>();
  constructor(readonly dir: string, private readonly ttlMs = 3_600_000, private readonly max = 512) {}

  async init(): Promise<void> {
    await mkdir(this.dir, {recursive: true});
  }

  /** Moves `src` into the store under `name` (letters, digits, '-', '_', '.'). */
  async adopt(src: string, name: string): Promise<string> {
    if (!FileStore.validName(name)) throw new Error(`bad file name ${name}`);
    await rename(src, join(this.dir, name));
    this.entries.set(name, Date.now());
    await this.prune();
    return name;
  }

  async read(name: string): Promise<Buffer | null> {
    if (!FileStore.validName(name) || !this.entries.has(name)) return null;
    try {
      return await readFile(join(this.dir, name));
    } catch {
      return null;
    }
  }

  static validName(name: string): boolean {
    return /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,200}$/.test(name) && !name.includes('..');
  }

  private async prune(): Promise<void> {
    const now = Date.now();
    const names = [...this.entries.entries()].sort((a, b) => a[1] - b[1]);
    const drop = names.filter(([, t], i) => now - t > this.ttlMs || names.length - i > this.max).map(([n]) => n);
    for (const n of drop) {
      this.entries.delete(n);
      await rm(join(this.dir, n), {force: true});
    }
  }
}
