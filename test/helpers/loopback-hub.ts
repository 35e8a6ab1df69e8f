// A loopback HuggingFace Hub (node:http on 127.0.0.1:0) speaking the real API shapes:
// /api/models/{repo}[/revision/{rev}], /api/models/{repo}/tree/{rev}[/path], POST paths-info,
// /{repo}/resolve/{rev}/{path} with Range, 302 to a separate "CDN" route for LFS files, the headers the real
// Hub sends (ETag, X-Repo-Commit, X-Linked-Etag, X-Linked-Size, X-Error-Code), gated/private repos,
// injectable faults: 429 + Retry-After, 500s that heal, bodies cut halfway, wrong sha, bodies that stall after N
// bytes, crawl, announce a longer Content-Length than they send, ignore Range, redirect loops; and, optionally,
// file bodies paced to a rate per connection (bodyBytesPerSecond), as CDNs limit each connection.
import {createHash} from 'node:crypto';
import {createReadStream, readFileSync, statSync} from 'node:fs';
import {open} from 'node:fs/promises';
import http from 'node:http';
import type {AddressInfo} from 'node:net';

export interface HubFile {
  path: string;
  /** Content in memory, or a file on disk (sparse files for big benchmarks). */
  content?: Buffer;
  diskPath?: string;
  /** LFS file (default: any file over 1 MiB or any weight file). */
  lfs?: boolean;
  /** The sha256 the listing announces (defaults to the real one; set wrong to test verification). */
  sha256?: string;
  /** The git oid the listing announces (defaults to the real git blob sha1; a hostile hub may answer anything). */
  oid?: string;
}

export interface HubRepo {
  id: string;
  commit: string;
  /** Branch/tag name -> commit (main -> commit is added). */
  refs?: Record<string, string>;
  files: HubFile[];
  gated?: false | 'auto' | 'manual';
  private?: boolean;
  license?: string;
  /** The commit sha the model API answers (a hostile hub: `../../..`); listing and files are served under it too. */
  apiSha?: string;
}

export interface Fault {
  /** Matches the request path (pathname). */
  match: RegExp;
  /** How many matching requests it applies to (then it heals). */
  times: number;
  status?: number;
  headers?: Record<string, string>;
  /** Cut the connection after this many body bytes (on a GET serving a body). */
  cutAfter?: number;
  /** Send the head and this many body bytes, then nothing more (the connection stays open, silent). */
  stallAfter?: number;
  /** Pace this body to this many bytes/s (below a client's stall threshold: a crawl). */
  bytesPerSecond?: number;
  /** Announce a Content-Length this many bytes longer than the body sent, then stay silent. */
  extraLength?: number;
  /** Answer a Range request with 200 and the whole body. */
  ignoreRange?: boolean;
  /** Answer with a 302 to the same URL (a redirect loop), instead of the resource. */
  redirectLoop?: boolean;
}

const bodyFault = (f: Fault): boolean =>
  f.cutAfter !== undefined || f.stallAfter !== undefined || f.bytesPerSecond !== undefined || f.extraLength !== undefined || !!f.ignoreRange;

export interface RequestLog {
  method: string;
  path: string;
  range?: string;
  status: number;
  bytes: number;
  auth?: string;
}

const WEIGHT = /\.(safetensors|bin|ckpt|pt|pth|gguf|onnx|msgpack|h5)$/;

interface FileEntry {
  file: HubFile;
  size: number;
  sha256: string;
  realSha256: string;
  gitSha1: string;
  lfs: boolean;
}

export function gitBlobSha1(buf: Buffer): string {
  return createHash('sha1').update(`blob ${buf.length}\0`).update(buf).digest('hex');
}

export class LoopbackHub {
  readonly repos = new Map<string, HubRepo>();
  readonly log: RequestLog[] = [];
  faults: Fault[] = [];
  /** Tokens that may read private repos and gated repos. */
  tokens = new Set<string>(['hf_goodtoken123456']);
  activeBodies = 0;
  maxActiveBodies = 0;
  /**
   * Paces every file body to at most this many bytes/s on its connection (0: unlimited, the default), as CDNs
   * limit each connection: several connections get this rate each. Set it before the requests it should pace.
   */
  bodyBytesPerSecond = 0;
  private server = http.createServer((req, res) => this.handle(req, res));
  /** The "CDN" is another origin (another port), as the real Hub redirects LFS files to cdn-lfs hosts. */
  private cdn = http.createServer((req, res) => this.handle(req, res));
  private entries = new Map<string, Map<string, FileEntry>>();
  /**
   * Hostile listings (a file path `../../x`, an API sha `../../..`): the request paths a client builds from them are
   * URL-normalized into paths no route matches; they map here to the repo (its tree) or the file they mean.
   */
  private hostileAliases = new Map<string, {repo: HubRepo; entry?: FileEntry}>();
  url = '';
  cdnUrl = '';

  async start(port = 0): Promise<this> {
    await new Promise<void>((r) => this.server.listen(port, '127.0.0.1', r));
    await new Promise<void>((r) => this.cdn.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    this.cdnUrl = `http://127.0.0.1:${(this.cdn.address() as AddressInfo).port}`;
    this.server.keepAliveTimeout = 5000;
    this.cdn.keepAliveTimeout = 5000;
    return this;
  }

  async close(): Promise<void> {
    for (const s of [this.server, this.cdn]) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
  }

  addRepo(repo: HubRepo): this {
    this.repos.set(repo.id, repo);
    const m = new Map<string, FileEntry>();
    for (const f of repo.files) {
      const size = f.content ? f.content.length : statSync(f.diskPath!).size;
      const lfs = f.lfs ?? (size > 1 << 20 || WEIGHT.test(f.path));
      // Files on disk up to 64 MiB are hashed for real (tiny models served from a folder); larger ones are
      // sparse benchmark files whose hashes the caller gives, or placeholders.
      const body = f.content ?? (size <= 64 * 1024 * 1024 ? readFileSync(f.diskPath!) : undefined);
      const realSha256 = body ? createHash('sha256').update(body).digest('hex') : (f.sha256 ?? '0'.repeat(64));
      const gitSha1 = body ? gitBlobSha1(body) : createHash('sha1').update(f.path + size).digest('hex');
      m.set(f.path, {file: f, size, sha256: f.sha256 ?? realSha256, realSha256, gitSha1, lfs});
    }
    this.entries.set(repo.id, m);
    this.addHostileAliases(repo, m);
    return this;
  }

  private addHostileAliases(repo: HubRepo, m: Map<string, FileEntry>): void {
    const norm = (p: string) => new URL(p, 'http://hub.invalid').pathname;
    for (const rev of [repo.commit, ...(repo.apiSha !== undefined ? [repo.apiSha] : [])]) {
      if (rev !== repo.commit) this.hostileAliases.set(norm(`/api/models/${repo.id}/tree/${rev}`), {repo});
      for (const f of m.values()) {
        const raw = `/${repo.id}/resolve/${encodeURIComponent(rev)}/${f.file.path.split('/').map(encodeURIComponent).join('/')}`;
        if (rev !== repo.commit || norm(raw) !== raw) this.hostileAliases.set(norm(raw), {repo, entry: f});
      }
    }
  }

  fault(f: Fault): this {
    this.faults.push(f);
    return this;
  }

  requestsTo(re: RegExp): RequestLog[] {
    return this.log.filter((l) => re.test(l.path));
  }

  private commitFor(repo: HubRepo, rev: string): string | undefined {
    if (rev === repo.commit || rev === 'HEAD' || rev === 'main') return repo.commit;
    return repo.refs?.[rev] ?? (/^[0-9a-f]{40}$/.test(rev) && Object.values(repo.refs ?? {}).includes(rev) ? rev : undefined);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const u = new URL(req.url ?? '/', this.url);
    const entry: RequestLog = {method: req.method ?? 'GET', path: u.pathname, range: req.headers.range, status: 0, bytes: 0, auth: req.headers.authorization};
    this.log.push(entry);
    const origEnd = res.end.bind(res);
    res.end = ((...a: unknown[]) => {
      entry.status = res.statusCode;
      return (origEnd as (...x: unknown[]) => http.ServerResponse)(...a);
    }) as typeof res.end;

    const fault = this.faults.find((f) => f.times > 0 && f.match.test(u.pathname));
    if (fault && fault.status) {
      fault.times--;
      res.writeHead(fault.status, {'content-type': 'application/json', ...fault.headers});
      res.end(JSON.stringify({error: `injected ${fault.status}`}));
      return;
    }
    if (fault && fault.stallAfter !== undefined && u.pathname.startsWith('/api/')) {
      // An API answer (JSON, chunked) that stops after stallAfter bytes.
      fault.times--;
      const n = fault.stallAfter;
      res.end = ((chunk?: unknown) => {
        res.write(Buffer.from(typeof chunk === 'string' || Buffer.isBuffer(chunk) ? chunk : '').subarray(0, n));
        return res;
      }) as typeof res.end;
    }
    if (fault && fault.redirectLoop) {
      fault.times--;
      res.writeHead(302, {location: req.url ?? '/', 'content-length': '0'});
      res.end();
      return;
    }
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      try {
        this.route(req, res, u, body, entry, fault && bodyFault(fault) && !u.pathname.startsWith('/api/') ? fault : undefined);
      } catch (err) {
        res.writeHead(500);
        res.end(String(err));
      }
    });
  }

  private json(res: http.ServerResponse, status: number, obj: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, {'content-type': 'application/json', ...headers});
    res.end(JSON.stringify(obj));
  }

  private notFound(res: http.ServerResponse, code: string, msg: string): void {
    this.json(res, 404, {error: msg}, {'x-error-code': code, 'x-error-message': msg});
  }

  /** Access check: undefined when allowed, else the answer was sent. */
  private denied(req: http.IncomingMessage, res: http.ServerResponse, repo: HubRepo): boolean {
    const auth = req.headers.authorization ?? '';
    const token = auth.replace(/^Bearer\s+/i, '');
    const ok = token !== '' && this.tokens.has(token);
    if (repo.private && !ok) {
      this.json(res, 401, {error: 'Repository Not Found'}, {'x-error-code': 'RepoNotFound', 'x-error-message': 'Repository not found'});
      return true;
    }
    if (repo.gated && !ok) {
      const status = token === '' ? 401 : 403;
      this.json(res, status, {error: `Access to model ${repo.id} is restricted.`}, {'x-error-code': 'GatedRepo', 'x-error-message': 'Access restricted'});
      return true;
    }
    return false;
  }

  private route(req: http.IncomingMessage, res: http.ServerResponse, u: URL, body: string, log: RequestLog, cut?: Fault): void {
    const alias = this.hostileAliases.get(u.pathname);
    if (alias?.entry) return this.serveBody(req, res, alias.entry, {'x-repo-commit': alias.repo.commit, 'accept-ranges': 'bytes', etag: `"${alias.entry.gitSha1}"`}, log, cut);
    if (alias) return this.route(req, res, new URL(`/api/models/${alias.repo.id}/tree/${alias.repo.commit}${u.search}`, this.url), body, log, cut);
    const p = decodeURIComponent(u.pathname);
    let m: RegExpExecArray | null;
    if (p === '/api/whoami-v2') return this.json(res, 200, {name: 'tester', type: 'user'});
    if ((m = /^\/api\/models\/([^/]+\/[^/]+)(?:\/revision\/(.+))?$/.exec(p))) {
      const repo = this.repos.get(m[1]!);
      if (!repo) return this.notFound(res, 'RepoNotFound', 'Repository not found');
      if (this.denied(req, res, repo)) return;
      const commit = this.commitFor(repo, m[2] ?? 'main');
      if (!commit) return this.notFound(res, 'RevisionNotFound', 'Invalid rev id');
      const files = [...this.entries.get(repo.id)!.values()];
      return this.json(res, 200, {
        _id: 'x' + repo.id, id: repo.id, modelId: repo.id, sha: repo.apiSha ?? commit, private: !!repo.private, gated: repo.gated ?? false,
        disabled: false, downloads: 0, likes: 0, lastModified: '2026-01-01T00:00:00.000Z', createdAt: '2025-01-01T00:00:00.000Z',
        pipeline_tag: 'text-to-image', library_name: 'diffusers', tags: ['diffusers'],
        cardData: repo.license ? {license: repo.license} : {},
        siblings: files.map((f) => (u.searchParams.get('blobs') === 'true'
          ? {rfilename: f.file.path, size: f.size, blobId: f.file.oid ?? f.gitSha1, ...(f.lfs ? {lfs: {sha256: f.sha256, size: f.size, pointerSize: 134}} : {})}
          : {rfilename: f.file.path})),
      });
    }
    if ((m = /^\/api\/models\/([^/]+\/[^/]+)\/tree\/([^/]+)(?:\/(.*))?$/.exec(p))) {
      const repo = this.repos.get(m[1]!);
      if (!repo) return this.notFound(res, 'RepoNotFound', 'Repository not found');
      if (this.denied(req, res, repo)) return;
      const commit = this.commitFor(repo, m[2]!);
      if (!commit) return this.notFound(res, 'RevisionNotFound', 'Invalid rev id');
      const prefix = m[3] ? m[3].replace(/\/$/, '') + '/' : '';
      const recursive = u.searchParams.get('recursive') === 'true';
      const out: unknown[] = [];
      const dirs = new Set<string>();
      for (const f of this.entries.get(repo.id)!.values()) {
        if (!f.file.path.startsWith(prefix)) continue;
        const rest = f.file.path.slice(prefix.length);
        const parts = rest.split('/');
        for (let i = 1; i < parts.length; i++) {
          const d = prefix + parts.slice(0, i).join('/');
          if ((recursive || i === 1) && !dirs.has(d)) {
            dirs.add(d);
            out.push({type: 'directory', oid: createHash('sha1').update(d).digest('hex'), size: 0, path: d});
          }
        }
        if (!recursive && parts.length > 1) continue;
        out.push({type: 'file', oid: f.file.oid ?? f.gitSha1, size: f.size, path: f.file.path, ...(f.lfs ? {lfs: {oid: f.sha256, size: f.size, pointerSize: 134}} : {})});
      }
      return this.json(res, 200, out);
    }
    if ((m = /^\/api\/models\/([^/]+\/[^/]+)\/paths-info\/([^/]+)$/.exec(p)) && req.method === 'POST') {
      const repo = this.repos.get(m[1]!);
      if (!repo) return this.notFound(res, 'RepoNotFound', 'Repository not found');
      if (this.denied(req, res, repo)) return;
      const commit = this.commitFor(repo, m[2]!);
      if (!commit) return this.notFound(res, 'RevisionNotFound', 'Invalid rev id');
      let paths: string[] = [];
      if ((req.headers['content-type'] ?? '').includes('json')) paths = (JSON.parse(body || '{}') as {paths?: string[]}).paths ?? [];
      else paths = new URLSearchParams(body).getAll('paths');
      const ents = this.entries.get(repo.id)!;
      return this.json(res, 200, paths.filter((x) => ents.has(x)).map((x) => {
        const f = ents.get(x)!;
        return {type: 'file', oid: f.gitSha1, size: f.size, path: x, lastCommit: {id: commit, title: 'c', date: '2026-01-01T00:00:00.000Z'},
          ...(f.lfs ? {lfs: {oid: f.sha256, size: f.size, pointerSize: 134}} : {})};
      }));
    }
    if ((m = /^\/cdn\/([0-9a-f]{64})\/(.+)$/.exec(p))) {
      // The "CDN": content by sha256, with its own ETag, Range support, no auth needed.
      const sha = m[1]!;
      for (const ents of this.entries.values()) {
        for (const f of ents.values()) {
          if (f.sha256 === sha && f.file.path === m[2]) return this.serveBody(req, res, f, {etag: `"${f.realSha256}"`}, log, cut);
        }
      }
      return this.json(res, 404, {error: 'no such object'});
    }
    if ((m = /^\/([^/]+\/[^/]+)\/(resolve|raw)\/([^/]+)\/(.+)$/.exec(p))) {
      const repo = this.repos.get(m[1]!);
      if (!repo) return this.notFound(res, 'RepoNotFound', 'Repository not found');
      if (this.denied(req, res, repo)) return;
      const commit = this.commitFor(repo, m[3]!);
      if (!commit) return this.notFound(res, 'RevisionNotFound', 'Invalid rev id');
      const f = this.entries.get(repo.id)!.get(m[4]!);
      if (!f) return this.notFound(res, 'EntryNotFound', 'Entry not found');
      const common = {'x-repo-commit': commit, 'accept-ranges': 'bytes'};
      if (f.lfs && m[2] === 'resolve') {
        res.writeHead(302, {
          ...common,
          location: `${this.cdnUrl}/cdn/${f.sha256}/${encodeURI(f.file.path)}`,
          etag: `"${f.gitSha1}"`,
          'x-linked-etag': `"${f.sha256}"`,
          'x-linked-size': String(f.size),
          'content-length': '0',
        });
        return void res.end();
      }
      return this.serveBody(req, res, f, {...common, etag: `"${f.gitSha1}"`}, log, cut);
    }
    return this.json(res, 404, {error: 'not found'});
  }

  /**
   * Writes bytes start..end of `f` at most `rate` bytes/s: a chunk (about 20 ms worth) goes out only once the time
   * for its bytes has passed since the first byte, so n bytes never leave sooner than n / rate seconds after the
   * start; writes wait for 'drain' (a slow reader is not buffered up in memory).
   */
  private async pacedBody(res: http.ServerResponse, f: FileEntry, start: number, end: number, rate: number, log: RequestLog): Promise<void> {
    // Slow rates (a crawl) go out in small chunks about ten times a second, not one 1 KiB chunk every few seconds.
    const chunk = Math.max(Math.min(1024, Math.ceil(rate / 10)), Math.min(1 << 20, Math.floor(rate / 50)));
    const t0 = performance.now();
    let sent = 0;
    const fh = f.file.content ? undefined : await open(f.file.diskPath!, 'r');
    try {
      for (let pos = start; pos <= end;) {
        const n = Math.min(chunk, end + 1 - pos);
        let buf: Buffer;
        if (f.file.content) {
          buf = f.file.content.subarray(pos, pos + n);
        } else {
          buf = Buffer.allocUnsafe(n);
          const {bytesRead} = await fh!.read(buf, 0, n, pos);
          if (bytesRead !== n) throw new Error(`short read of ${f.file.diskPath}`);
        }
        const wait = t0 + ((sent + n) * 1000) / rate - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        if (res.destroyed) return;
        sent += n;
        pos += n;
        log.bytes += n;
        if (pos > end) {
          res.end(buf);
          return;
        }
        if (!res.write(buf) && !(await drained(res))) return;
      }
    } catch {
      res.destroy();
    } finally {
      await fh?.close();
    }
  }

  private serveBody(req: http.IncomingMessage, res: http.ServerResponse, f: FileEntry, headers: Record<string, string>, log: RequestLog, cut?: Fault): void {
    let start = 0;
    let end = f.size - 1;
    let status = 200;
    const range = cut?.ignoreRange ? undefined : req.headers.range;
    const ifRange = req.headers['if-range'];
    const rangeOk = range && (!ifRange || ifRange === headers.etag);
    if (range && rangeOk) {
      const m = /^bytes=(\d*)-(\d*)$/.exec(range);
      if (m) {
        if (m[1] === '') {
          start = Math.max(0, f.size - Number(m[2]));
        } else {
          start = Number(m[1]);
          if (m[2] !== '') end = Math.min(end, Number(m[2]));
        }
        if (start >= f.size || start > end) {
          res.writeHead(416, {'content-range': `bytes */${f.size}`, ...headers});
          return void res.end();
        }
        status = 206;
      }
    }
    const len = f.size === 0 ? 0 : end - start + 1;
    res.writeHead(status, {
      'content-type': 'application/octet-stream',
      'content-length': String(len + (cut?.extraLength ?? 0)),
      'accept-ranges': 'bytes',
      ...(status === 206 ? {'content-range': `bytes ${start}-${end}/${f.size}`} : {}),
      ...headers,
    });
    if (req.method === 'HEAD' || len === 0) return void res.end();
    this.activeBodies++;
    this.maxActiveBodies = Math.max(this.maxActiveBodies, this.activeBodies);
    const done = () => {
      this.activeBodies--;
    };
    if (cut && (cut.stallAfter !== undefined || cut.extraLength !== undefined)) {
      // Some bytes (all of them for a wrong length), then silence: the connection stays open.
      cut.times--;
      const n = cut.stallAfter ?? len;
      const part = (f.file.content ?? Buffer.alloc(0)).subarray(start, Math.min(end + 1, start + n));
      log.bytes += part.length;
      res.write(part, done);
      return;
    }
    if (cut && cut.bytesPerSecond !== undefined) {
      cut.times--;
      void this.pacedBody(res, f, start, end, cut.bytesPerSecond, log).finally(done);
      return;
    }
    if (cut && cut.ignoreRange) cut.times--;
    if (cut && cut.cutAfter !== undefined) {
      cut.times--;
      const limit = cut.cutAfter!;
      const buf = f.file.content ?? Buffer.alloc(0);
      const part = buf.subarray(start, Math.min(end + 1, start + limit));
      log.bytes += part.length;
      res.write(part, () => {
        done();
        res.socket?.destroy();
      });
      return;
    }
    if (this.bodyBytesPerSecond > 0) {
      void this.pacedBody(res, f, start, end, this.bodyBytesPerSecond, log).finally(done);
      return;
    }
    if (f.file.content) {
      const part = f.file.content.subarray(start, end + 1);
      log.bytes += part.length;
      res.end(part, done);
      return;
    }
    const stream = createReadStream(f.file.diskPath!, {start, end, highWaterMark: 1 << 20});
    stream.on('data', (c) => (log.bytes += c.length));
    stream.on('close', done);
    res.on('close', () => stream.destroy());
    stream.pipe(res);
  }
}

/** Resolves once `res` can take more (true) or its connection is gone (false). */
function drained(res: http.ServerResponse): Promise<boolean> {
  return new Promise((resolve) => {
    const onDrain = () => finish(true);
    const onClose = () => finish(false);
    const finish = (ok: boolean) => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(ok);
    };
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}

export async function startHub(...repos: HubRepo[]): Promise<LoopbackHub> {
  const hub = await new LoopbackHub().start();
  for (const r of repos) hub.addRepo(r);
  return hub;
}

/** A fake 40-hex commit from a seed. */
export function commitOf(seed: string): string {
  return createHash('sha1').update(seed).digest('hex');
}
