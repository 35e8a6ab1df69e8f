// The loopback hub's per-connection cap (bodyBytesPerSecond), which the pull benchmark uses to stand for a CDN
// that limits each connection. Lower bounds only, with margins: a body of n bytes on one connection cannot come
// sooner than n / rate, and two connections together get clearly more than one connection's rate.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {createHash} from 'node:crypto';
import {writeFileSync} from 'node:fs';
import http from 'node:http';
import {join} from 'node:path';
import {commitOf, LoopbackHub, startHub} from '../../helpers/loopback-hub.js';
import {useTmpDir} from '../../helpers/tmp.js';

const KiB = 1024;
const RATE = 1024 * KiB;
const SIZE = 1536 * KiB; // 1.5 s at RATE
const body = Buffer.alloc(SIZE);
for (let i = 0; i < body.length; i += 4) body.writeUInt32LE((i * 2246822519) >>> 0, i);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const tmp = useTmpDir('mgen-hub-cap-');
let hub: LoopbackHub;
beforeAll(async () => {
  const onDisk = join(tmp.dir, 'disk.safetensors');
  writeFileSync(onDisk, body);
  hub = await startHub({id: 'org/cap', commit: commitOf('cap'), files: [
    {path: 'mem.safetensors', content: body},
    {path: 'disk.safetensors', diskPath: onDisk},
  ]});
});
afterAll(async () => hub.close());

/** GET on a connection of its own (following the hub's redirect to its CDN); resolves with the body and its time. */
function get(path: string, headers: Record<string, string> = {}): Promise<{status: number; body: Buffer; s: number}> {
  const t0 = performance.now();
  const once = (url: string): Promise<{status: number; body: Buffer; s: number}> => new Promise((resolve, reject) => {
    http.get(url, {agent: false, headers}, (res) => {
      if (res.statusCode === 302) {
        res.resume();
        once(res.headers.location!).then(resolve, reject);
        return;
      }
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({status: res.statusCode!, body: Buffer.concat(parts), s: (performance.now() - t0) / 1000}));
      res.on('error', reject);
    }).on('error', reject);
  });
  return once(`${hub.url}/org/cap/resolve/main/${path}`);
}

describe('LoopbackHub.bodyBytesPerSecond', () => {
  it('unlimited by default: the body comes whole', async () => {
    expect(hub.bodyBytesPerSecond).toBe(0);
    const r = await get('mem.safetensors');
    expect(r.status).toBe(200);
    expect(sha(r.body)).toBe(sha(body));
  });

  it('one connection gets at most the cap: n bytes take at least n / rate seconds, and arrive intact', async () => {
    hub.bodyBytesPerSecond = RATE;
    try {
      const r = await get('mem.safetensors');
      expect(r.status).toBe(200);
      expect(sha(r.body)).toBe(sha(body));
      expect(r.s).toBeGreaterThanOrEqual((0.95 * SIZE) / RATE);
      // A range is paced too, and holds the requested bytes.
      const part = await get('disk.safetensors', {range: `bytes=${SIZE / 2}-${SIZE - 1}`});
      expect(part.status).toBe(206);
      expect(part.body.equals(body.subarray(SIZE / 2))).toBe(true);
      expect(part.s).toBeGreaterThanOrEqual((0.95 * SIZE) / 2 / RATE);
    } finally {
      hub.bodyBytesPerSecond = 0;
    }
  });

  it('the cap is per connection: two parallel connections each take at least n / rate, and get well over one rate together', async () => {
    hub.bodyBytesPerSecond = RATE;
    try {
      const t0 = performance.now();
      const [a, b] = await Promise.all([get('disk.safetensors'), get('mem.safetensors')]);
      const s = (performance.now() - t0) / 1000;
      for (const r of [a, b]) {
        expect(sha(r.body)).toBe(sha(body));
        expect(r.s).toBeGreaterThanOrEqual((0.95 * SIZE) / RATE);
      }
      // Ideally 2x RATE (3 MiB in 1.5 s); a cap shared by the connections would give at most 1x (3 s).
      expect((2 * SIZE) / s).toBeGreaterThan(1.3 * RATE);
    } finally {
      hub.bodyBytesPerSecond = 0;
    }
  });
});
