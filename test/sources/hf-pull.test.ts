import {afterAll, beforeAll, beforeEach, describe, expect, it} from '@jest/globals';
import {createHash} from 'node:crypto';
import {existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {InterruptedError, NotFoundError, UsageError} from '../../src/errors.js';
import {ChecksumError} from '../../src/sources/download/fetch-file.js';
import {pullHf, type HfPullOptions} from '../../src/sources/hf/hf-pull.js';
import {diffusersRepo, safetensors, singleFileRepo} from '../helpers/hub-fixtures.js';
import {commitOf, LoopbackHub, startHub} from '../helpers/loopback-hub.js';

let hub: LoopbackHub;
let home: string;
let env: NodeJS.ProcessEnv;
const big = Buffer.alloc(3 << 20);
for (let i = 0; i < big.length; i += 4) big.writeUInt32LE(i * 2654435761 >>> 0, i);
const bigSha = createHash('sha256').update(big).digest('hex');

const opts = (o: Partial<HfPullOptions> & {repo: string}): HfPullOptions => ({endpoint: hub.url, env, http: {baseDelayMs: 5}, ...o});

beforeAll(async () => {
  hub = await startHub(diffusersRepo('org/tiny-sd'), singleFileRepo('org/single'), singleFileRepo('org/two', ['a.safetensors', 'b.safetensors']));
  hub.addRepo({id: 'org/big', commit: commitOf('big'), files: [{path: 'big.safetensors', content: big}]});
  hub.addRepo({id: 'org/badsha', commit: commitOf('badsha'), files: [{path: 'm.safetensors', content: safetensors([['w', 'F32', [64]]]), sha256: 'f'.repeat(64)}]});
});
afterAll(async () => hub.close());
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'mgen-pull-'));
  env = {HF_HOME: join(home, 'hf'), MGEN_HOME: join(home, 'mgen')};
  hub.faults = [];
});

const repoDir = (repo: string) => join(home, 'hf', 'hub', `models--${repo.replace('/', '--')}`);

describe('pullHf into the HF cache layout', () => {
  it('pulls only what the pipeline needs into blobs + relative snapshot links + refs/main', async () => {
    const r = await pullHf(opts({repo: 'org/tiny-sd'}));
    const commit = commitOf('org/tiny-sd');
    expect(r.commit).toBe(commit);
    expect(r.path).toBe(join(repoDir('org/tiny-sd'), 'snapshots', commit));
    expect(readFileSync(join(repoDir('org/tiny-sd'), 'refs', 'main'), 'utf8')).toBe(commit);
    const paths = r.files.map((f) => f.path);
    expect(paths).toContain('unet/diffusion_pytorch_model.safetensors');
    expect(paths).not.toContain('unet/diffusion_pytorch_model.bin');
    expect(paths).not.toContain('v1-5-pruned.ckpt');
    const link = join(r.path, 'unet', 'diffusion_pytorch_model.safetensors');
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    const target = readlinkSync(link);
    expect(target.startsWith('../../../blobs/')).toBe(true);
    const src = hub.repos.get('org/tiny-sd')!.files.find((f) => f.path === 'unet/diffusion_pytorch_model.safetensors')!.content!;
    expect(target.endsWith(createHash('sha256').update(src).digest('hex'))).toBe(true);
    expect(readFileSync(link).equals(src)).toBe(true);
    // Regular (non-LFS) files are named by their git blob sha1, as huggingface_hub names them by ETag.
    const mi = readlinkSync(join(r.path, 'model_index.json'));
    expect(mi).toMatch(/^\.\.\/\.\.\/blobs\/[0-9a-f]{40}$/);
    expect(r.bytes_downloaded).toBe(r.bytes_total);
    expect(r.download_seconds).toBeGreaterThan(0);
    // Only selected files were fetched.
    expect(hub.requestsTo(/\.ckpt$|\.msgpack$|onnx/).length).toBe(0);
    // A second pull downloads nothing.
    const again = await pullHf(opts({repo: 'org/tiny-sd'}));
    expect(again.bytes_downloaded).toBe(0);
    expect(again.download_seconds).toBeUndefined();
  });

  it('--dry-run lists files and bytes and writes nothing', async () => {
    const r = await pullHf(opts({repo: 'org/tiny-sd', dryRun: true, variant: 'fp16'}));
    expect(r.dry_run).toBe(true);
    expect(r.files.map((f) => f.path)).toContain('unet/diffusion_pytorch_model.fp16.safetensors');
    expect(r.bytes_total).toBe(r.files.reduce((a, f) => a + f.size, 0));
    expect(existsSync(join(home, 'hf'))).toBe(false);
  });

  it('several weight files and no way to ask: a usage error listing them and the flag', async () => {
    const err = await pullHf(opts({repo: 'org/two'})).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect(String((err as Error).message)).toMatch(/a\.safetensors, b\.safetensors/);
    expect((err as UsageError).hint).toMatch(/--file/);
    const r = await pullHf(opts({repo: 'org/two', file: 'b.safetensors'}));
    expect(r.files.map((f) => f.path)).toEqual(['b.safetensors']);
    const asked = await pullHf(opts({repo: 'org/two', choose: async (c) => c[0]!.path}));
    expect(asked.files.map((f) => f.path)).toEqual(['a.safetensors']);
  });

  it('heals a 500, waits out a 429, and resumes a body cut halfway with a Range request', async () => {
    hub.fault({match: /^\/org\/big\/resolve/, times: 1, status: 500});
    hub.fault({match: /^\/api\/models\/org\/big\/tree/, times: 1, status: 429, headers: {'retry-after': '1'}});
    hub.fault({match: /^\/cdn\//, times: 1, cutAfter: 1 << 20});
    const before = hub.log.length;
    const r = await pullHf(opts({repo: 'org/big'}));
    expect(readFileSync(join(r.path, 'big.safetensors')).equals(big)).toBe(true);
    const cdn = hub.log.slice(before).filter((l) => l.path.startsWith('/cdn/'));
    expect(cdn.length).toBe(2);
    expect(cdn[1]!.range).toMatch(/^bytes=\d+-/);
    expect(Number(/bytes=(\d+)-/.exec(cdn[1]!.range!)![1])).toBeGreaterThan(0);
    expect(r.bytes_downloaded).toBe(big.length);
  });

  it('resumes from an .incomplete part left by an earlier run (only the rest is fetched)', async () => {
    const blobs = join(repoDir('org/big'), 'blobs');
    mkdirSync(blobs, {recursive: true});
    writeFileSync(join(blobs, `${bigSha}.incomplete`), big.subarray(0, 1_000_000));
    const r = await pullHf(opts({repo: 'org/big', download: {workerHashThreshold: 1 << 20}}));
    expect(r.bytes_downloaded).toBe(big.length - 1_000_000);
    expect(hub.log.slice(-1)[0]!.range).toBe(`bytes=1000000-${big.length - 1}`);
    expect(readFileSync(join(r.path, 'big.safetensors')).equals(big)).toBe(true);
    expect(readdirSync(blobs)).toEqual([bigSha]);
  });

  it('downloads large files in parallel ranges and verifies them', async () => {
    const before = hub.log.length;
    const r = await pullHf(opts({repo: 'org/big', download: {rangeThreshold: 1 << 20, ranges: 4, workerHashThreshold: 1 << 20}}));
    const ranges = hub.log.slice(before).filter((l) => l.path.startsWith('/cdn/')).map((l) => l.range);
    expect(ranges.length).toBe(4);
    expect(readFileSync(join(r.path, 'big.safetensors')).equals(big)).toBe(true);
  });

  it('Ctrl-C leaves only a resumable partial; the next pull finishes it', async () => {
    const ac = new AbortController();
    const err = await pullHf(opts({repo: 'org/big', signal: ac.signal, download: {rangeThreshold: 1 << 20, ranges: 2},
      progress: {start() {}, bytes() { ac.abort(); }, fileDone() {}, end() {}}})).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InterruptedError);
    const blobs = readdirSync(join(repoDir('org/big'), 'blobs'));
    expect(blobs.sort()).toEqual([`${bigSha}.mgen-partial`, `${bigSha}.mgen-partial.json`]);
    expect(existsSync(join(repoDir('org/big'), 'snapshots', commitOf('big'), 'big.safetensors'))).toBe(false);
    const r = await pullHf(opts({repo: 'org/big', download: {rangeThreshold: 1 << 20, ranges: 3, workerHashThreshold: 1 << 20}}));
    expect(r.bytes_downloaded).toBeLessThan(big.length);
    expect(readFileSync(join(r.path, 'big.safetensors')).equals(big)).toBe(true);
    expect(readdirSync(join(repoDir('org/big'), 'blobs'))).toEqual([bigSha]);
  });

  it('a wrong sha256 is caught by the worker-thread hasher too', async () => {
    hub.addRepo({id: 'org/bigbad', commit: commitOf('bigbad'), files: [{path: 'big.safetensors', content: big, sha256: 'e'.repeat(64)}]});
    const err = await pullHf(opts({repo: 'org/bigbad', download: {rangeThreshold: 1 << 20, ranges: 2, workerHashThreshold: 1 << 20}})).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChecksumError);
    expect(readdirSync(join(repoDir('org/bigbad'), 'blobs'))).toEqual([]);
  });

  it('a wrong sha256: refused with exit 5, partial removed, cache as it was', async () => {
    const err = await pullHf(opts({repo: 'org/badsha'})).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChecksumError);
    expect((err as ChecksumError).exitCode).toBe(5);
    const dir = repoDir('org/badsha');
    expect(existsSync(join(dir, 'blobs')) ? readdirSync(join(dir, 'blobs')) : []).toEqual([]);
    expect(existsSync(join(dir, 'snapshots', commitOf('badsha'), 'm.safetensors'))).toBe(false);
    expect(existsSync(join(dir, 'refs', 'main'))).toBe(false);
  });

  it('two pulls of the same model at once download each file once', async () => {
    const before = hub.log.length;
    const [a, b] = await Promise.all([pullHf(opts({repo: 'org/big'})), pullHf(opts({repo: 'org/big'}))]);
    const gets = hub.log.slice(before).filter((l) => l.path.startsWith('/cdn/'));
    expect(gets.length).toBe(1);
    expect(a.bytes_downloaded + b.bytes_downloaded).toBe(big.length);
    expect(readFileSync(join(a.path, 'big.safetensors')).equals(big)).toBe(true);
    expect(readdirSync(join(home, 'hf', 'hub', '.locks', 'models--org--big'))).toEqual([]);
  });

  it('offline: resolves refs -> snapshot from the cache, exit 3 when absent', async () => {
    await pullHf(opts({repo: 'org/single'}));
    const n = hub.log.length;
    const r = await pullHf(opts({repo: 'org/single', env: {...env, HF_HUB_OFFLINE: '1'}}));
    expect(hub.log.length).toBe(n);
    expect(r.files.map((f) => f.path)).toEqual(['model.safetensors']);
    // An unreachable Hub falls back to the cache too.
    const down = await pullHf({repo: 'org/single', endpoint: 'http://127.0.0.1:1', env, http: {baseDelayMs: 1, retries: 1}});
    expect(down.commit).toBe(commitOf('org/single'));
    const err = await pullHf(opts({repo: 'org/tiny-sd', offline: true})).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as NotFoundError).exitCode).toBe(3);
  });
});
afterAll(() => rmSync(home, {recursive: true, force: true}));
