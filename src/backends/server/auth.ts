// Who may call the server: a bearer token (constant-time check), A1111's `--api-auth user:pass` HTTP Basic
// credentials beside it (and the token as a Basic password, for clients that only know Basic), and the rule that
// a server reachable from other machines needs one of them.
import {createHash, timingSafeEqual} from 'node:crypto';
import {isIP} from 'node:net';
import {UsageError} from '../../errors.js';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();
const same = (a: string, b: string): boolean => timingSafeEqual(digest(a), digest(b));

/** True when the Authorization header carries exactly `Bearer <token>`; compares hashes in constant time. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
  const given = m?.[1] ?? '';
  // Compare even when the header is missing so the time taken says nothing about the token.
  const ok = same(given, token);
  return ok && m !== null;
}

/** `--api-auth` credentials: user -> password. */
export type BasicCredentials = ReadonlyMap<string, string>;

/** Parses A1111's `--api-auth` value: `user:pass` pairs separated by commas (a password may contain ':'). */
export function parseApiAuth(spec: string | undefined | null): Map<string, string> | null {
  if (spec == null) return null;
  const creds = new Map<string, string>();
  for (const raw of spec.split(',')) {
    const pair = raw.trim();
    const at = pair.indexOf(':');
    if (at <= 0 || at === pair.length - 1) throw new UsageError('--api-auth: expected user:password pairs separated by commas');
    const user = pair.slice(0, at);
    if (creds.has(user)) throw new UsageError(`--api-auth: user ${user} is given twice`);
    creds.set(user, pair.slice(at + 1));
  }
  if (!creds.size) throw new UsageError('--api-auth: expected user:password pairs separated by commas');
  return creds;
}

/** The user and password of an `Authorization: Basic ...` header, or null. */
export function basicCredentials(header: string | undefined): {user: string; password: string} | null {
  const m = /^Basic[ \t]+([A-Za-z0-9+/=]+)[ \t]*$/i.exec(header ?? '');
  if (!m) return null;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const at = text.indexOf(':');
  return at < 0 ? null : {user: text.slice(0, at), password: text.slice(at + 1)};
}

/**
 * Whether a request may pass: `Bearer <token>`; or HTTP Basic with an `--api-auth` user and its password, or any
 * user name with the token as the password. Every configured secret is compared, in constant time.
 */
export function requestAuthorized(header: string | undefined, o: {token: string | null; basic?: BasicCredentials | null}): boolean {
  if (o.token && bearerMatches(header, o.token)) return true;
  const basic = basicCredentials(header);
  const given = basic?.password ?? '';
  let ok = false;
  if (o.token && same(given, o.token)) ok = basic !== null;
  for (const [user, password] of o.basic ?? []) if (same(given, password) && basic?.user === user) ok = true;
  return ok;
}

/** The WWW-Authenticate challenge for a 401: Bearer, and Basic when Basic is accepted. */
export function authChallenge(o: {token: string | null; basic?: BasicCredentials | null}): string {
  return o.basic ? (o.token ? 'Bearer, Basic realm="mgen"' : 'Basic realm="mgen"') : 'Bearer';
}

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (h.startsWith('::ffff:127.')) return true;
  return false;
}

/**
 * The token to require, or null; throws when a non-loopback bind has neither a token nor `--api-auth` credentials
 * and --insecure was not given.
 */
export function resolveToken(opts: {host: string; token?: string; envToken?: string; insecure: boolean; apiAuth?: boolean}): string | null {
  const token = opts.token || opts.envToken || null;
  if (token !== null && token.length < 8) throw new UsageError('--token must be at least 8 characters long');
  if (!token && !opts.apiAuth && !isLoopbackHost(opts.host) && !opts.insecure) {
    throw new UsageError(`--host ${opts.host} is reachable from other machines: give --token (or MGEN_API_TOKEN) or --api-auth, or --insecure to serve without one`);
  }
  return token;
}
