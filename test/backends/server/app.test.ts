// The real serve app (startServe: fastify, queue, engine) around a session without Python, on real sockets:
// what requests may name as models on every route, words-only errors, health auth, file URLs and the Host
// header, slow clients, shutdown answers, a busy port. Loopback only.
import {afterAll, beforeAll, describe, expect, it, jest} from '@jest/globals';
import {mkdirSync, symlinkSync, writeFileSync} from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import {join} from 'node:path';
import {RequestModelPolicy} from '../../../src/backends/request-model-policy.js';
import {checkBindable, guardServeProcess, startServe, type RunningServe} from '../../../src/backends/server/server.js';
import {kohyaSd} from '../../helpers/fixtures/adapters.js';
import {dumpPickle, stateDict, torchZip} from '../../helpers/pickle-writer.js';
import {writeSafetensors} from '../../helpers/safetensors-writer.js';
import {useTmpDir} from '../../helpers/tmp.js';
import {fakeSession, type FakeSession} from './fake-session.js';

const tmp = useTmpDir('mgen-app-');
const env = (): NodeJS.ProcessEnv => ({MGEN_HOME: join(tmp.dir, 'home'), HF_HUB_CACHE: join(tmp.dir, 'hub'), HF_HUB_OFFLINE: '1'});
const TOKEN = 'app-test-token-1';
const auth = {authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json'};

let origin: http.Server;
let originPort = 0;
const originSeen: string[] = [];
let strict: RunningServe; // defaults + token + a model folder
let open: RunningServe; // --allow-model-urls --allow-private-hosts localhost, --public-url
let strictSession: FakeSession;
let models = '';
const logs: string[] = [];

async function serveWith(session: FakeSession, extra: Parameters<typeof startServe>[0] extends infer O ? Partial<O> : never): Promise<RunningServe> {
  return startServe({
    modelId: 'fake', report: {id: 'fake'}, session, reopen: async () => session, host: '127.0.0.1', port: 0, home: null,
    log: (l) => logs.push(l), clientTimeouts: {headersMs: 400, requestMs: 800, checkIntervalMs: 100}, ...extra,
  });
}

async function post(s: RunningServe, path: string, body: unknown, headers: Record<string, string> = auth): Promise<{status: number; body: any}> {
  const r = await fetch(`${s.url}${path}`, {method: 'POST', headers, body: JSON.stringify(body)});
  return {status: r.status, body: await r.json()};
}

beforeAll(async () => {
  process.env.MGEN_RETRY_BASE_MS = '1';
  origin = http.createServer((req, res) => {
    originSeen.push(req.url ?? '');
    if (req.url === '/hop.safetensors') {
      res.writeHead(302, {location: `http://127.0.0.1:${originPort}/secret.safetensors`});
      return res.end();
    }
    const body = Buffer.from('{"AccessKey": "origin-secret-value", "padding": "xxxxxxxxxxxxxxxxxxxxxxxx"}');
    res.writeHead(200, {'content-type': 'application/octet-stream', 'content-length': String(body.length), 'accept-ranges': 'bytes'});
    res.end(body);
  });
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
  originPort = (origin.address() as {port: number}).port;

  models = join(tmp.dir, 'models');
  mkdirSync(join(models, 'loras'), {recursive: true});
  await writeSafetensors(join(models, 'loras', 'style.safetensors'), kohyaSd('sd1'), {sparse: true});
  await writeSafetensors(join(models, 'loras', 'unloadable.safetensors'), kohyaSd('sd1'), {sparse: true});
  writeFileSync(join(models, 'loras', 'config.json'), '{"password": "hunter2-from-a-json-file"}');
  writeFileSync(join(tmp.dir, 'outside.safetensors'), 'outside');
  const specs = kohyaSd('sd1');
  // As torch.save writes it: version 0.0 and flags 0x0808 in the first local header, which read as a little-endian
  // u64 "header length" is past Number.MAX_SAFE_INTEGER (a stream start that throws).
  const zip = Buffer.from(torchZip(dumpPickle(stateDict(specs)), {storages: specs.length}));
  zip.set([0, 0, 8, 8], 4);
  writeFileSync(join(models, 'loras', 'pickled.safetensors'), zip);
  symlinkSync(join(tmp.dir, 'outside.safetensors'), join(models, 'loras', 'escape.safetensors'));

  strictSession = fakeSession(env());
  strict = await serveWith(strictSession, {token: TOKEN, policy: new RequestModelPolicy({modelDirs: [models], env: env()})});
  open = await serveWith(fakeSession({...env(), HF_HUB_OFFLINE: '0'}), {
    policy: new RequestModelPolicy({allowUrls: true, privateHosts: ['localhost'], env: env()}),
    publicUrl: 'https://images.example.org/mgen/',
  });
}, 60_000);

afterAll(async () => {
  delete process.env.MGEN_RETRY_BASE_MS;
  await strict?.close(100);
  await open?.close(100);
  await new Promise((r) => origin.close(r));
});

const lora = (name: string) => ({prompt: 'a cube', loras: [{name}]});

describe('request models: the policy on every route', () => {
  it.each([
    ['/v1/generate', (b: object) => b],
    ['/v1/jobs', (b: object) => ({input: b})],
  ])('%s refuses a URL with 403 naming the field and fetches nothing', async (path, wrap) => {
    originSeen.length = 0;
    const r = await post(strict, path, wrap(lora(`http://127.0.0.1:${originPort}/x.safetensors`)));
    expect(r.status).toBe(403);
    expect(r.body.error).toEqual({type: 'model_not_allowed', param: 'loras[0].name', message: expect.stringMatching(/^loras\[0\]\.name: this server does not fetch models from URLs/)});
    expect(originSeen).toEqual([]);
  });

  it.each(['/run', '/runsync', '/v2/any-endpoint/runsync'])('%s refuses a URL as RunPod fails a job (FAILED with the error) and fetches nothing', async (path) => {
    originSeen.length = 0;
    const r = await post(strict, path, {input: lora(`http://127.0.0.1:${originPort}/x.safetensors`)});
    expect(r.status).toBe(200);
    expect(r.body).toEqual({id: expect.any(String), status: 'FAILED', error: expect.stringMatching(/^loras\[0\]\.name: this server does not fetch models from URLs/)});
    expect(originSeen).toEqual([]);
  });

  it('reads a LoRA inside --model-dir by absolute or relative name, and answers with the client\'s name', async () => {
    const r = await post(strict, '/v1/generate', lora('loras/style.safetensors'));
    expect(r.status).toBe(200);
    expect(r.body.metadata.request.loras).toEqual([{name: 'loras/style.safetensors', scale: 1}]);
    expect(JSON.stringify(r.body.metadata)).not.toContain(models);
    expect((await post(strict, '/v1/generate', lora(join(models, 'loras', 'style.safetensors')))).status).toBe(200);
  });

  it('hashes a pickle LoRA named .safetensors (allowed pickles) by its content: an answer, not a dead server', async () => {
    const r = await post(strict, '/v1/generate', lora('loras/pickled.safetensors'));
    expect(r.status).toBe(200);
    expect((await fetch(`${strict.url}/healthz`)).status).toBe(200);
  });

  it('describes a LoRA the worker could not load in words, without its exception text', async () => {
    const r = await post(strict, '/v1/generate', {prompt: 'a', loras: [{name: 'loras/style.safetensors'}, {name: 'loras/unloadable.safetensors', scale: 0.5}]});
    expect(r.status).toBe(400);
    expect(r.body.error).toEqual({
      type: 'invalid_request_error', param: 'loras[1].name',
      message: 'loras[1].name: loras/unloadable.safetensors could not be loaded into this pipeline (not a LoRA it can apply)',
    });
  });

  it('answers a path outside the model folders, a symlink out of them and a missing file the same way, in words', async () => {
    const answers = [];
    for (const name of ['/etc/passwd', join(models, 'loras', 'escape.safetensors'), '../outside.safetensors', join(models, 'nope.safetensors'), '/']) {
      const r = await post(strict, '/v1/generate', lora(name));
      answers.push([r.status, r.body.error.message]);
    }
    expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1);
    expect(answers[0]).toEqual([400, 'loras[0].name: no such model file under the server\'s model folders']);
  });

  it('never quotes a file it read: a JSON file in the model folder is described in words', async () => {
    const r = await post(strict, '/v1/generate', lora('loras/config.json'));
    expect(r.status).toBe(400);
    expect(r.body.error.message).toBe('loras[0].name: loras/config.json is not a model mgen recognizes, not a LoRA');
    expect(JSON.stringify(r.body)).not.toMatch(/hunter2|password/);
  });

  it('with --allow-model-urls: a named private host is fetched, its redirect to an unnamed address is refused', async () => {
    originSeen.length = 0;
    const r = await post(open, '/v1/generate', lora(`http://localhost:${originPort}/hop.safetensors`), {'content-type': 'application/json'});
    expect(r.status).toBe(403);
    expect(r.body.error.param).toBe('loras[0].name');
    expect(r.body.error.message).toMatch(/is private and this server does not fetch from it/);
    expect(originSeen.filter((p) => p.startsWith('/secret'))).toEqual([]);
    expect(originSeen.length).toBeGreaterThan(0);
  }, 30_000);

  it('with --allow-model-urls: an unnamed loopback literal is refused before any request', async () => {
    originSeen.length = 0;
    const r = await post(open, '/v1/generate', lora(`http://127.0.0.1:${originPort}/x.safetensors`), {'content-type': 'application/json'});
    expect(r.status).toBe(403);
    expect(r.body.error.message).toMatch(/127\.0\.0\.1 is a private address/);
    expect(originSeen).toEqual([]);
  });

  it('never echoes what a URL answered (a JSON body read as a safetensors header)', async () => {
    const r = await post(open, '/v1/generate', lora(`http://localhost:${originPort}/body.safetensors`), {'content-type': 'application/json'});
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(JSON.stringify(r.body)).not.toMatch(/Access|origin-secret|header length|\d{12,}/);
  }, 30_000);
});

describe('health, Host and file URLs', () => {
  it('keeps /healthz open and everything else closed whatever the query string says', async () => {
    expect((await fetch(`${strict.url}/healthz?x=1`)).status).toBe(200);
    expect((await fetch(`${strict.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${strict.url}/v1/model?x=/healthz`)).status).toBe(401);
    expect((await fetch(`${strict.url}/readyz?`)).status).toBe(401);
  });

  const hostGet = (s: RunningServe, host: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const body = JSON.stringify({prompt: 'a', response_format: 'url'});
      const req = http.request(`${s.url}/v1/generate`, {method: 'POST', setHost: false, headers: {...auth, host, 'content-length': String(body.length)}}, (res) => {
        let t = '';
        res.on('data', (c: Buffer) => (t += c.toString()));
        res.on('end', () => resolve(JSON.parse(t).images[0].url as string));
      });
      req.on('error', reject);
      req.end(body);
    });

  it('builds file URLs from the Host header only when it is one of the server\'s own names', async () => {
    expect(await hostGet(strict, 'evil.example:1234')).toMatch(new RegExp(`^${strict.url}/v1/files/`));
    expect(await hostGet(strict, `localhost:${strict.port}`)).toMatch(new RegExp(`^http://localhost:${strict.port}/v1/files/`));
    expect(await hostGet(strict, `127.0.0.1:${strict.port}`)).toMatch(new RegExp(`^${strict.url}/v1/files/`));
    expect(await hostGet(open, 'evil.example')).toMatch(/^https:\/\/images\.example\.org\/mgen\/v1\/files\//);
  });
});

describe('slow clients', () => {
  /** Resolves with true once the server closed the connection, or false after `maxMs` (bounded loop). */
  async function trickle(s: RunningServe, head: string, drip: string, maxMs = 15_000): Promise<boolean> {
    const sock = net.connect(s.port, '127.0.0.1');
    let closed = false;
    sock.on('close', () => (closed = true));
    sock.on('error', () => (closed = true));
    sock.on('data', () => undefined);
    await new Promise((r) => sock.once('connect', r));
    sock.write(head);
    for (let waited = 0; waited < maxMs && !closed; waited += 100) {
      if (!sock.destroyed) sock.write(drip);
      await new Promise((r) => setTimeout(r, 100));
    }
    sock.destroy();
    return closed;
  }

  it('drops a client that trickles its request head on a tokenless loopback server', async () => {
    expect(await trickle(open, 'GET /healthz HTTP/1.1\r\nHost: x\r\n', 'X-a: b\r\n')).toBe(true);
  }, 20_000);

  it('keeps a client waiting for a job that runs longer than the request limits (they bound receiving, not answering)', async () => {
    strictSession.slowMs = 1500; // requestMs is 800 here
    try {
      expect((await post(strict, '/v1/generate', {prompt: 'slow'})).status).toBe(200);
    } finally {
      strictSession.slowMs = 0;
    }
  }, 20_000);

  it('drops a client that trickles its body', async () => {
    expect(await trickle(open, 'POST /v1/generate HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n', ' ')).toBe(true);
  }, 20_000);
});

describe('process and lifecycle', () => {
  it('logs an unhandled rejection to the given log and keeps the process running', () => {
    const lines: string[] = [];
    const handler = guardServeProcess((l) => lines.push(l));
    try {
      handler(new RangeError('The value of "start" is out of range'));
      expect(lines).toEqual(['internal error (unhandled rejection), the server keeps running: RangeError: The value of "start" is out of range']);
      expect(process.listeners('unhandledRejection')).toContain(handler);
    } finally {
      process.off('unhandledRejection', handler);
    }
  });

  it('reports a busy port before loading anything, and stops the worker without calling it a death', async () => {
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = (busy.address() as {port: number}).port;
    try {
      await expect(checkBindable('127.0.0.1', port)).rejects.toThrow(`port ${port} is already in use (try --port 0 or another)`);
      const reopen = jest.fn(async () => fakeSession(env()));
      logs.length = 0;
      const s = fakeSession(env());
      await expect(startServe({modelId: 'fake', report: {}, session: s, reopen, host: '127.0.0.1', port, home: null, log: (l) => logs.push(l)})).rejects.toThrow(
        `port ${port} is already in use (try --port 0 or another)`,
      );
      await s.worker.exited;
      await new Promise((r) => setTimeout(r, 50));
      expect(logs.filter((l) => /died|restart/.test(l))).toEqual([]);
      expect(reopen).not.toHaveBeenCalled();
    } finally {
      await new Promise((r) => busy.close(r));
    }
    await expect(checkBindable('127.0.0.1', 0)).resolves.toBeUndefined();
  });

  it('during shutdown, a worker that got the stop signal too is not a death; one killed otherwise still restarts', async () => {
    const first = fakeSession(env());
    const second = fakeSession(env());
    const reopen = jest.fn(async () => second);
    const r = await serveWith(first, {reopen});
    try {
      logs.length = 0;
      r.engine.beginShutdown();
      (first.worker as unknown as {die(s: string): void}).die('SIGKILL');
      for (let i = 0; i < 100 && reopen.mock.calls.length === 0; i++) await new Promise((res) => setTimeout(res, 10));
      await r.engine.settled();
      expect(logs.some((l) => /died; restarting/.test(l))).toBe(true);
      logs.length = 0;
      (second.worker as unknown as {die(s: string): void}).die('SIGINT');
      await second.worker.exited;
      await new Promise((res) => setTimeout(res, 50));
      expect(logs).toEqual([]);
      expect(reopen).toHaveBeenCalledTimes(1);
    } finally {
      await r.close(100);
    }
  });

  it('answers 503 (not 499) to requests the shutdown cancelled', async () => {
    strictSession.hold = true;
    const pending = post(strict, '/v1/generate', {prompt: 'held'});
    for (let i = 0; i < 100 && strict.serve.queue.active === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(strict.serve.queue.active).toBe(1);
    await strict.close(50);
    const r = await pending;
    expect(r.status).toBe(503);
    expect(r.body.error.type).toBe('shutting_down');
  });
});
