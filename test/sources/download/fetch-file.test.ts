import {afterAll, afterEach, beforeAll, beforeEach, describe, expect, it} from '@jest/globals';
import {createHash} from 'node:crypto';
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import http from 'node:http';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {ChecksumError, downloadFile} from '../../../src/sources/download/fetch-file.js';
import {rawGet} from '../../../src/sources/download/raw-get.js';
import {commitOf, LoopbackHub, startHub} from '../../helpers/loopback-hub.js';

const MiB = 1 << 20;
const big = Buffer.alloc(3 * MiB);
for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i);
const bigSha = createHash('sha256').update(big).digest('hex');

let hub: LoopbackHub;
let dir: string;
beforeAll(async () => {
  hub = await startHub();
  hub.addRepo({id: 'org/big', commit: commitOf('big'), files: [{path: 'big.safetensors', content: big}]});
});
afterAll(async () => hub.close());
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mgen-dl-'));
  hub.faults = [];
});
afterEach(() => rmSync(dir, {recursive: true, force: true}));

const url = () => `${hub.url}/org/big/resolve/${commitOf('big')}/big.safetensors`;
const job = () => ({url: url(), size: big.length, sha256: bigSha, dest: join(dir, 'blob'), label: 'org/big/big.safetensors'});
const cdnSince = (n: number) => hub.log.slice(n).filter((l) => l.path.startsWith('/cdn/'));

/** A segmented partial as an interrupted run leaves it: parts 0 and 1 done, part 2 half done, part 3 not started. */
function leavePartial(corrupt = false): void {
  const part = big.length / 4;
  const file = Buffer.alloc(big.length);
  big.copy(file, 0, 0, 2.5 * part);
  if (corrupt) file[10] ^= 0xff;
  writeFileSync(join(dir, 'blob.mgen-partial'), file);
  writeFileSync(join(dir, 'blob.mgen-partial.json'), JSON.stringify({
    size: big.length,
    segments: [0, 1, 2, 3].map((i) => ({start: i * part, end: (i + 1) * part - 1, pos: i < 2 ? (i + 1) * part : i === 2 ? 2.5 * part : 3 * part})),
  }));
}

describe('downloadFile in parallel ranges', () => {
  it('resumes a partly finished multi-part file: only the unfinished parts are fetched, and the whole file is verified', async () => {
    leavePartial();
    const before = hub.log.length;
    const r = await downloadFile(job(), {rangeThreshold: MiB, ranges: 4});
    const part = big.length / 4;
    expect(cdnSince(before).map((l) => l.range).sort()).toEqual([`bytes=${2.5 * part}-${3 * part - 1}`, `bytes=${3 * part}-${4 * part - 1}`]);
    expect(r.downloaded).toBe(1.5 * part);
    expect(r.resumedFrom).toBe(2.5 * part);
    expect(readFileSync(job().dest).equals(big)).toBe(true);
    expect(readdirSync(dir)).toEqual(['blob']);
  });

  it('a finished part that is wrong on disk fails the sha256: exit 5, partial and state removed, nothing in place', async () => {
    leavePartial(true);
    const err = await downloadFile(job(), {rangeThreshold: MiB, ranges: 4}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChecksumError);
    expect((err as ChecksumError).exitCode).toBe(5);
    expect(String((err as Error).message)).toMatch(/checksum mismatch/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a connection cut inside one part: that part resumes where the cut left it, the others are untouched', async () => {
    hub.fault({match: /^\/cdn\//, times: 1, cutAfter: 300_000});
    const before = hub.log.length;
    const r = await downloadFile(job(), {rangeThreshold: MiB, ranges: 4, http: {baseDelayMs: 5}});
    const ranges = cdnSince(before).map((l) => l.range!);
    expect(ranges.length).toBe(5);
    const cutPart = Number(/bytes=(\d+)-/.exec(ranges[0]!)![1]);
    expect(ranges).toContain(`bytes=${cutPart + 300_000}-${cutPart + big.length / 4 - 1}`);
    expect(r.downloaded).toBe(big.length);
    expect(readFileSync(job().dest).equals(big)).toBe(true);
  });

  it('parts larger than partSize: the file is cut into size / partSize parts taken in order', async () => {
    const before = hub.log.length;
    await downloadFile(job(), {rangeThreshold: MiB, ranges: 2, partSize: 512 * 1024});
    const starts = cdnSince(before).map((l) => Number(/bytes=(\d+)-/.exec(l.range!)![1]));
    expect(starts.length).toBe(6);
    expect([...starts].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5].map((i) => i * 512 * 1024));
    expect(readFileSync(job().dest).equals(big)).toBe(true);
  });

  it('a wrong announced sha256 with several parts: refused, nothing left behind', async () => {
    const err = await downloadFile({...job(), sha256: 'e'.repeat(64)}, {rangeThreshold: MiB, ranges: 3}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChecksumError);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('the node:http transport (MGEN_DOWNLOAD_TRANSPORT=node) gives the same file', async () => {
    process.env.MGEN_DOWNLOAD_TRANSPORT = 'node';
    try {
      hub.fault({match: /^\/cdn\//, times: 1, cutAfter: 200_000});
      await downloadFile(job(), {rangeThreshold: MiB, ranges: 2, http: {baseDelayMs: 5}});
      expect(readFileSync(job().dest).equals(big)).toBe(true);
    } finally {
      delete process.env.MGEN_DOWNLOAD_TRANSPORT;
    }
  });
});

describe('the lean HTTP reader', () => {
  let server: http.Server;
  let base: string;
  const seen: Array<{path: string; auth?: string}> = [];
  const large = Buffer.alloc(24 * MiB);
  for (let i = 0; i < large.length; i += 4) large.writeUInt32LE((i * 2246822519) >>> 0, i);
  let connections = 0;
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      seen.push({path: req.url ?? '', auth: req.headers.authorization});
      if (req.url === '/norange') {
        // A server that ignores Range and always sends the whole file.
        res.writeHead(200, {'content-length': String(large.length)});
        res.end(large);
        return;
      }
      if (req.url === '/large') {
        const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
        const [a, b] = m ? [Number(m[1]), Number(m[2])] : [0, large.length - 1];
        res.writeHead(m ? 206 : 200, {'content-length': String(b - a + 1), ...(m ? {'content-range': `bytes ${a}-${b}/${large.length}`} : {})});
        res.end(large.subarray(a, b + 1));
        return;
      }
      if (req.url === '/chunked') {
        // No content-length: chunked transfer encoding, which the lean reader leaves to node:http.
        res.writeHead(200, {'content-type': 'application/octet-stream'});
        res.write(big.subarray(0, MiB));
        res.end(big.subarray(MiB));
        return;
      }
      res.writeHead(404, {'content-type': 'application/json', 'content-length': '21'});
      res.end('{"error":"not there"}');
    });
    server.on('connection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as {port: number}).port}`;
  });
  afterAll(async () => new Promise<void>((resolve) => server.close(() => resolve())));

  it('a chunked answer is read through node:http instead', async () => {
    await downloadFile({...job(), url: `${base}/chunked`}, {});
    expect(readFileSync(job().dest).equals(big)).toBe(true);
    expect(seen.filter((s) => s.path === '/chunked').length).toBe(2);
  });

  it('a 404 is a not-found error naming the file; nothing is left', async () => {
    const err = await downloadFile({...job(), url: `${base}/missing`}, {}).catch((e: unknown) => e);
    expect((err as {exitCode?: number}).exitCode).toBe(3);
    expect(String((err as Error).message)).toMatch(/org\/big\/big\.safetensors: not found/);
    expect(existsSync(job().dest)).toBe(false);
  });

  it('the redirect target gets no Authorization when it is another origin', async () => {
    const before = hub.log.length;
    await downloadFile({...job(), url: url().replace('127.0.0.1', 'localhost'), headers: {authorization: 'Bearer hf_secret'}}, {rangeThreshold: MiB, ranges: 3});
    const reqs = hub.log.slice(before);
    expect(reqs.filter((l) => !l.path.startsWith('/cdn/')).every((l) => l.auth === 'Bearer hf_secret')).toBe(true);
    const cdn = reqs.filter((l) => l.path.startsWith('/cdn/'));
    expect(cdn.length).toBe(3);
    expect(readFileSync(job().dest).equals(big)).toBe(true);
    // The CDN route is on the hub's own origin (127.0.0.1) while the file URL used localhost.
    expect(cdn.every((l) => l.auth === undefined)).toBe(true);
  });

  it('on a link that caps each connection, the second connection joins while the first part is still coming', async () => {
    // Two parts of 1.5 MiB at 1 MiB/s per connection: were the second connection to join only after the first part,
    // the first connection would take the second part itself and no two bodies would ever be sent at once.
    const capped = await startHub({id: 'org/capped', commit: commitOf('capped'), files: [{path: 'big.safetensors', content: big}]});
    capped.bodyBytesPerSecond = MiB;
    try {
      await downloadFile({...job(), url: `${capped.url}/org/capped/resolve/${commitOf('capped')}/big.safetensors`},
        {rangeThreshold: MiB, ranges: 2, partSize: big.length / 2});
      expect(readFileSync(job().dest).equals(big)).toBe(true);
      expect(capped.maxActiveBodies).toBe(2);
      expect(capped.log.filter((l) => l.path.startsWith('/cdn/')).map((l) => l.range).sort()).toEqual([`bytes=0-${big.length / 2 - 1}`, `bytes=${big.length / 2}-${big.length - 1}`]);
    } finally {
      await capped.close();
    }
  });

  it('parts reuse kept-alive connections, and a connection the server closed while idle is replaced', async () => {
    const c0 = connections;
    await downloadFile({...job(), url: `${base}/large`, size: large.length, sha256: createHash('sha256').update(large).digest('hex')},
      {rangeThreshold: MiB, ranges: 2, partSize: 2 * MiB, fastConnection: Infinity});
    expect(readFileSync(job().dest).equals(large)).toBe(true);
    expect(seen.filter((x) => x.path === '/large').length).toBe(12);
    // At most two new connections carried the 12 parts (a pooled one from an earlier test may be among them).
    expect(connections - c0).toBeLessThanOrEqual(2);
    // The server drops idle connections: the next request on a pooled one fails before any answer and is
    // sent again on a fresh connection, without surfacing an error.
    server.closeIdleConnections();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const c1 = connections;
    const r = await rawGet(new URL(`${base}/large`), {range: 'bytes=0-9'});
    expect(r.status).toBe(206);
    let got = Buffer.alloc(0);
    await r.body.read((bufs) => {
      got = Buffer.concat([got, ...bufs]);
    }, 10);
    expect(got.equals(large.subarray(0, 10))).toBe(true);
    expect(connections - c1).toBe(1);
  });

  it('a slow sink pauses the socket and reading resumes when buffers come back (the body arrives whole and in order)', async () => {
    const r = await rawGet(new URL(`${base}/large`), {});
    const h = createHash('sha256');
    let calls = 0;
    const n = await r.body.read(async (bufs) => {
      calls++;
      for (const b of bufs) h.update(b);
      await new Promise((resolve) => setTimeout(resolve, 15));
    }, large.length);
    expect(n).toBe(large.length);
    expect(calls).toBeGreaterThanOrEqual(6);
    expect(h.digest('hex')).toBe(createHash('sha256').update(large).digest('hex'));
  });

  it('a server that ignores Range: the parts are dropped and the file comes in one request', async () => {
    const before = seen.length;
    const r = await downloadFile({...job(), url: `${base}/norange`, size: large.length, sha256: createHash('sha256').update(large).digest('hex')},
      {rangeThreshold: MiB, ranges: 4, partSize: 4 * MiB});
    expect(readFileSync(job().dest).equals(large)).toBe(true);
    expect(r.downloaded).toBe(large.length);
    expect(seen.slice(before).length).toBe(2);
    expect(readdirSync(dir)).toEqual(['blob']);
  });
});
