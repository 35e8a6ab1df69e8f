// Downloads one file into place: large files in parallel Range parts, resume from what an earlier run left
// (validated by If-Range), retries on resets/5xx/429, sha256 (or git sha1) verified before the rename.
//
// Partials: a sequential download writes `<dest>.incomplete` (the name huggingface_hub uses, so either tool
// resumes the other's prefix). A download in parts writes `<dest>.mgen-partial` plus a JSON state of its parts
// (written atomically about once a second and on interruption), because its holes would fool a tool that resumes
// from the file size.
// A failure before any body byte arrived (and with nothing resumed) leaves no partial.
//
// Before any transfer: the announced size must be a sane number (at most maxFileBytes, default 1 TiB), the bytes
// still to write must fit the free disk space (statfs, minus what other downloads of this process still write),
// and the first answer's Content-Length / Content-Range must agree with it before other connections join. Parts
// are cut lazily (the state holds the parts handed out, never one entry per part of the file). A full disk
// (ENOSPC/EDQUOT) is a StorageError (exit 7) naming the path and the bytes needed; the partial is then removed:
// keeping it would keep the disk full, and resuming it needs the whole remainder freed anyway.
// Stalls (no byte for MGEN_HTTP_TIMEOUT, or a crawl) are retried and resumed like cuts; an attempt that stalled
// without moving at least minBytesPerSecond counts as a failure without progress.
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
import {checkDownloadPaths} from '../cache/safe-path.js';
import {FileHashWorker} from './hash-worker.js';
import {backoffMs, hostPath, isAbort, isTransient, stallLimits, StallError, type HttpOptions} from '../http.js';
import {isNoSpace, noSpaceError, reserveSpace, writeSmallFileAtomic, type FreeSpaceProbe, type SpaceReservation} from './disk-space.js';
import {getWithRetry, sleep, streamError, withoutAuth} from './http-get.js';
import {formatBytes} from './progress.js';

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
  /** Largest size a listing may announce (default 1 TiB): a bigger one is refused before anything is planned. */
  maxFileBytes?: number;
  /** Free bytes on the filesystem of a folder (default statfs); injectable for tests. */
  freeBytes?: FreeSpaceProbe;
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
  /** Parts handed out and not yet finished (finished ones are dropped), in file order. */
  segments: Segment[];
  /** Everything from here to the end is untouched (absent: nothing is; older states list every part). */
  next?: number;
  /** Size of the parts cut from `next` on. */
  step?: number;
}

/** Default cap on an announced file size (the largest model files are a few hundred GB). */
export const MAX_FILE_BYTES = 2 ** 40;

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

/** Part size for `len` bytes: max(n, len / partSize) parts (arithmetic only: the parts are cut when taken). */
function partStep(len: number, n: number, partSize: number): number {
  return Math.max(1, Math.ceil(len / Math.max(n, Math.ceil(len / partSize))));
}

function makeHasher(job: DownloadJob): Hash | undefined {
  if (job.sha256) return createHash('sha256');
  if (job.gitSha1) return createHash('sha1').update(`blob ${job.size}\0`);
  return undefined;
}



export async function downloadFile(job: DownloadJob, opts: DownloadOptions = {}): Promise<DownloadResult> {
  const cap = opts.maxFileBytes ?? MAX_FILE_BYTES;
  if (!Number.isSafeInteger(job.size) || job.size < 0 || job.size > cap) {
    throw new NetworkError(`${job.label}: the listing announces a size of ${job.size} bytes, more than mgen downloads (${formatBytes(cap)}); refused`, {
      hint: 'the server sent a bad listing',
    });
  }
  try {
    return await downloadChecked(job, opts);
  } catch (err) {
    if (!isNoSpace(err)) throw err;
    // A full disk: free what this download holds (partial, state, temp files) and say what was needed.
    for (const p of [`${job.dest}.incomplete`, `${job.dest}.mgen-partial`, `${job.dest}.mgen-partial.json`]) rmSync(p, {force: true});
    throw noSpaceError(job.dest, job.size, 'the partial download was removed to free the space', err);
  }
}

async function downloadChecked(job: DownloadJob, opts: DownloadOptions): Promise<DownloadResult> {
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
    state.next ??= job.size;
    state.segments = state.segments.filter((x) => x.pos <= x.end);
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
      state = {size: job.size, segments: [], next: 0, step: partStep(job.size, nRanges, opts.partSize ?? 32 << 20)};
    } else {
      path = seqPath;
      state = {size: job.size, segments: have < job.size ? [{start: have, end: job.size - 1, pos: have}] : [], next: job.size};
    }
  }
  state.step ??= partStep(job.size - state.next!, nRanges, opts.partSize ?? 32 << 20);
  /** Bytes still to write: the untouched tail and the rest of each unfinished part. */
  const toWrite = () => job.size - state!.next! + state!.segments.reduce((a, s) => a + (s.end + 1 - s.pos), 0);
  const resumedFrom = job.size - toWrite();
  let downloaded = 0;

  mkdirSync(dirname(path), {recursive: true});
  const space: SpaceReservation = await reserveSpace(dirname(path), job.dest, toWrite(), opts.freeBytes);

  const wantHash = job.sha256 ? 'sha256' : job.gitSha1 ? 'sha1' : undefined;
  const worker = wantHash && job.size >= (opts.workerHashThreshold ?? Infinity)
    ? new FileHashWorker(wantHash, wantHash === 'sha1' ? `blob ${job.size}\0` : undefined) : undefined;
  const hasher = worker ? undefined : makeHasher(job);
  /** End of the bytes complete on disk from `at` on (a finished region before the first part counts). */
  const doneUpTo = (at: number): number => {
    const seg = state!.segments.find((x) => x.start <= at && at <= x.end);
    if (seg) return seg.pos;
    if (at >= state!.next!) return at;
    return Math.min(state!.next!, state!.segments.find((x) => x.start > at)?.start ?? job.size);
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

  let fh: FileHandle;
  try {
    fh = await open(path, existsSync(path) ? 'r+' : 'w+');
  } catch (err) {
    space.release();
    throw err;
  }
  let lastSave = Date.now();
  const saveState = () => {
    if (path === segPath) writeSmallFileAtomic(statePath, JSON.stringify(state));
  };
  const limits = stallLimits(opts.http);
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
      const t0 = Date.now();
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
          // Same ETag as the partial's: the file did not change, the server just ignores Range.
          const same = !!headers['if-range'] && res.header('etag') === headers['if-range'];
          throw new RestartNeeded(!headers['if-range'] || same);
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
          space.used(len);
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
        if ((err instanceof MgenError && !(err instanceof StallError)) || err instanceof RestartNeeded) throw err;
        if (!isTransient(err)) throw err;
        // Progress resets the count, unless it came at a crawl before a stall (a server that sends a few bytes
        // per connection and then goes silent must not keep us busy forever).
        const moved = seg.pos - before;
        const crawled = err instanceof StallError && (moved * 1000) / Math.max(1, Date.now() - t0) < limits.minBytesPerSecond;
        stalls = moved > 0 && !crawled ? 1 : stalls + 1;
        if (stalls > (opts.maxStalls ?? 6)) {
          if (err instanceof StallError) {
            throw new NetworkError(`${job.label}: ${err.message}; gave up after ${stalls} attempts`, {hint: 'run the pull again to resume', cause: err});
          }
          throw new NetworkError(`${job.label}: the connection to ${hostPath(target)} kept failing (${String((err as Error).message)})`, {hint: 'run the pull again to resume', cause: err});
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
    const st = state!;
    const pending = st.segments.filter((x) => x.pos <= x.end);
    const step = st.step!;
    const maxConns = Math.min(nRanges, pending.length + Math.ceil((job.size - st.next!) / step));
    /** The next part in file order: a resumed unfinished one, else one cut from the untouched tail. */
    const take = (): Segment | undefined => {
      const resumed = pending.shift();
      if (resumed) return resumed;
      if (st.next! >= job.size) return undefined;
      const seg = {start: st.next!, end: Math.min(job.size, st.next! + step) - 1, pos: st.next!};
      st.segments.push(seg);
      st.next = seg.end + 1;
      return seg;
    };
    const more = () => pending.length > 0 || st.next! < job.size;
    let failed: unknown;
    const running: Array<Promise<void>> = [];
    const start = () => {
      running.push(conn().catch((err: unknown) => {
        failed ??= err;
        ac.abort(err);
      }));
    };
    const joinAll = () => {
      while (running.length < maxConns && more()) start();
    };
    const conn = async () => {
      while (more() && !ac.signal.aborted) {
        const seg = take()!;
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
        // A finished part needs no entry: what lies before `next` outside the listed parts is complete.
        const i = st.segments.indexOf(seg);
        if (i >= 0) st.segments.splice(i, 1);
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
  } catch (err) {
    if (isNoSpace(err)) {
      // The caller removes the partial; the state is not written again (that write would fail the same way).
      finished = true;
      await fh.close().catch(() => undefined);
    }
    throw err;
  } finally {
    worker?.close();
    space.release();
    opts.signal?.removeEventListener('abort', onAbort);
    if (!finished) {
      await fh.close().catch(() => undefined);
      if (downloaded === 0 && resumedFrom === 0) {
        // No body byte ever reached the partial (refused certificate, connection refused, 404, Ctrl-C while
        // connecting): there is nothing to resume, so no empty partial (or state of it) is left behind.
        rmSync(path, {force: true});
        rmSync(statePath, {force: true});
      } else if (existsSync(path)) {
        try {
          saveState();
        } catch {
          /* the state stays as last saved (older, so safe: it claims less than is on disk) */
        }
      }
    }
  }
}
