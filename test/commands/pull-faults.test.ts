// `mgen pull` and remote `mgen inspect` against a hub that misbehaves (test/helpers/loopback-hub.ts Fault): bodies
// that stall after N bytes, crawl, announce more than they send, ignore Range, redirect loops. Each ends on its
// own (MGEN_HTTP_TIMEOUT makes a stall 0.2 s here), with the right exit code, no corrupt cache entry, and a
// partial that the next pull resumes.
import {afterAll, beforeAll, beforeEach, describe, expect, it} from '@jest/globals';
import {createHash} from 'node:crypto';
import {existsSync, mkdtempSync, readdirSync, readFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import Inspect from '../../src/commands/inspect.js';
import Pull from '../../src/commands/pull.js';
import {safetensors} from '../helpers/hub-fixtures.js';
import {commitOf, LoopbackHub, startHub} from '../helpers/loopback-hub.js';
import {runCli} from '../helpers/sources-cli.js';

const REPO = 'org/faulty';
const weights = safetensors([['model.diffusion_model.input_blocks.0.0.weight', 'F32', [320, 4, 3, 3]]]);
const sha = createHash('sha256').update(weights).digest('hex');
const CDN = /^\/cdn\//;
const FOREVER = 1000;

let hub: LoopbackHub;
let env: Record<string, string | undefined>;
let hubCache: string;

beforeAll(async () => {
  hub = await startHub({id: REPO, commit: commitOf(REPO), files: [{path: 'README.md', content: Buffer.from('# faulty\n')}, {path: 'model.safetensors', content: weights}]});
});
afterAll(async () => hub.close());
beforeEach(() => {
  hub.faults = [];
  const home = mkdtempSync(join(tmpdir(), 'mgen-pull-faults-'));
  hubCache = join(home, 'hf', 'hub');
  env = {
    HF_HOME: join(home, 'hf'), MGEN_HOME: join(home, 'mgen'), HF_ENDPOINT: hub.url, HF_TOKEN: undefined, HF_HUB_CACHE: undefined,
    HF_HUB_OFFLINE: undefined, MODEL_ID: undefined, MGEN_RETRY_BASE_MS: '5', MGEN_HTTP_TIMEOUT: '0.2',
  };
});

const repoDir = () => join(hubCache, 'models--org--faulty');
const blobsDir = () => join(repoDir(), 'blobs');
const blobs = () => (existsSync(blobsDir()) ? readdirSync(blobsDir()) : []);
const partialBytes = () => {
  const p = join(blobsDir(), `${sha}.incomplete`);
  return existsSync(p) ? readFileSync(p).length : 0;
};

/** No finished blob and no snapshot link: a failed pull left nothing that looks complete. */
function expectNoCacheEntry(): void {
  expect(blobs().filter((b) => !b.includes('.'))).toEqual([]);
  expect(existsSync(join(repoDir(), 'snapshots', commitOf(REPO), 'model.safetensors'))).toBe(false);
  // No temp files or locks left either.
  expect(blobs().filter((b) => /\.tmp-/.test(b))).toEqual([]);
  const locks = join(hubCache, '.locks', 'models--org--faulty');
  expect(existsSync(locks) ? readdirSync(locks) : []).toEqual([]);
}

/** The fault healed: the next pull finishes (resuming what is there) and the file is the right one. */
async function expectHealedPull(): Promise<number> {
  hub.faults = [];
  const before = hub.log.length;
  const r = await runCli(Pull, [REPO, '--file', 'model.safetensors', '--json'], env);
  expect(r.code).toBe(0);
  const file = join(repoDir(), 'snapshots', commitOf(REPO), 'model.safetensors');
  expect(createHash('sha256').update(readFileSync(file)).digest('hex')).toBe(sha);
  const cdn = hub.log.slice(before).filter((l) => CDN.test(l.path));
  return Number(/bytes=(\d+)-/.exec(cdn[0]?.range ?? '')?.[1] ?? 0);
}

const pull = () => runCli(Pull, [REPO, '--file', 'model.safetensors'], env);

describe('mgen pull against a faulty hub', () => {
  it('headers then silence, every time: exit 5 naming the host/path and "stalled", nothing cached, then a clean pull', async () => {
    hub.fault({match: CDN, times: FOREVER, stallAfter: 0});
    const r = await pull();
    expect(r.code).toBe(5);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/127\.0\.0\.1:\d+\/cdn\/[0-9a-f]{64}\/model\.safetensors: stalled/);
    expectNoCacheEntry();
    expect(partialBytes()).toBe(0);
    await expectHealedPull();
  }, 30_000);

  it('a stall after a few bytes each time (a crawl): exit 5, and the partial it left is resumed by the next pull', async () => {
    hub.fault({match: CDN, times: FOREVER, stallAfter: 100});
    const r = await pull();
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/stalled/);
    expectNoCacheEntry();
    const kept = partialBytes();
    expect(kept).toBeGreaterThan(0);
    expect(await expectHealedPull()).toBe(kept);
  }, 30_000);

  it('a stall after a good run of bytes is resumed at once: the pull finishes (exit 0)', async () => {
    hub.fault({match: CDN, times: 3, stallAfter: 12_000});
    const before = hub.log.length;
    const r = await runCli(Pull, [REPO, '--file', 'model.safetensors', '--json'], env);
    expect(r.code).toBe(0);
    const ranges = hub.log.slice(before).filter((l) => CDN.test(l.path)).map((l) => l.range);
    expect(ranges).toEqual([undefined, `bytes=12000-${weights.length - 1}`, `bytes=24000-${weights.length - 1}`, `bytes=36000-${weights.length - 1}`]);
    expect(createHash('sha256').update(readFileSync(join(repoDir(), 'snapshots', commitOf(REPO), 'model.safetensors'))).digest('hex')).toBe(sha);
  }, 30_000);

  it('a body slower than the stall threshold: exit 5 "stalled", then resumed', async () => {
    hub.fault({match: CDN, times: FOREVER, bytesPerSecond: 300});
    const r = await pull();
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/stalled \(under 1024 bytes\/s/);
    expectNoCacheEntry();
    const kept = partialBytes();
    expect(kept).toBeGreaterThan(0);
    expect(await expectHealedPull()).toBe(kept);
  }, 30_000);

  it('a Content-Length longer than the body sent: exit 5 at once, nothing cached', async () => {
    hub.fault({match: CDN, times: FOREVER, extraLength: 100});
    const r = await pull();
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/sent \d+ bytes where \d+ were announced/);
    expectNoCacheEntry();
    await expectHealedPull();
  }, 30_000);

  it('a partial resumed from a server that ignores Range (200 with the whole body): the file is fetched whole, exit 0', async () => {
    hub.fault({match: CDN, times: FOREVER, stallAfter: 100});
    expect((await pull()).code).toBe(5);
    expect(partialBytes()).toBeGreaterThan(0);
    hub.faults = [];
    hub.fault({match: CDN, times: FOREVER, ignoreRange: true});
    const before = hub.log.length;
    const r = await runCli(Pull, [REPO, '--file', 'model.safetensors', '--json'], env);
    expect(r.code).toBe(0);
    const cdn = hub.log.slice(before).filter((l) => CDN.test(l.path));
    expect(cdn[0]).toMatchObject({status: 200});
    expect(cdn[0]!.range).toMatch(/^bytes=\d+-/);
    expect(createHash('sha256').update(readFileSync(join(repoDir(), 'snapshots', commitOf(REPO), 'model.safetensors'))).digest('hex')).toBe(sha);
    expect(blobs().filter((b) => b.includes('.'))).toEqual([]);
  }, 30_000);

  it('a redirect loop on resolve: exit 5 "too many redirects", nothing cached', async () => {
    hub.fault({match: /\/resolve\//, times: FOREVER, redirectLoop: true});
    const r = await pull();
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/resolve\/[0-9a-f]{40}\/model\.safetensors: too many redirects/);
    expectNoCacheEntry();
    await expectHealedPull();
  }, 30_000);

  it('an API listing whose body stalls once is retried: exit 0', async () => {
    hub.fault({match: /^\/api\/models\//, times: 1, stallAfter: 0});
    const r = await runCli(Pull, [REPO, '--file', 'model.safetensors', '--json'], env);
    expect(r.code).toBe(0);
  }, 30_000);
});

describe('remote mgen inspect against a faulty hub', () => {
  const inspect = () => runCli(Inspect, [`${REPO}/model.safetensors`, '--json'], env);

  it('a body that stalls: exit 5 "stalled" naming the host/path', async () => {
    hub.fault({match: CDN, times: FOREVER, stallAfter: 0});
    const r = await inspect();
    expect(r.code).toBe(5);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/127\.0\.0\.1:\d+\/cdn\/[0-9a-f]{64}\/model\.safetensors: stalled/);
  }, 30_000);

  it('a body that crawls: exit 5 "stalled"', async () => {
    hub.fault({match: CDN, times: FOREVER, bytesPerSecond: 300});
    const r = await inspect();
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/stalled/);
  }, 30_000);

  it('a redirect loop: exit 5 "too many redirects"', async () => {
    hub.fault({match: /\/resolve\//, times: FOREVER, redirectLoop: true});
    const r = await inspect();
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/too many redirects/);
  }, 30_000);

  it('a server that ignores Range, or announces a longer body than it sends: the report still comes (exit 0)', async () => {
    hub.fault({match: CDN, times: FOREVER, ignoreRange: true});
    const a = await inspect();
    expect(a.code).toBe(0);
    expect(JSON.parse(a.stdout).format).toBe('single-file');
    hub.faults = [];
    hub.fault({match: CDN, times: FOREVER, extraLength: 100});
    const b = await inspect();
    expect(b.code).toBe(0);
  }, 30_000);
});
