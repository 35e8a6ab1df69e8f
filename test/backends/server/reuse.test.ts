// The client side of serve reuse against a loopback stand-in server (the network boundary): it finds the serve
// through the state file, sends the request with every field `generate` was given, writes the returned PNGs, and
// falls back (null) or fails as the server's answer says.
import {afterAll, beforeAll, beforeEach, describe, expect, it} from '@jest/globals';
import {createServer, type IncomingMessage, type Server} from 'node:http';
import {mkdtemp, readFile, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {UsageError} from '../../../src/errors.js';
import {loadKeyFor} from '../../../src/backends/server/load-key.js';
import {generateWithRunningServe} from '../../../src/backends/server/reuse.js';
import {loadHash, writeState} from '../../../src/backends/server/state.js';

const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da6364f8ffbf1e000502027f2a4f6e0e0000000049454e44ae426082', 'hex');

let home: string;
let server: Server;
let url: string;
let seen: Array<{method?: string; url?: string; body: string}>;
let answer: {ready: number; status: number; body: unknown};

const load = {modelId: 'builtin:tiny-sd', device: 'cpu' as const, dtype: 'float32' as const};

async function bodyOf(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'mgen-reuse-'));
  server = createServer((req, res) => {
    void bodyOf(req).then((body) => {
      seen.push({method: req.method, url: req.url, body});
      if (req.url === '/readyz') {
        res.writeHead(answer.ready, {'content-type': 'application/json'}).end('{}');
        return;
      }
      res.writeHead(answer.status, {'content-type': 'application/json'}).end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  const key = loadKeyFor(load);
  writeState(home, key, {pid: process.pid, url, model_id: load.modelId, load_hash: loadHash(key), plan_hash: 'x', auth: false, started: new Date().toISOString()});
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  await rm(home, {recursive: true, force: true});
});
beforeEach(() => {
  seen = [];
  const image = {b64_json: PNG.toString('base64'), seed: 7, width: 64, height: 64};
  answer = {ready: 200, status: 200, body: {images: [image], metadata: {seed: 7}, timings: {worker_s: 0.1, denoise_s: 0.05, steps: 4}}};
});

const input = (out: string) => ({prompt: 'a red cube', width: 64, height: 64, steps: 4, guidance: 5, seed: 7, numImages: 1, out});

describe('generateWithRunningServe', () => {
  it('sends size, steps, guidance and seed as given and writes the returned PNG to the target path', async () => {
    const out = join(home, 'out.png');
    const r = await generateWithRunningServe({home, load, input: input(out), targets: () => [out]});
    expect(r?.url).toBe(url);
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual(['GET /readyz', 'POST /v1/generate']);
    expect(JSON.parse(seen[1]!.body)).toEqual({prompt: 'a red cube', width: 64, height: 64, steps: 4, guidance_scale: 5, seed: 7, num_images: 1, response_format: 'b64_json'});
    expect(await readFile(out)).toEqual(PNG);
    expect(r?.images).toEqual([{path: out, seed: 7, width: 64, height: 64}]);
  });

  it('falls back to a cold start (null) when the serve is not ready or busy, and only then', async () => {
    answer.ready = 503;
    expect(await generateWithRunningServe({home, load, input: input(join(home, 'a.png')), targets: () => [join(home, 'a.png')]})).toBeNull();
    expect(seen).toHaveLength(1);
    answer.ready = 200;
    answer.status = 429;
    answer.body = {error: {message: 'queue full', type: 'queue_full'}};
    expect(await generateWithRunningServe({home, load, input: input(join(home, 'b.png')), targets: () => [join(home, 'b.png')]})).toBeNull();
  });

  it('turns a 400 into a usage error naming the server', async () => {
    answer.status = 400;
    answer.body = {error: {message: 'width: must be a multiple of 8', type: 'invalid_request_error'}};
    await expect(generateWithRunningServe({home, load, input: input(join(home, 'c.png')), targets: () => [join(home, 'c.png')]})).rejects.toThrow(UsageError);
  });

  it('finds nothing for other load options', async () => {
    const r = await generateWithRunningServe({home, load: {...load, dtype: 'float16'}, input: input(join(home, 'd.png')), targets: () => [join(home, 'd.png')]});
    expect(r).toBeNull();
    expect(seen).toHaveLength(0);
  });

  it('finds nothing when generate adds a hypernetwork, an aesthetic embedding or an IP-Adapter the serve did not load', async () => {
    const aesthetic = {id: 'builtin:tiny-sd-aesthetic', weight: 0.9, steps: 5, lr: 0.0001, slerp: false, clip: null};
    const ipAdapter = {id: 'builtin:tiny-sd-ip-adapter', image: '/tmp/ref.png', scale: 1};
    for (const extra of [{hypernetworks: [{id: 'builtin:tiny-sd-hypernetwork', scale: 1}]}, {aesthetic}, {ipAdapter}]) {
      const r = await generateWithRunningServe({home, load: {...load, ...extra}, input: input(join(home, 'e.png')), targets: () => [join(home, 'e.png')]});
      expect(r).toBeNull();
    }
    expect(seen).toHaveLength(0);
  });
});
