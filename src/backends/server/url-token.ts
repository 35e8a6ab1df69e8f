// Signed URLs for clients that cannot send an Authorization header (a browser's EventSource, an <img> tag, OpenAI
// style image links): `?expires=<unix s>&signature=<HMAC-SHA256 of path and expiry>` opens exactly that path until it
// expires. The key is random per server process, so signatures die with it. The long-lived bearer token is never
// accepted in a query string.
import {createHmac, randomBytes, timingSafeEqual} from 'node:crypto';

/** What a request's query says about its signature. */
export type SignatureCheck = 'valid' | 'expired' | 'invalid' | 'unsigned';

/** How long a job's signed event-stream URL lasts. */
export const STREAM_URL_TTL_MS = 15 * 60_000;

export class UrlSigner {
  constructor(private readonly key: Buffer = randomBytes(32)) {}

  /** `path?expires=...&signature=...`, valid for `ttlMs`. */
  signedPath(path: string, ttlMs: number, now = Date.now()): string {
    const expires = Math.floor((now + ttlMs) / 1000);
    return `${path}?expires=${expires}&signature=${this.sign(path, expires)}`;
  }

  /** Checks a request for `path` (no query) with the query's `expires` and `signature`. */
  check(path: string, query: URLSearchParams, now = Date.now()): SignatureCheck {
    const sig = query.get('signature');
    const exp = query.get('expires');
    if (sig === null && exp === null) return 'unsigned';
    if (!sig || !exp || !/^\d{1,12}$/.test(exp) || !/^[0-9a-f]{64}$/.test(sig)) return 'invalid';
    const want = Buffer.from(this.sign(path, Number(exp)), 'hex');
    if (!timingSafeEqual(want, Buffer.from(sig, 'hex'))) return 'invalid';
    return Number(exp) * 1000 < now ? 'expired' : 'valid';
  }

  private sign(path: string, expires: number): string {
    return createHmac('sha256', this.key).update(`${path}\n${expires}`).digest('hex');
  }
}

/** The paths a signed URL may open (GET only): an output file, a job's event stream. */
export function signedUrlKind(path: string): 'file' | 'stream' | null {
  if (/^\/v1\/files\/[^/]+$/.test(path)) return 'file';
  if (/^\/v1\/jobs\/[^/]+\/events$/.test(path)) return 'stream';
  return null;
}
