// What a request to `mgen serve` may name as a model (today: loras[].name): the one place that decides.
// Allowed by default: builtin ids, hub ids (HF org/name, hf://, civitai:, AIR, huggingface.co / civitai.com URLs)
// and URLs already in the cache. Plain URLs only with --allow-model-urls, and then never to a private, loopback
// or link-local address unless the operator named the host (--allow-private-hosts); the address is checked after
// DNS resolution and on every connection (each redirect hop) made while resolving a request's model. Local paths
// only inside --model-dir folders (realpath containment). Refusals say what is wrong in words only.
import {AsyncLocalStorage} from 'node:async_hooks';
import {existsSync, realpathSync} from 'node:fs';
import {lookup as dnsLookup} from 'node:dns/promises';
import dns from 'node:dns';
import net from 'node:net';
import {isAbsolute, join, resolve} from 'node:path';
import {MgenError, UsageError} from '../errors.js';
import {expandHome} from './paths.js';
import {allFileMetas, cachedFilePath} from '../sources/cache/mgen-home.js';
import {isInside} from '../sources/cache/safe-path.js';
import {parseModelId} from '../sources/model-id.js';

export interface RequestModelPolicyOptions {
  /** Folders whose files (and folders) a request may name by path (--model-dir). */
  modelDirs?: string[];
  /** Plain http(s) URLs that are not in the cache may be fetched (--allow-model-urls). */
  allowUrls?: boolean;
  /** Host names or IP literals that may be fetched from although they resolve to private addresses. */
  privateHosts?: string[];
  env?: NodeJS.ProcessEnv;
}

/** A request named a model this server does not fetch or read (HTTP 403; exit 2 where a CLI sees it). */
export class ModelNotAllowedError extends UsageError {
  readonly status = 403;
}

/** The code of the socket error the connection guard raises (sources see it as a failed connection). */
export const ADDRESS_REFUSED = 'EMGEN_ADDRESS_REFUSED';

interface GuardStore {
  trusted: ReadonlySet<string>;
}
const guardStore = new AsyncLocalStorage<GuardStore>();

/** Loopback, private, link-local, CGNAT, unspecified, multicast and reserved addresses (v4 and v6). */
export function isPrivateAddress(address: string): boolean {
  let a = address.replace(/^\[|\]$/g, '').toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (mapped) a = mapped[1]!;
  if (net.isIPv4(a)) {
    const [x, y] = a.split('.').map(Number) as [number, number];
    return (
      x === 0 || x === 10 || x === 127 || x >= 224 || (x === 169 && y === 254) || (x === 172 && y >= 16 && y <= 31) ||
      (x === 192 && y === 168) || (x === 100 && y >= 64 && y <= 127) || (x === 192 && y === 0) || (x === 198 && (y === 18 || y === 19))
    );
  }
  if (net.isIPv6(a)) {
    if (a === '::' || a === '::1') return true;
    const first = parseInt(a.split(':')[0] || '0', 16);
    // fc00::/7 unique local, fe80::/10 link-local, ff00::/8 multicast, ::ffff:0:0/96 handled above, 64:ff9b::/96 NAT64.
    return (first & 0xfe00) === 0xfc00 || (first & 0xffc0) === 0xfe80 || (first & 0xff00) === 0xff00 || a.startsWith('64:ff9b:') || a.startsWith('::ffff:');
  }
  return true; // not an address at all: refuse
}

const normHost = (h: string): string => h.replace(/^\[|\]$/g, '').replace(/\.$/, '').toLowerCase();

function refusal(host: string): Error {
  return Object.assign(new Error(`${ADDRESS_REFUSED}: ${host} is a private address this server does not fetch from`), {code: ADDRESS_REFUSED, host});
}

/** The host a refused connection went to, when `err` (or a cause of it) is the guard's refusal. */
export function refusedHost(err: unknown): string | null {
  for (let e: unknown = err, i = 0; e && i < 8; e = (e as {cause?: unknown}).cause, i++) {
    const x = e as {code?: string; host?: string; message?: string};
    if (x.code === ADDRESS_REFUSED) return x.host ?? '?';
    const m = new RegExp(`${ADDRESS_REFUSED}: (\\S+)`).exec(String(x.message ?? ''));
    if (m) return m[1]!;
  }
  return null;
}

let connectPatched = false;
/**
 * Every TCP connection goes through net.Socket#connect (node:http, node:https, fetch/undici, the raw download
 * reader): while a request's model is being resolved (guardStore has a store), a connection to a host the
 * operator did not trust must resolve to public addresses only, checked on the addresses DNS gave.
 */
function installConnectGuard(): void {
  if (connectPatched) return;
  connectPatched = true;
  const original = net.Socket.prototype.connect as (...args: unknown[]) => net.Socket;
  net.Socket.prototype.connect = function guardedConnect(this: net.Socket, ...args: unknown[]): net.Socket {
    const store = guardStore.getStore();
    if (!store) return original.apply(this, args);
    const normalized = Array.isArray(args[0]) ? (args[0] as unknown[]) : null;
    let options = (normalized ? normalized[0] : args[0]) as net.TcpNetConnectOpts & {path?: string};
    if (typeof options !== 'object' || options === null) {
      // connect(port[, host][, cb])
      const cb = args.find((a) => typeof a === 'function');
      options = {port: Number(args[0]), host: typeof args[1] === 'string' ? args[1] : 'localhost'};
      args = cb ? [options, cb] : [options];
    }
    if (options.path) return original.apply(this, args);
    const host = normHost(String(options.host ?? 'localhost'));
    if (store.trusted.has(host)) return original.apply(this, args);
    if (net.isIP(host)) {
      if (isPrivateAddress(host)) {
        const sock = this;
        process.nextTick(() => sock.destroy(refusal(host)));
        return sock;
      }
      return original.apply(this, args);
    }
    const inner = (options.lookup ?? dns.lookup) as typeof dns.lookup;
    const guarded = ((hostname: string, opts: dns.LookupOptions, cb: (...r: unknown[]) => void) => {
      inner(hostname, opts, ((err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => {
        if (err) return cb(err, address, family);
        const all = Array.isArray(address) ? address.map((x) => x.address) : [address];
        if (all.some((x) => isPrivateAddress(x))) return cb(refusal(host), address, family);
        cb(null, address, family);
      }) as never);
    }) as unknown as typeof dns.lookup;
    const withLookup = {...options, lookup: guarded};
    if (normalized) {
      const copy = [withLookup, ...normalized.slice(1)];
      // Keep node's "already normalized" marker so the arguments are not parsed again.
      for (const s of Object.getOwnPropertySymbols(normalized)) (copy as unknown as Record<symbol, unknown>)[s] = (normalized as unknown as Record<symbol, unknown>)[s];
      return original.call(this, copy);
    }
    return original.apply(this, [withLookup, ...args.slice(1)]);
  } as typeof net.Socket.prototype.connect;
}

/** Runs `fn` outside any request guard (the operator's own model, reloaded after a worker death). */
export function outsideRequestGuard<T>(fn: () => T): T {
  return guardStore.exit(fn);
}

function hostOfUrl(u: string | undefined, fallback: string): string {
  try {
    return normHost(new URL(u || fallback).hostname);
  } catch {
    return normHost(new URL(fallback).hostname);
  }
}

export class RequestModelPolicy {
  private readonly roots: string[];
  private readonly trusted: Set<string>;
  private readonly env: NodeJS.ProcessEnv;

  constructor(private readonly o: RequestModelPolicyOptions = {}) {
    this.env = o.env ?? process.env;
    this.roots = (o.modelDirs ?? []).map((d) => {
      try {
        return realpathSync(resolve(expandHome(d)));
      } catch {
        throw new UsageError(`--model-dir ${d}: no such folder`);
      }
    });
    this.trusted = new Set([
      ...(o.privateHosts ?? []).map(normHost).filter(Boolean),
      // The registries the operator configured (a mirror on the local network is theirs to choose).
      hostOfUrl(this.env.HF_ENDPOINT, 'https://huggingface.co'),
      hostOfUrl(this.env.CIVITAI_ENDPOINT, 'https://civitai.com'),
    ]);
    installConnectGuard();
  }

  /** The --model-dir folders (real paths): where requests may name files by path. */
  get modelDirs(): readonly string[] {
    return this.roots;
  }

  /** One line for the server's start-up log. */
  describe(): string {
    const parts = ['hub ids and cached models'];
    parts.push(this.o.allowUrls ? `URLs (private hosts: ${(this.o.privateHosts ?? []).join(', ') || 'none'})` : 'no URLs');
    parts.push(this.roots.length ? `paths under ${this.roots.join(', ')}` : 'no local paths');
    return `request models: ${parts.join('; ')}`;
  }

  /**
   * Whether a request may name `id` (in `field`); returns the id to resolve: a local path becomes its real path
   * inside a model folder. Throws ModelNotAllowedError (403) or UsageError (400) in words only.
   */
  check(id: string, field: string): string {
    const t = id.trim();
    const deny = (why: string): never => {
      throw new ModelNotAllowedError(`${field}: ${why}`, {field});
    };
    if (/^builtin:/i.test(t)) return t;
    const hasScheme = /^[a-z][a-z0-9+.-]*:/i.test(t) && !/^[a-z]:[\\/]/i.test(t);
    if (!hasScheme) {
      const looksLikePath = /^(\/|\.\/|\.\.\/|~|\.$|\.\.$|[a-z]:[\\/])/i.test(t) || t.includes('\\') || !t.includes('/') || /(^|\/)\.\.?(\/|$)/.test(t);
      if (looksLikePath) return this.localPath(t, field, deny);
      // org/name: a file in a model folder by that name wins (as an existing path wins for any MODEL_ID); else a
      // hub id, sent as hf:// when the name also happens to exist relative to the server's working folder, so
      // that resolution never reads a local path the policy did not admit.
      for (const r of this.roots) {
        const real = this.tryLocal(join(r, t));
        if (real) return real;
      }
      if (existsSync(resolve(t))) return `hf://${t}`;
    }
    let ref;
    try {
      ref = parseModelId(t, {env: this.env, exists: () => false});
    } catch {
      throw new UsageError(`${field}: not a valid MODEL_ID (a hub id such as org/name or civitai:<id>${this.roots.length ? ', or a file under the model folders' : ''})`, {field});
    }
    if (ref.kind === 'hf' || ref.kind === 'civitai' || ref.kind === 'builtin') return t;
    if (ref.kind === 'local') return this.localPath(t, field, deny);
    // A plain URL: fine when it is already in the cache (nothing is fetched); else only when allowed.
    if (this.inCache(ref.url)) return t;
    if (!this.o.allowUrls) return deny('this server does not fetch models from URLs (the operator can allow it with --allow-model-urls)');
    const u = new URL(ref.url);
    if (u.username || u.password) return deny('a model URL may not carry credentials');
    const host = normHost(u.hostname);
    if (net.isIP(host) && isPrivateAddress(host) && !this.trusted.has(host)) {
      return deny(`${host} is a private address this server does not fetch from (the operator can allow it with --allow-private-hosts)`);
    }
    return t;
  }

  private inCache(url: string): boolean {
    return allFileMetas(this.env).some((m) => m.source === 'url' && m.url === url && cachedFilePath(m, this.env));
  }

  /** DNS check of the URL ids before anything is fetched (the connection guard checks again, on every hop). */
  async preflight(ids: Array<{id: string; field: string}>): Promise<void> {
    for (const {id, field} of ids) {
      if (!/^https?:\/\//i.test(id)) continue;
      try {
        if (parseModelId(id, {env: this.env, exists: () => false}).kind !== 'url' || this.inCache(new URL(id).toString())) continue;
      } catch {
        continue;
      }
      let host: string;
      try {
        host = normHost(new URL(id).hostname);
      } catch {
        continue;
      }
      if (net.isIP(host) || this.trusted.has(host)) continue;
      let addrs: Array<{address: string}>;
      try {
        addrs = await dnsLookup(host, {all: true});
      } catch {
        continue; // the fetch reports an unknown host as a network error
      }
      if (addrs.some((a) => isPrivateAddress(a.address))) {
        throw new ModelNotAllowedError(`${field}: ${host} resolves to a private address this server does not fetch from (the operator can allow it with --allow-private-hosts)`, {field});
      }
    }
  }

  /** Runs a request's model resolution with the connection guard on. */
  guard<T>(fn: () => Promise<T>): Promise<T> {
    return guardStore.run({trusted: this.trusted}, fn);
  }

  /** Words for an error that the connection guard caused, or null. */
  static refusalMessage(err: unknown): string | null {
    const host = refusedHost(err);
    return host ? `the model's address (${host}, or a redirect from it) is private and this server does not fetch from it` : null;
  }

  private tryLocal(abs: string): string | null {
    let real: string;
    try {
      real = realpathSync(abs);
    } catch {
      return null;
    }
    return this.roots.some((r) => isInside(r, real)) ? real : null;
  }

  private localPath(t: string, field: string, deny: (why: string) => never): string {
    if (!this.roots.length) return deny('this server does not read local paths named by requests (the operator can allow folders with --model-dir)');
    const p = expandHome(t);
    // Relative names are looked up in each model folder in turn; absolute ones must lie inside one.
    const candidates = isAbsolute(p) ? [p] : this.roots.map((r) => join(r, p));
    for (const c of candidates) {
      const real = this.tryLocal(resolve(c));
      if (real) return real;
    }
    throw new UsageError(`${field}: no such model file under the server's model folders`, {field});
  }
}

/** Any error while resolving a request's model -> a message in words (no file content, no fetched bytes). */
export function describeModelError(err: unknown, opts: {local?: boolean} = {}): string {
  const refused = RequestModelPolicy.refusalMessage(err);
  if (refused) return refused;
  if (!(err instanceof MgenError)) return 'could not be read';
  switch (err.name) {
    case 'NotFoundError':
      return opts.local ? 'no such file or folder' : 'not found';
    case 'AuthError':
      return 'access denied by the registry';
    case 'NetworkError':
      return 'could not be fetched (network failure)';
    case 'InvalidModelError':
      return 'not a model file mgen can read';
    case 'StorageError':
      return 'could not be stored (the server is out of disk space)';
    default:
      return 'could not be used';
  }
}
