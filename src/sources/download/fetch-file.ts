// Downloads one file into place: large files in parallel Range parts, resume from what an earlier run left
// (validated by If-Range), retries on resets/5xx/429, sha256 (or git sha1) verified before the rename.
//
// Partials: a sequential download writes `<dest>.incomplete` (the name huggingface_hub uses, so either tool
// resumes the other's prefix). A download in parts writes `<dest>.mgen-partial` plus a JSON state of its parts
// (written atomically about once a second and on interruption), because its holes would fool a tool that resumes
// from the file size. A failure before any body byte arrived (and with nothing resumed) leaves no partial.
//
// Transfer: bodies are read by raw-get.ts into reused 4 MiB buffers and written with positional writes; parts
// are taken in file order by up to `ranges` connections, and the hash follows in file order on this thread
// (buffers at the hash position are hashed before reuse, parts that came ahead are read back from the page cache).
import {createHash, type Hash} from 'node:crypto';
import {existsSync, mkdirSync, readFileSync, readSync, renameSync, rmSync, statSync} from 'node:fs';
import {setMaxListeners} from 'node:events';
import {dirname} from 'node:path';
import {open, type FileHandle} from 'node:fs/promises';
import {InterruptedError, MgenError, NetworkError} from '../../errors.js';
import {writeFileAtomic} from '../cache/hf-cache.js';
import {checkDownloadPaths} from '../cache/safe-path.js';
import {FileHashWorker} from './hash-worker.js';
import {backoffMs, isAbort, isTransient, type HttpOptions} from '../http.js';
import {getWithRetry, sleep, streamError, withoutAuth} from './http-get.js';

export interface DownloadJob {
  url: string;
  headers?: Record<string, string>;
  size: number;
  sha256?: string;
  /** git blob sha1 (HF regular files), checked when no sha256 is known. */
  gitSha1?: string;
  dest: string;
  label: string;
  /** Hint for 401/403 answers. */
  authHint?: string;
}

export interface DownloadOptions {
  http?: HttpOptions;
  signal?: AbortSignal;
  onBytes?: (n: number) => void;
  /** Files at least this big are fetched in parallel ranges (default 64 MiB). */
  rangeThreshold?: number;
  /** Connections for one file fetched in ranges (default 8, as huggingface_hub's transfer helpers use). */
  ranges?: number;
  /**
   * Size of one range (default 32 MiB): a file is cut into max(ranges, size / partSize) parts, taken in order by
   * the connections, so the finished prefix (what the hasher can read) keeps growing during the transfer.
   */
  partSize?: number;
  /** Bytes/s of one connection above which no more connections are opened (default 128 MiB/s). */
  fastConnection?: number;
  /** Consecutive failures without progress before giving up (default 6). */
  maxStalls?: number;
  /**
   * Files at least this big are hashed in a worker thread that reads them back from the page cache (default: none;
   * hashing the receive buffers on this thread cost less CPU on the bench, and a worker per file much more when
   * several files download at once).
   */
  workerHashThreshold?: number;
}

export interface DownloadResult {
  downloaded: number;
  resumedFrom: number;
  skipped: boolean;
}

/** A downloaded file whose hash or size is not the one announced: exit 5 like other transfer failures. */
export class ChecksumError extends NetworkError {}

interface Segment {
  start: number;
  end: number;
  pos: number;
}

interface State {
  size: number;
  etag?: string;
  segments: Segment[];
}

class RestartNeeded extends Error {
  /** true: the Range request carried no validator, so the server simply does not serve ranges. */
  constructor(readonly noRanges: boolean) {
    super('restart');
  }
}

/** Bytes per second above which one connection is left alone (about 1 Gbit/s, the line rate of most links). */
const FAST_CONNECTION = 128 << 20;
/** A part smaller than this says too little about the link: the other connections join right away. */
const MIN_PROBE = 8 << 20;
/** How long the first connection runs before its rate decides whether the others join (mid-part). */
const PROBE_MS = 500;

function split(start: number, size: number, n: number, partSize: number): Segment[] {
  const len = size - start;
  if (len <= 0) return [];
  const step = Math.ceil(len / Math.max(n, Math.ceil(len / partSize)));
  const out: Segment[] = [];
  for (let s = start; s < size; s += step) out.push({start: s, end: Math.min(size, s + step) - 1, pos: s});
  return out;
}

function makeHasher(job: DownloadJob): Hash | undefined {
  if (job.sha256) return createHash('sha256');
  if (job.gitSha1) return createHash('sha1').update(`blob ${job.size}\0`);
  return undefined;
}



export async function downloadFile(job: DownloadJob, opts: DownloadOptions = {}): Promise<DownloadResult> {
  if (existsSync(job.dest) && statSync(job.dest).size === job.size) return {downloaded: 0, resumedFrom: job.size, skipped: true};
  const seqPath = `${job.dest}.incomplete`;
  const segPath = `${job.dest}.mgen-partial`;
  const statePath = `${segPath}.json`;
  checkDownloadPaths(job.dest, [seqPath, segPath, statePath]);
  const nRanges = job.size >= (opts.rangeThreshold ?? 64 << 20) ? Math.max(1, opts.ranges ?? 8) : 1;

  // Work out where to start from what an earlier run left.
  let state: State | undefined;
  let path: string;
  try {
    const s = JSON.parse(readFileSync(statePath, 'utf8')) as State;
    if (s.size === job.size && existsSync(segPath)) state = s;
  } catch {
    /* no segmented partial */
  }
  if (state) {
    path = segPath;
  } else {
    rmSync(segPath, {force: true});
    rmSync(statePath, {force: true});
    let have = 0;
    try {
      have = statSync(seqPath).size;
    } catch {
      /* none */
    }
    if (have > job.size) {
      rmSync(seqPath, {force: true});
      have = 0;
    }
    if (nRanges > 1 && have === 0) {
      path = segPath;
      state = {size: job.size, segments: split(0, job.size, nRanges, opts.partSize ?? 32 << 20)};
    } else {
      path = seqPath;
      state = {size: job.size, segments: have < job.size ? [{start: have, end: job.size - 1, pos: have}] : []};
    }
  }
  const resumedFrom = state.segments.reduce((a, s) => a + (s.pos - s.start), 0) + (path === seqPath ? (state.segments[0]?.start ?? job.size) : 0);
  let downloaded = 0;

  const wantHash = job.sha256 ? 'sha256' : job.gitSha1 ? 'sha1' : undefined;
  const worker = wantHash && job.size >= (opts.workerHashThreshold ?? Infinity)
    ? new FileHashWorker(wantHash, wantHash === 'sha1' ? `blob ${job.size}\0` : undefined) : undefined;
  const hasher = worker ? undefined : makeHasher(job);
  /** End of the bytes complete on disk from `at` on (a finished region before the first part counts). */
  const doneUpTo = (at: number): number => {
    const seg = state!.segments.find((x) => x.start <= at && at <= x.end);
    return seg ? seg.pos : (state!.segments.find((x) => x.start > at)?.start ?? job.size);
  };
  let workerPos = 0;
  /** Hands the worker every byte that is complete on disk from workerPos on, in file order. */
  const pump = () => {
    if (!worker) return;
    for (;;) {
      const upTo = doneUpTo(workerPos);
      if (upTo <= workerPos) return;
      worker.hashFile(path, workerPos, upTo);
      workerPos = upTo;
    }
  };
  // The hash runs on this thread in file order: bytes that arrive at the hash position are hashed from the
  // receive buffer before it is reused; bytes that arrived ahead of it (later parts, a resumed prefix) are read
  // back from the file (page cache) when the hash position reaches them.
  let hashPos = 0;
  let scratch: Buffer | undefined;
  /** Hashes whatever is complete on disk from hashPos on (synchronous: a page-cache read is under a millisecond,
   * where through the thread pool it would queue behind the parts' writes and fall behind the transfer). */
  const catchUp = (): void => {
    if (!hasher) return;
    for (;;) {
      const upTo = doneUpTo(hashPos);
      if (upTo <= hashPos) return;
      scratch ??= Buffer.allocUnsafe(4 << 20);
      const n = readSync(fh.fd, scratch, 0, Math.min(upTo - hashPos, scratch.length), hashPos);
      if (n <= 0) throw new ChecksumError(`${job.label}: the partial file is shorter than its state says`, {hint: 'run the pull again'});
      hasher.update(scratch.subarray(0, n));
      hashPos += n;
    }
  };

  mkdirSync(dirname(path), {recursive: true});
  const fh: FileHandle = await open(path, existsSync(path) ? 'r+' : 'w+');
  let lastSave = Date.now();
  const saveState = () => {
    if (path === segPath) writeFileAtomic(statePath, JSON.stringify(state));
  };
  const ac = new AbortController();
  // Every connection and backoff wait listens to this signal.
  setMaxListeners(64, ac.signal);
  const onAbort = () => ac.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onAbort, {once: true});

  // After the first answer, later parts go straight to the URL the redirects ended at (a CDN), without the
  // credentials when that is another origin; a refusal there falls back to the original URL.
  let target = job.url;
  const baseHeaders: Record<string, string> = {...job.headers, 'accept-encoding': 'identity'};
  let targetHeaders = baseHeaders;

  const runSegment = async (seg: Segment): Promise<void> => {
    let stalls = 0;
    while (seg.pos <= seg.end) {
      const before = seg.pos;
      try {
        const headers: Record<string, string> = {...targetHeaders};
        if (!(seg.pos === 0 && seg.end === job.size - 1)) headers.range = `bytes=${seg.pos}-${seg.end}`;
        if (state!.etag && headers.range) headers['if-range'] = state!.etag;
        const from = target;
        const res = await getWithRetry(from, headers, {...opts.http, signal: ac.signal});
        if (from !== job.url && res.status !== 200 && res.status !== 206) {
          // The CDN URL expired or moved: ask the original URL again.
          res.body.destroy();
          target = job.url;
          targetHeaders = baseHeaders;
          throw Object.assign(new Error(`terminated: ${res.status} from the redirect target`), {code: 'ECONNRESET'});
        }
        if (res.status === 200 && headers.range) {
          res.body.destroy();
          throw new RestartNeeded(!headers['if-range']);
        }
        if (res.status !== 200 && res.status !== 206) {
          throw await streamError(res, {what: job.label, authHint: job.authHint, secrets: opts.http?.secrets});
        }
        const cr = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(res.header('content-range') ?? '');
        const total = cr ? Number(cr[3]) : Number(res.header('content-length') ?? job.size);
        if (total !== job.size || (cr && Number(cr[1]) !== seg.pos)) {
          res.body.destroy();
          throw new ChecksumError(`${job.label}: the server sent ${total} bytes where ${job.size} were announced`, {hint: 'try again; the file may have changed'});
        }
        const etag = res.header('etag');
        if (etag && !etag.startsWith('W/')) state!.etag = etag;
        if (res.url !== target) {
          target = res.url;
          targetHeaders = new URL(res.url).origin === new URL(job.url).origin ? baseHeaders : withoutAuth(baseHeaders);
        }
        const sink = async (bufs: Buffer[], len: number) => {
          const at = seg.pos;
          if (bufs.length === 1) await fh.write(bufs[0]!, 0, len, at);
          else await fh.writev(bufs, at);
          if (hasher && hashPos === at) {
            for (const b of bufs) hasher.update(b);
            hashPos += len;
          } else if (worker && workerPos === at) {
            await worker.hashBuffers(bufs);
            workerPos += len;
          }
          seg.pos += len;
          pump();
          catchUp();
          downloaded += len;
          opts.onBytes?.(len);
          if (Date.now() - lastSave > 1000) {
            lastSave = Date.now();
            saveState();
          }
          if (ac.signal.aborted) throw new InterruptedError();
        };
        try {
          await res.body.read(sink, seg.end + 1 - seg.pos);
        } finally {
          res.body.destroy();
        }
        if (seg.pos <= seg.end) throw new TypeError('terminated: body ended early');
      } catch (err) {
        if (ac.signal.aborted || isAbort(err)) throw new InterruptedError();
        if (err instanceof MgenError || err instanceof RestartNeeded) throw err;
        if (!isTransient(err)) throw err;
        stalls = seg.pos > before ? 1 : stalls + 1;
        if (stalls > (opts.maxStalls ?? 6)) {
          throw new NetworkError(`${job.label}: the connection kept failing (${String((err as Error).message)})`, {hint: 'run the pull again to resume', cause: err});
        }
        await sleep(backoffMs(stalls - 1, opts.http ?? {}), ac.signal);
      }
    }
  };

  /**
   * Connections take the unfinished parts in file order. One starts; the others join as soon as it runs slower
   * than FAST_CONNECTION (checked PROBE_MS into a part, and again at its end): parallel connections pay off on links
   * that limit each connection (CDNs, long round trips), while on a link where one connection already runs at about
   * line rate they only add CPU (more parts hashed by reading them back) — measured on the loopback bench,
   * bench/RESULTS.md.
   */
  const runAll = async (): Promise<void> => {
    const todo = state!.segments.filter((x) => x.pos <= x.end);
    const maxConns = Math.min(nRanges, todo.length);
    let next = 0;
    let failed: unknown;
    const running: Array<Promise<void>> = [];
    const start = () => {
      running.push(conn().catch((err: unknown) => {
        failed ??= err;
        ac.abort(err);
      }));
    };
    const joinAll = () => {
      while (running.length < maxConns && next < todo.length) start();
    };
    const conn = async () => {
      while (next < todo.length && !ac.signal.aborted) {
        const seg = todo[next++]!;
        const t0 = performance.now();
        const b0 = seg.pos;
        const slow = () => ((seg.pos - b0) * 1000) / Math.max(1, performance.now() - t0) < (opts.fastConnection ?? FAST_CONNECTION);
        // A link that limits each connection shows within a fraction of a second: the others join then, not only
        // after the whole part (at 100 Mbit/s a 32 MiB part takes ~2.7 s).
        let probe: NodeJS.Timeout | undefined;
        if (running.length < maxConns) {
          probe = setInterval(() => {
            if (performance.now() - t0 < PROBE_MS) return;
            clearInterval(probe);
            if (slow()) joinAll();
          }, PROBE_MS / 4);
          probe.unref();
        }
        try {
          await runSegment(seg);
        } finally {
          clearInterval(probe);
        }
        if (running.length < maxConns && (seg.pos - b0 < MIN_PROBE || slow())) joinAll();
      }
    };
    start();
    for (let i = 0; i < running.length; i++) await running[i];
    if (failed !== undefined) throw failed;
  };

  let finished = false;
  try {
    try {
      await runAll();
    } catch (err) {
      if (!(err instanceof RestartNeeded)) throw err;
      // The file changed under us (If-Range failed), or the server ignores ranges: discard the partial.
      await fh.close().catch(() => undefined);
      rmSync(path, {force: true});
      rmSync(statePath, {force: true});
      finished = true;
      // A server without ranges: the whole file in one request (a later cut starts it over).
      if (err.noRanges && (nRanges > 1 || resumedFrom > 0)) return await downloadFile(job, {...opts, rangeThreshold: Infinity});
      throw new NetworkError(`${job.label}: the file changed on the server since the partial download; the partial was discarded`, {hint: 'run the pull again'});
    }
    let got: string | undefined;
    if (worker) {
      pump();
      got = await worker.digest();
    } else if (hasher) {
      catchUp();
      if (hashPos !== job.size) throw new ChecksumError(`${job.label}: hashed ${hashPos} of ${job.size} bytes`);
      got = hasher.digest('hex');
    }
    await fh.sync().catch(() => undefined);
    await fh.close();
    const size = statSync(path).size;
    if (size !== job.size) throw new ChecksumError(`${job.label}: got ${size} bytes, expected ${job.size}`);
    if (got !== undefined) {
      const want = job.sha256 ?? job.gitSha1!;
      if (got !== want) {
        rmSync(path, {force: true});
        rmSync(statePath, {force: true});
        throw new ChecksumError(`${job.label}: checksum mismatch (expected ${job.sha256 ? 'sha256' : 'git sha1'} ${want.slice(0, 12)}…, got ${got.slice(0, 12)}…); the download was discarded`, {
          hint: 'run the pull again; if it persists the file on the server is not the one its listing announces',
        });
      }
    }
    renameSync(path, job.dest);
    rmSync(statePath, {force: true});
    finished = true;
    return {downloaded, resumedFrom, skipped: false};
  } finally {
    worker?.close();
    opts.signal?.removeEventListener('abort', onAbort);
    if (!finished) {
      await fh.close().catch(() => undefined);
      if (downloaded === 0 && resumedFrom === 0) {
        // No body byte ever reached the partial (refused certificate, connection refused, 404, Ctrl-C while
        // connecting): there is nothing to resume, so no empty partial (or state of it) is left behind.
        rmSync(path, {force: true});
        rmSync(statePath, {force: true});
      } else if (existsSync(path)) {
        saveState();
      }
    }
  }
}
