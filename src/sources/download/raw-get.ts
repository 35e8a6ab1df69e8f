// A lean HTTP/1.1 GET for file bodies: one connection per request (net or tls), the response head parsed here,
// and the body read by the socket straight into a few large reusable buffers (net/tls `onread`). A 2 GB body
// then costs a few thousand callbacks and no per-chunk allocations, where node:http's parser and streams cost
// about 1.3 s of CPU per GB on the project machine (bench/RESULTS.md, "## pull").
// Anything this reader does not handle (chunked or compressed bodies) is refused with `unsupported`, and the
// caller uses node:http instead.
import net from 'node:net';
import tls from 'node:tls';
import {hostPath, stallLimits, StallWatch, type StallLimits} from '../http.js';

/** Size of one receive buffer; a full buffer is handed to the sink as one write. */
export const SLAB = 4 << 20;
/** The longest a partly filled receive buffer waits before it is handed to the sink. */
const HANDOFF_MS = 250;
/** Buffers handed to the sink and not yet given back before the socket pauses (memory <= (this + 1) * SLAB). */
const MAX_IN_FLIGHT = 3;
const MAX_HEAD = 64 << 10;

export type Sink = (bufs: Buffer[], len: number) => Promise<void> | void;

export interface RawBody {
  /**
   * Reads the body (at most `limit` bytes), handing filled buffers to `sink` in order; a buffer is reused once the
   * sink's promise resolves, so the sink must be done with it by then. Resolves with the byte count when the body
   * is complete; rejects on a cut connection after the sink has seen every byte that arrived.
   */
  read(sink: Sink, limit: number): Promise<number>;
  /** Up to `max` characters of the body (error answers). */
  text(max: number): Promise<string>;
  destroy(): void;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: RawBody;
}

export class UnsupportedResponse extends Error {}

function parseHead(text: string): {status: number; headers: Record<string, string>} {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (!m) throw Object.assign(new Error(`bad HTTP status line: ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`), {code: 'ECONNRESET'});
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i <= 0) continue;
    const k = l.slice(0, i).trim().toLowerCase();
    const v = l.slice(i + 1).trim();
    headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
  }
  return {status: Number(m[1]), headers};
}

const IDLE_MS = 4000;

/**
 * Starts reading again after the onread callback returned false. That stops the handle without pausing the
 * stream, so `resume()` would do nothing; `_read` restarts the handle when it is not reading.
 */
function readOn(sock: net.Socket): void {
  sock._read(0);
}

class ConnClosed extends Error {
  code = 'ECONNRESET';
}

/**
 * One kept-alive connection. Its receive buffers belong to it and are reused across requests; `req` is the
 * request in progress (at most one: no pipelining).
 */
class Conn {
  readonly sock: net.Socket;
  cur: Buffer = Buffer.allocUnsafeSlow(SLAB);
  fill = 0;
  free: Buffer[] = [];
  req?: Req;
  /** Requests answered on this connection (a failure before the first head byte of a reused one is retried). */
  served = 0;
  closed = false;
  private idleTimer?: NodeJS.Timeout;

  constructor(readonly key: string, url: URL) {
    const secure = url.protocol === 'https:';
    const port = Number(url.port || (secure ? 443 : 80));
    const host = url.hostname.replace(/^\[|\]$/g, '');
    // A full buffer is always swapped out in the callback, so the next read always has room.
    const onread = {buffer: () => this.cur.subarray(this.fill), callback: (n: number) => this.onRead(n)};
    this.sock = secure
      ? tls.connect({host, port, servername: net.isIP(host) ? undefined : host, onread} as tls.ConnectionOptions)
      : net.connect({host, port, onread});
    this.sock.setNoDelay(true);
    const gone = (err?: Error) => {
      this.closed = true;
      this.unpool();
      this.req?.fail(err ?? new ConnClosed('terminated: other side closed'));
    };
    this.sock.on('error', gone);
    this.sock.on('end', () => gone());
    this.sock.on('close', () => gone());
  }

  private onRead(n: number): boolean {
    this.fill += n;
    if (!this.req) {
      // Bytes nobody asked for: this connection cannot be trusted any more.
      this.destroy();
      return false;
    }
    return this.req.onRead(n);
  }

  /** Back to the pool after a body read to its exact end; otherwise closed. */
  release(reusable: boolean): void {
    this.req = undefined;
    if (!reusable || this.closed || this.fill !== 0) return this.destroy();
    this.served++;
    const list = pool.get(this.key) ?? [];
    list.push(this);
    pool.set(this.key, list);
    this.idleTimer = setTimeout(() => this.destroy(), IDLE_MS);
    this.idleTimer.unref();
    this.sock.unref();
  }

  take(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.sock.ref();
  }

  private unpool(): void {
    const list = pool.get(this.key);
    const i = list?.indexOf(this) ?? -1;
    if (i >= 0) list!.splice(i, 1);
  }

  destroy(): void {
    this.closed = true;
    this.unpool();
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.sock.destroy();
  }
}

const pool = new Map<string, Conn[]>();

/** One request/response on a connection. */
class Req {
  state: 'head' | 'wait' | 'body' | 'done' = 'head';
  remaining = 0;
  got = 0;
  length = -1;
  keepAlive = false;
  inFlight = 0;
  paused = false;
  failure?: Error;
  chain: Promise<void> = Promise.resolve();
  sink?: Sink;
  bodyDone?: (n: number) => void;
  bodyFail?: (e: Error) => void;
  headers: Record<string, string> = {};
  sawBytes = false;
  handedAt = Date.now();
  pre: Buffer = Buffer.alloc(0);
  /** Fails the request when the head or the body stops coming (or crawls) while we read. */
  readonly watch: StallWatch;

  constructor(readonly conn: Conn, readonly onHead: (r: Req) => void, readonly onHeadError: (e: Error, retry: boolean) => void, readonly signal: AbortSignal | undefined, where: string, limits: StallLimits) {
    this.watch = new StallWatch(limits, where, (e) => this.fail(e));
  }

  readonly onAbort = () => this.fail(Object.assign(new Error('aborted'), {name: 'AbortError'}));

  onRead(n: number): boolean {
    const c = this.conn;
    this.sawBytes = true;
    if (this.state === 'head' || this.state === 'body') this.watch.bytes(n);
    if (this.state === 'head') {
      const at = c.cur.subarray(0, c.fill).indexOf('\r\n\r\n');
      if (at < 0) {
        if (c.fill >= MAX_HEAD) this.fail(new ConnClosed('HTTP response head too large'));
        return true;
      }
      let head;
      try {
        head = parseHead(c.cur.toString('latin1', 0, at));
      } catch (err) {
        this.fail(err as Error);
        return false;
      }
      // Body bytes that came with the head are moved out, so the socket's next read lands at the start of the
      // buffer: the buffer it reads into is set only from this callback, never between reads.
      this.pre = Buffer.from(c.cur.subarray(at + 4, c.fill));
      c.fill = 0;
      this.state = 'wait';
      this.headers = head.headers;
      const cl = head.headers['content-length'];
      this.length = cl !== undefined && /^\d+$/.test(cl) ? Number(cl) : -1;
      this.keepAlive = this.length >= 0 && !head.headers['transfer-encoding'] && !/close/i.test(head.headers.connection ?? '');
      this.status = head.status;
      // Nobody reads until the caller asks for the body.
      this.watch.pause();
      this.onHead(this);
      return false;
    }
    if (this.state === 'body') {
      this.got += n;
      if (this.got >= this.remaining) {
        c.fill -= this.got - this.remaining;
        const extra = this.got - this.remaining;
        this.got = this.remaining;
        this.finish(extra === 0);
        return false;
      }
      // A full buffer goes to the sink as one write; on a slow link a partly filled one goes after HANDOFF_MS, so
      // progress (bytes on disk) keeps moving and a cut loses little.
      if (c.fill === c.cur.length || Date.now() - this.handedAt >= HANDOFF_MS) this.handOff();
      return !this.paused;
    }
    return false;
  }

  status = 0;

  /** Hands the filled part of the connection's current buffer to the sink and gives the connection a free one
   * (only from the onread callback, which is where the socket learns its next buffer). */
  handOff(): void {
    const c = this.conn;
    if (c.fill === 0) return;
    const buf = c.cur;
    const len = c.fill;
    this.handedAt = Date.now();
    c.cur = c.free.pop() ?? Buffer.allocUnsafeSlow(SLAB);
    c.fill = 0;
    this.deliver(buf.subarray(0, len), () => c.free.push(buf));
  }

  private deliver(buf: Buffer, recycle?: () => void): void {
    const c = this.conn;
    this.inFlight++;
    this.chain = this.chain.then(() => this.sink!([buf], buf.length)).then(() => {
      this.inFlight--;
      recycle?.();
      if (this.paused && this.inFlight < MAX_IN_FLIGHT && !this.failure) {
        this.paused = false;
        if (this.state === 'body') {
          this.watch.restartWindow();
          this.watch.arm();
        }
        readOn(c.sock);
      }
    });
    this.chain.catch((err: Error) => this.fail(err));
    if (this.inFlight >= MAX_IN_FLIGHT) {
      // Waiting on our own sink (the disk) is not the server's stall.
      this.paused = true;
      this.watch.pause();
    }
  }

  /** The body was read up to `remaining`; the connection is reused when that was all of it. */
  finish(exact: boolean): void {
    this.state = 'done';
    this.watch.stop();
    this.handOff();
    this.signal?.removeEventListener('abort', this.onAbort);
    const reusable = exact && this.keepAlive && this.remaining === this.length;
    void this.chain.then(() => {
      this.conn.release(reusable);
      this.bodyDone?.(this.got);
    }, (err: Error) => {
      this.conn.destroy();
      this.bodyFail?.(err);
    });
  }

  fail(err: Error): void {
    if (this.failure || this.state === 'done') return;
    this.failure = err;
    this.watch.stop();
    this.signal?.removeEventListener('abort', this.onAbort);
    // Bytes that arrived before a cut are good: the sink gets them before the read rejects.
    if (this.state === 'body') this.handOff();
    const wasHead = this.state === 'head';
    this.state = 'done';
    this.conn.destroy();
    if (wasHead) this.onHeadError(err, this.conn.served > 0 && !this.sawBytes && err.name !== 'AbortError');
    // The body reader rejects once every handed-off buffer has been consumed.
    else if (this.bodyFail) void this.chain.then(() => this.bodyFail!(err), () => this.bodyFail!(err));
  }

  body(): RawBody {
    const body: RawBody = {
      read: (s, limit) => new Promise<number>((resolve, reject) => {
        if (this.failure) return reject(this.failure);
        if (this.state !== 'wait') return reject(new Error('body already read'));
        this.sink = s;
        this.bodyDone = resolve;
        this.bodyFail = reject;
        this.remaining = this.length >= 0 ? Math.min(limit, this.length) : limit;
        this.state = 'body';
        const take = Math.min(this.pre.length, this.remaining);
        if (take > 0) this.deliver(this.pre.subarray(0, take));
        this.got = take;
        if (this.got >= this.remaining) return this.finish(this.pre.length === take);
        if (!this.paused) this.watch.arm();
        readOn(this.conn.sock);
      }),
      text: async (max) => {
        let out = '';
        // Without a length (chunked) the end of the body is not known here: no detail rather than a wait.
        if (this.length < 0) {
          body.destroy();
          return '';
        }
        await body.read((bufs) => {
          for (const b of bufs) out += b.toString('utf8');
        }, max).catch(() => undefined);
        return out.slice(0, max);
      },
      destroy: () => {
        this.watch.stop();
        if (this.state === 'done') return;
        this.state = 'done';
        this.signal?.removeEventListener('abort', this.onAbort);
        this.conn.destroy();
      },
    };
    return body;
  }
}

/**
 * One GET; resolves when the response head has arrived (the body is not read yet). Connections are kept alive
 * per origin and reused when a body was read to its end, so parts after the first skip the TCP/TLS handshake and
 * slow start.
 */
export function rawGet(url: URL, headers: Record<string, string>, signal?: AbortSignal, limits: StallLimits = stallLimits()): Promise<RawResponse> {
  const key = `${url.protocol}//${url.host}`;
  const where = hostPath(url);
  const attempt = (fresh: boolean): Promise<RawResponse> => new Promise((resolve, reject) => {
    let conn = fresh ? undefined : pool.get(key)?.pop();
    if (conn) conn.take();
    else conn = new Conn(key, url);
    const req: Req = new Req(conn, (r) => resolve({status: r.status, headers: r.headers, body: r.body()}), (err, retry) => {
      if (retry) attempt(true).then(resolve, reject);
      else reject(err);
    }, signal, where, limits);
    conn.req = req;
    if (signal?.aborted) return req.onAbort();
    signal?.addEventListener('abort', req.onAbort, {once: true});
    const lines = [`GET ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`];
    for (const [k, v] of Object.entries(headers)) if (!/^(host|connection)$/i.test(k)) lines.push(`${k}: ${v}`);
    conn.sock.write(lines.join('\r\n') + '\r\n\r\n');
    req.watch.arm();
    readOn(conn.sock);
  });
  return attempt(false);
}
