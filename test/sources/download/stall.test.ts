// Read-idle timeouts on each transport: the lean raw reader, node:http (chunked/compressed bodies,
// MGEN_DOWNLOAD_TRANSPORT=node) and fetch (API calls, remote inspect). A server that accepts and never answers, or
// sends a head and then nothing, ends in a NetworkError (exit 5) saying "stalled" after the bounded retries.
import {afterAll, afterEach, beforeAll, beforeEach, describe, expect, it} from '@jest/globals';
import {createHash} from 'node:crypto';
import {mkdtempSync, readdirSync, rmSync} from 'node:fs';
import net from 'node:net';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {downloadFile} from '../../../src/sources/download/fetch-file.js';
import {NetworkError} from '../../../src/errors.js';
import {fetchWithRetry} from '../../../src/sources/http.js';
import {commitOf, LoopbackHub, startHub} from '../../helpers/loopback-hub.js';

const body = Buffer.alloc(64 << 10, 7);
const sha = createHash('sha256').update(body).digest('hex');
const fast = {timeoutMs: 150, baseDelayMs: 5, retries: 2};

let hub: LoopbackHub;
let silent: net.Server;
let silentUrl: string;
const sockets = new Set<net.Socket>();
let dir: string;
beforeAll(async () => {
  hub = await startHub({id: 'org/s', commit: commitOf('s'), files: [{path: 'w.safetensors', content: body}]});
  // Accepts connections and never answers.
  silent = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  silentUrl = `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
});
afterAll(async () => {
  await hub.close();
  for (const s of sockets) s.destroy();
  await new Promise((r) => silent.close(r));
});
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mgen-stall-'));
  hub.faults = [];
});
afterEach(() => {
  rmSync(dir, {recursive: true, force: true});
  delete process.env.MGEN_DOWNLOAD_TRANSPORT;
});

const hubJob = () => ({url: `${hub.url}/org/s/resolve/${commitOf('s')}/w.safetensors`, size: body.length, sha256: sha, dest: join(dir, 'blob'), label: 'org/s/w.safetensors'});

describe.each(['raw', 'node'])('downloadFile over the %s transport', (transport) => {
  beforeEach(() => {
    if (transport === 'node') process.env.MGEN_DOWNLOAD_TRANSPORT = 'node';
  });

  it('a server that never answers: exit 5 "stalled" naming host/path, no partial left', async () => {
    const err = await downloadFile({...hubJob(), url: `${silentUrl}/some/file.bin?sig=secret`}, {http: fast}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as Error).message).toMatch(/^127\.0\.0\.1:\d+\/some\/file\.bin: stalled \(no data for 0\.15 s\) after 3 attempts$/);
    expect(readdirSync(dir)).toEqual([]);
  }, 20_000);

  it('a head and then silence, every time: exit 5 "stalled"; once only: resumed and verified', async () => {
    hub.fault({match: /^\/cdn\//, times: 1000, stallAfter: 0});
    const err = await downloadFile(hubJob(), {http: fast, maxStalls: 2}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as Error).message).toMatch(/^org\/s\/w\.safetensors: 127\.0\.0\.1:\d+\/cdn\/[0-9a-f]{64}\/w\.safetensors: stalled \(no data for 0\.15 s\); gave up after 3 attempts$/);
    hub.faults = [];
    hub.fault({match: /^\/cdn\//, times: 1, stallAfter: 30_000});
    const r = await downloadFile(hubJob(), {http: fast});
    expect(r.downloaded).toBe(body.length);
    expect(readdirSync(dir)).toEqual(['blob']);
  }, 20_000);
});

describe('fetchWithRetry', () => {
  it('a server that never answers: bounded attempts, then exit 5 "stalled"', async () => {
    const counter = {requests: 0};
    const err = await fetchWithRetry(`${silentUrl}/api/models/x?token=abc`, {}, {...fast, counter}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as Error).message).toMatch(/^127\.0\.0\.1:\d+\/api\/models\/x: stalled \(no data for 0\.15 s\) after 3 attempts$/);
    expect(counter.requests).toBe(3);
  }, 20_000);

  it('a body that stops: the reader gets a StallError (exit 5), not a hang', async () => {
    hub.fault({match: /^\/cdn\//, times: 1, stallAfter: 1000});
    const res = await fetchWithRetry(`${hub.url}/org/s/resolve/${commitOf('s')}/w.safetensors`, {}, fast);
    expect(res.status).toBe(200);
    const err = await res.arrayBuffer().catch((e: unknown) => e);
    expect((err as {exitCode?: number}).exitCode).toBe(5);
    expect(String((err as Error).message)).toMatch(/stalled/);
  }, 20_000);
});
