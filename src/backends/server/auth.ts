// Bearer-token check (constant-time) and the rule that a server reachable from other machines needs a token.
import {createHash, timingSafeEqual} from 'node:crypto';
import {isIP} from 'node:net';
import {UsageError} from '../../errors.js';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** True when the Authorization header carries exactly `Bearer <token>`; compares hashes in constant time. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
  const given = m?.[1] ?? '';
  // Compare even when the header is missing so the time taken says nothing about the token.
  const ok = timingSafeEqual(digest(given), digest(token));
  return ok && m !== null;
}

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (h.startsWith('::ffff:127.')) return true;
  return false;
}

/** The token to require, or null; throws when a non-loopback bind has none and --insecure was not given. */
export function resolveToken(opts: {host: string; token?: string; envToken?: string; insecure: boolean}): string | null {
  const token = opts.token || opts.envToken || null;
  if (token !== null && token.length < 8) throw new UsageError('--token must be at least 8 characters long');
  if (!token && !isLoopbackHost(opts.host) && !opts.insecure) {
    throw new UsageError(`--host ${opts.host} is reachable from other machines: give --token (or MGEN_API_TOKEN), or --insecure to serve without one`);
  }
  return token;
}
