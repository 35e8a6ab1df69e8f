// A ByteSource over HTTP Range requests. Each read() is one Range request (plus one redirect hop the first
// time: the final CDN/storage URL is remembered and reused, with the Range header kept). Connections are
// reused by fetch's keep-alive pool. The ETag of the first answer must match later ones. A body that stalls
// (fetchWithRetry's read-idle timeout, MGEN_HTTP_TIMEOUT) is retried like one cut short.
import type {ByteSource} from '../detect/types.js';
import {NetworkError} from '../errors.js';
import {errorForResponse, fetchWithRetry, StallError, type HttpOptions} from './http.js';

export interface HttpByteSourceOptions {
  url: string;
  name?: string;
  /** Known size (from a listing); saves a request. */
  size?: number;
  /** Headers for the first hop (Authorization); dropped when a redirect leaves the origin. */
  headers?: Record<string, string>;
  http?: HttpOptions;
  /** What to call it in error messages. */
  what?: string;
  /** Minimum bytes fetched by a read at offset 0 (kept in memory; later reads inside it cost nothing). */
  prefetch?: number;
  authHint?: string;
}

export interface HttpByteSourceStats {
  reads: number;
  bytes: number;
  /** HTTP exchanges, redirect hops included. */
  requests: number;
}

const MAX_REDIRECTS = 8;

export class HttpByteSource implements ByteSource {
  readonly name: string;
  readonly stats: HttpByteSourceStats = {reads: 0, bytes: 0, requests: 0};
  etag?: string;
  /** Content-Disposition of the last answer (CivitAI and URL downloads name their file there). */
  contentDisposition?: string;
  private knownSize?: number;
  private resolvedUrl?: string;
  private resolvedHeaders?: Record<string, string>;
  private head?: Uint8Array;

  constructor(private readonly opts: HttpByteSourceOptions) {
    this.name = opts.name ?? opts.url;
    this.knownSize = opts.size;
  }

  async size(): Promise<number> {
    if (this.knownSize !== undefined) return this.knownSize;
    await this.read(0, 1);
    if (this.knownSize === undefined) throw new NetworkError(`${this.what}: the server did not say the file size`);
    return this.knownSize;
  }

  /** The URL reads actually go to after redirects (signed storage URL), once known. */
  get finalUrl(): string | undefined {
    return this.resolvedUrl;
  }

  private get what(): string {
    return this.opts.what ?? this.name;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    // A body cut short or stalled is retried (twice) like a failed request.
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.readOnce(offset, length);
      } catch (err) {
        const retry = err instanceof StallError || (err instanceof NetworkError && /connection lost/.test(err.message));
        if (attempt >= 2 || !retry) {
          if (err instanceof StallError) throw new NetworkError(`${this.what}: ${err.message} after ${attempt + 1} attempts`, {hint: err.hint, cause: err});
          throw err;
        }
      }
    }
  }

  private async readOnce(offset: number, length: number): Promise<Uint8Array> {
    if (length <= 0) return new Uint8Array(0);
    if (this.knownSize !== undefined) {
      if (offset >= this.knownSize) return new Uint8Array(0);
      length = Math.min(length, this.knownSize - offset);
    }
    if (this.head && offset + length <= this.head.byteLength) {
      this.stats.reads++;
      return this.head.slice(offset, offset + length);
    }
    if (offset === 0 && this.opts.prefetch && length < this.opts.prefetch) {
      const want = this.knownSize !== undefined ? Math.min(this.opts.prefetch, this.knownSize) : this.opts.prefetch;
      const block = await this.read(0, want);
      this.head = block;
      return block.slice(0, Math.min(length, block.byteLength));
    }
    const range = `bytes=${offset}-${offset + length - 1}`;
    let res = await this.get(range);
    if (res.status === 206 || res.status === 200) {
      const out = await this.body(res, offset, length);
      this.stats.reads++;
      this.stats.bytes += out.byteLength;
      return out;
    }
    if (res.status === 416 && this.knownSize === undefined) {
      // Reading past the end of a file of unknown size.
      const total = /\/(\d+)$/.exec(res.headers.get('content-range') ?? '');
      if (total) this.knownSize = Number(total[1]);
      await res.body?.cancel().catch(() => undefined);
      return new Uint8Array(0);
    }
    if ((res.status === 403 || res.status === 410) && this.resolvedUrl) {
      // A signed URL expired: resolve again from the original URL once.
      await res.body?.cancel().catch(() => undefined);
      this.resolvedUrl = undefined;
      res = await this.get(range);
      if (res.status === 206 || res.status === 200) {
        const out = await this.body(res, offset, length);
        this.stats.reads++;
        this.stats.bytes += out.byteLength;
        return out;
      }
    }
    throw await errorForResponse(res, {what: this.what, authHint: this.opts.authHint, secrets: this.opts.http?.secrets});
  }

  /** GET with Range, following redirects by hand so the Range survives and the final URL is remembered. */
  private async get(range: string): Promise<Response> {
    const counter = {requests: 0};
    const http: HttpOptions = {...this.opts.http, counter};
    let url = this.resolvedUrl ?? this.opts.url;
    let headers = this.resolvedHeaders ?? {...this.opts.headers};
    try {
      for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
        const res = await fetchWithRetry(url, {headers: {...headers, range, 'accept-encoding': 'identity'}, redirect: 'manual'}, http);
        const loc = res.headers.get('location');
        if (res.status >= 300 && res.status < 400 && loc) {
          await res.body?.cancel().catch(() => undefined);
          const next = new URL(loc, url);
          if (next.origin !== new URL(url).origin) {
            headers = Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'authorization'));
          }
          url = next.toString();
          continue;
        }
        if (res.status === 206 || res.status === 200) {
          this.resolvedUrl = url;
          this.resolvedHeaders = headers;
        }
        return res;
      }
      throw new NetworkError(`${this.what}: too many redirects`);
    } finally {
      this.stats.requests += counter.requests;
    }
  }

  private async body(res: Response, offset: number, length: number): Promise<Uint8Array> {
    const etag = res.headers.get('etag') ?? undefined;
    if (etag && this.etag && etag !== this.etag) {
      await res.body?.cancel().catch(() => undefined);
      throw new NetworkError(`${this.what}: the file changed on the server between two reads (ETag ${this.etag} -> ${etag})`, {
        hint: 'try again',
      });
    }
    if (etag) this.etag = etag;
    this.contentDisposition = res.headers.get('content-disposition') ?? this.contentDisposition;
    const cr = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
    if (res.status === 206 && cr && cr[3] !== '*') this.knownSize = Number(cr[3]);
    if (res.status === 200) {
      const len = res.headers.get('content-length');
      if (len !== null) this.knownSize = Number(len);
    }
    // 206: the body is the range. 200: the server ignored Range; skip to offset and stop reading early.
    const skip = res.status === 200 ? offset : cr ? offset - Number(cr[1]) : 0;
    const out = new Uint8Array(length);
    let filled = 0;
    let seen = 0;
    const reader = res.body!.getReader();
    try {
      while (filled < length) {
        const {done, value} = await reader.read();
        if (done) break;
        const start = Math.max(0, skip - seen);
        seen += value.byteLength;
        if (start >= value.byteLength) continue;
        const n = Math.min(value.byteLength - start, length - filled);
        out.set(value.subarray(start, start + n), filled);
        filled += n;
      }
    } catch (err) {
      if (err instanceof StallError) throw err;
      throw new NetworkError(`${this.what}: connection lost while reading`, {cause: err});
    } finally {
      await reader.cancel().catch(() => undefined);
    }
    if (filled < length && (this.knownSize === undefined || offset + filled < this.knownSize)) {
      if (res.status === 206 && cr && Number(cr[2]) - Number(cr[1]) + 1 > filled) {
        throw new NetworkError(`${this.what}: connection lost while reading (${filled} of ${length} bytes)`);
      }
    }
    return filled === length ? out : out.subarray(0, filled);
  }
}
