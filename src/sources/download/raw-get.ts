// A lean HTTP/1.1 GET for file bodies: one connection per request (net or tls), the response head parsed here,
// and the body read by the socket straight into a few large reusable buffers (net/tls `onread`). A 2 GB body
// then costs a few thousand callbacks and no per-chunk allocations, where node:http's parser and streams cost
// about 1.3 s of CPU per GB on the project machine (bench/RESULTS.md, "## pull").
// Anything this reader does not handle (chunked or compressed bodies) is refused with `unsupported`, and the
// caller uses node:http instead.
import net from 'node:net';
import tls from 'node:tls';

/** Size of one receive buffer; a full buffer is handed to the sink as one write. */
export const SLAB = 4 << 20;
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

/** One GET on a fresh connection; resolves when the response head has arrived (the body is not read yet). */
export function rawGet(url: URL, headers: Record<string, string>, signal?: AbortSignal): Promise<RawResponse> {
  return new Promise((resolveHead, rejectHead) => {
    const secure = url.protocol === 'https:';
    const port = Number(url.port || (secure ? 443 : 80));
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const free: Buffer[] = [];
    let cur: Buffer = Buffer.allocUnsafeSlow(SLAB);
    let fill = 0;
    let inFlight = 0;
    let state: 'head' | 'wait' | 'body' | 'done' = 'head';
    let remaining = 0;
    let got = 0;
    let sink: Sink | undefined;
    let bodyDone: ((n: number) => void) | undefined;
    let bodyFail: ((e: Error) => void) | undefined;
    let failure: Error | undefined;
    let chain: Promise<void> = Promise.resolve();
    let paused = false;
    let parsed: Record<string, string> = {};

    // A full buffer is always swapped out in the callback, so the next read always has room.
    const next = (): Buffer => cur.subarray(fill);
    const fail = (err: Error) => {
      if (failure) return;
      failure = err;
      // Bytes that arrived before a cut are good: the sink gets them before the read rejects.
      if (state === 'body') handOff();
      if (state === 'head') rejectHead(err);
      // The body reader rejects once every handed-off buffer has been consumed.
      else if (bodyFail) void chain.then(() => bodyFail!(err), () => bodyFail!(err));
      close();
    };
    /** Hands the filled part of the current buffer to the sink and takes a free one. */
    const handOff = () => {
      if (fill === 0) return;
      const buf = cur;
      const len = fill;
      cur = free.pop() ?? Buffer.allocUnsafeSlow(SLAB);
      fill = 0;
      inFlight++;
      chain = chain.then(() => sink!([buf.subarray(0, len)], len)).then(() => {
        inFlight--;
        free.push(buf);
        if (paused && inFlight < MAX_IN_FLIGHT && !failure) {
          paused = false;
          sock.resume();
        }
      });
      chain.catch((err: Error) => fail(err));
      if (inFlight >= MAX_IN_FLIGHT) paused = true;
    };
    const finish = () => {
      state = 'done';
      handOff();
      close();
      void chain.then(() => bodyDone?.(got), (err: Error) => bodyFail?.(err));
    };

    const onread = (nread: number): boolean => {
      fill += nread;
      if (state === 'head') {
        const at = cur.subarray(0, fill).indexOf('\r\n\r\n');
        if (at < 0) {
          if (fill >= MAX_HEAD) fail(Object.assign(new Error('HTTP response head too large'), {code: 'ECONNRESET'}));
          return true;
        }
        let head;
        try {
          head = parseHead(cur.toString('latin1', 0, at));
        } catch (err) {
          fail(err as Error);
          return false;
        }
        cur.copyWithin(0, at + 4, fill);
        fill -= at + 4;
        state = 'wait';
        parsed = head.headers;
        resolveHead({status: head.status, headers: head.headers, body});
        return false;
      }
      if (state === 'body') {
        got += nread;
        if (got >= remaining) {
          fill -= got - remaining;
          got = remaining;
          finish();
          return false;
        }
        if (fill === cur.length) handOff();
        return !paused;
      }
      return false;
    };

    const sock: net.Socket = secure
      ? tls.connect({host, port, servername: net.isIP(host) ? undefined : host, onread: {buffer: next, callback: onread}} as tls.ConnectionOptions)
      : net.connect({host, port, onread: {buffer: next, callback: onread}});
    sock.setNoDelay(true);
    sock.on('error', (err) => fail(err));
    sock.on('end', () => {
      if (state !== 'done') fail(Object.assign(new Error('terminated: other side closed'), {code: 'ECONNRESET'}));
    });
    sock.on('close', () => {
      if (state !== 'done') fail(Object.assign(new Error('terminated: socket closed'), {code: 'ECONNRESET'}));
    });
    function close() {
      signal?.removeEventListener('abort', onAbort);
      sock.destroy();
    }
    const onAbort = () => fail(Object.assign(new Error('aborted'), {name: 'AbortError'}));
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, {once: true});

    const lines = [`GET ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`, 'Connection: close'];
    for (const [k, v] of Object.entries(headers)) if (!/^(host|connection)$/i.test(k)) lines.push(`${k}: ${v}`);
    sock.write(lines.join('\r\n') + '\r\n\r\n');

    const body: RawBody = {
      read(s, limit) {
        return new Promise<number>((resolve, reject) => {
          if (failure) return reject(failure);
          if (state !== 'wait') return reject(new Error('body already read'));
          sink = s;
          bodyDone = resolve;
          bodyFail = reject;
          remaining = limit;
          state = 'body';
          got = fill;
          if (got >= remaining) {
            fill -= got - remaining;
            got = remaining;
            finish();
            return;
          }
          if (remaining === 0) return finish();
          sock.resume();
        });
      },
      async text(max) {
        let out = '';
        const n = Math.min(max, Number(parsed['content-length'] ?? max));
        await body.read((bufs) => {
          for (const b of bufs) out += b.toString('utf8');
        }, n).catch(() => undefined);
        return out.slice(0, max);
      },
      destroy() {
        state = 'done';
        close();
      },
    };
  });
}
