// The lean HTTP/1.1 reader over TLS, as HuggingFace's and CivitAI's CDNs serve files: a real HTTPS server on
// loopback with a certificate made for this test, trusted by the downloading process through NODE_EXTRA_CA_CERTS
// (Node reads it only at start, so the download runs in a child process on the built dist/; spawned async, as the
// server lives in this process).
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {execFileSync, spawn} from 'node:child_process';
import {createHash} from 'node:crypto';
import {readdirSync, readFileSync, statSync} from 'node:fs';
import https from 'node:https';
import type {AddressInfo} from 'node:net';
import {join} from 'node:path';
import {pathToFileURL} from 'node:url';
import {useTmpDir} from '../../helpers/tmp.js';

const MiB = 1 << 20;
const body = Buffer.alloc(5 * MiB);
for (let i = 0; i < body.length; i += 4) body.writeUInt32LE((i * 2246822519) >>> 0, i);
const sha = createHash('sha256').update(body).digest('hex');
const FETCH_FILE = pathToFileURL(join(process.cwd(), 'dist', 'sources', 'download', 'fetch-file.js')).href;

const tmp = useTmpDir('mgen-https-');
let server: https.Server;
let url: string;
const tls = {connections: 0, ranges: [] as string[]};

beforeAll(async () => {
  const key = join(tmp.dir, 'key.pem');
  const cert = join(tmp.dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], {stdio: 'ignore'});
  server = https.createServer({key: readFileSync(key), cert: readFileSync(cert), keepAlive: true}, (req, res) => {
    tls.ranges.push(req.headers.range ?? 'none');
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (!m) {
      res.writeHead(200, {'content-length': body.length, 'accept-ranges': 'bytes'}).end(body);
      return;
    }
    const [start, end] = [Number(m[1]), Math.min(Number(m[2]), body.length - 1)];
    res.writeHead(206, {'content-length': end - start + 1, 'content-range': `bytes ${start}-${end}/${body.length}`}).end(body.subarray(start, end + 1));
  });
  server.on('secureConnection', () => tls.connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/model.safetensors`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

/** Runs `code` (an ES module) in a fresh Node with NODE_EXTRA_CA_CERTS as given. */
function node(code: string, ca: string): Promise<{code: number | null; out: string}> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], {env: {...process.env, NODE_EXTRA_CA_CERTS: ca}});
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({code, out: out.trim()});
    });
  });
}

/** downloadFile in a child process; prints its DownloadResult as JSON, or `error: <message>` with exit 3. */
function download(name: string, opts: Record<string, unknown>, expectSha = sha, ca = join(tmp.dir, 'cert.pem')) {
  const job = {url, size: body.length, sha256: expectSha, dest: join(tmp.dir, name), label: name};
  return node(`const {downloadFile} = await import(${JSON.stringify(FETCH_FILE)});
try { console.log(JSON.stringify(await downloadFile(${JSON.stringify(job)}, ${JSON.stringify(opts)}))); }
catch (e) { console.log('error: ' + e.message); process.exitCode = 3; }`, ca);
}

describe('downloads over HTTPS', () => {
  it('fetches a file in parallel ranges over TLS, verified, on kept-alive connections', async () => {
    const before = {connections: tls.connections, ranges: tls.ranges.length};
    // fastConnection 1 B/s: every part counts as slow, so the other connections do join in.
    const r = await download('ranged', {rangeThreshold: MiB, ranges: 3, partSize: MiB, fastConnection: 1});
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({downloaded: body.length, resumedFrom: 0});
    expect(createHash('sha256').update(readFileSync(join(tmp.dir, 'ranged'))).digest('hex')).toBe(sha);
    expect(tls.ranges.slice(before.ranges).sort()).toEqual([0, 1, 2, 3, 4].map((i) => `bytes=${i * MiB}-${(i + 1) * MiB - 1}`).sort());
    // Five parts over at most three TLS handshakes: parts reuse their connection.
    const handshakes = tls.connections - before.connections;
    expect(handshakes).toBeGreaterThanOrEqual(1);
    expect(handshakes).toBeLessThanOrEqual(3);
  });

  it('fetches a small file whole over TLS', async () => {
    const r = await download('whole', {});
    expect(r.code).toBe(0);
    expect(readFileSync(join(tmp.dir, 'whole')).equals(body)).toBe(true);
  });

  it('refuses bytes whose sha256 is not the expected one, and leaves nothing behind', async () => {
    const r = await download('wrong', {rangeThreshold: MiB, partSize: MiB}, '0'.repeat(64));
    expect(r.code).toBe(3);
    expect(r.out).toMatch(/^error: .*sha256/);
    expect(readdirSync(tmp.dir).filter((n) => n.startsWith('wrong'))).toEqual([]);
  });

  it('refuses a server whose certificate is not trusted', async () => {
    const r = await download('untrusted', {http: {retries: 0}}, sha, '');
    expect(r.code).toBe(3);
    expect(r.out).toMatch(/^error: .*(certificate|self.signed)/i);
    // No byte arrived: nothing in place and no (empty) partial or state left behind.
    expect(readdirSync(tmp.dir).filter((n) => n.startsWith('untrusted'))).toEqual([]);
  });

  it('an untrusted certificate on a large file (parts): no .mgen-partial or state left either', async () => {
    const r = await download('untrusted-parts', {http: {retries: 0}, rangeThreshold: MiB, partSize: MiB}, sha, '');
    expect(r.code).toBe(3);
    expect(r.out).toMatch(/^error: .*(certificate|self.signed)/i);
    expect(readdirSync(tmp.dir).filter((n) => n.startsWith('untrusted-parts'))).toEqual([]);
  });

  it('a cut after some bytes over TLS keeps the resumable partial, and the next run resumes it', async () => {
    // The first run aborts itself after its first body bytes (as Ctrl-C would).
    const job = {url, size: body.length, sha256: sha, dest: join(tmp.dir, 'cut'), label: 'cut'};
    const first = await node(`const {downloadFile} = await import(${JSON.stringify(FETCH_FILE)});
const ac = new AbortController();
try { await downloadFile(${JSON.stringify(job)}, {signal: ac.signal, onBytes: () => ac.abort()}); console.log('finished'); }
catch (e) { console.log('error: ' + e.constructor.name); process.exitCode = 3; }`, join(tmp.dir, 'cert.pem'));
    expect(first.code).toBe(3);
    const left = readdirSync(tmp.dir).filter((n) => n.startsWith('cut'));
    expect(left).toEqual(['cut.incomplete']);
    const have = statSync(join(tmp.dir, 'cut.incomplete')).size;
    expect(have).toBeGreaterThan(0);
    const r = await download('cut', {});
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({resumedFrom: have, downloaded: body.length - have});
    expect(readFileSync(join(tmp.dir, 'cut')).equals(body)).toBe(true);
  });
});
