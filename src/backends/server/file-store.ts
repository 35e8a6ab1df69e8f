// Output images kept for `response_format: "url"`: files under the server's work folder, served at
// /v1/files/<name>, dropped after a TTL or when more than `max` are kept. Their URLs are signed (url-token.ts: HMAC
// over path and expiry with a key made per process), so a client can fetch one without the bearer token until it
// expires, as OpenAI's image URLs work.
import {mkdir, readFile, rename, rm} from 'node:fs/promises';
import {join} from 'node:path';
import {UrlSigner, type SignatureCheck} from './url-token.js';

export type {SignatureCheck};

export class FileStore {
  private readonly entries = new Map<string, number>();
  /** Signs file URLs, and the server's other header-less URLs (job event streams). */
  readonly signer = new UrlSigner();
  constructor(readonly dir: string, private readonly ttlMs = 3_600_000, private readonly max = 512) {}

  /** `/v1/files/<name>?expires=<unix s>&signature=<hex>`, valid for `ttlMs` (default: as long as the file is kept). */
  signedPath(name: string, ttlMs = this.ttlMs, now = Date.now()): string {
    return this.signer.signedPath(`/v1/files/${name}`, ttlMs, now);
  }

  /** Checks a request for `path` (no query) with the query's `expires` and `signature`. */
  checkSignature(path: string, query: URLSearchParams, now = Date.now()): SignatureCheck {
    return this.signer.check(path, query, now);
  }

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
