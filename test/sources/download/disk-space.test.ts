// Sizes and disk space before and during a download: a listing that announces an absurd size is refused before
// anything is planned, parts are cut lazily (the state never lists one entry per part of a huge file), the free
// space is checked (and shared between parallel downloads) before any request, and a full disk (ENOSPC) is exit 7
// naming the path and the bytes needed, with nothing left behind. Real ENOSPC comes from a 1 MiB tmpfs when this
// test may mount one (root); those cases are skipped otherwise.
import {afterAll, afterEach, beforeAll, beforeEach, describe, expect, it} from '@jest/globals';
import {execFileSync} from 'node:child_process';
import {createHash} from 'node:crypto';
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs';
import http from 'node:http';
import type {AddressInfo} from 'node:net';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import Pull from '../../../src/commands/pull.js';
import {StorageError} from '../../../src/errors.js';
import {downloadFile} from '../../../src/sources/download/fetch-file.js';
import {commitOf, LoopbackHub, startHub} from '../../helpers/loopback-hub.js';
import {runCli} from '../../helpers/sources-cli.js';

const MiB = 1 << 20;
const big = Buffer.alloc(3 * MiB);
for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i);
const bigSha = createHash('sha256').update(big).digest('hex');

/** A 1 MiB tmpfs (real ENOSPC), when this process may mount one. */
const tmpfs = mkdtempSync(join(tmpdir(), 'mgen-tmpfs-'));
let tmpfsOk = false;
try {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', tmpfs], {stdio: 'ignore'});
  tmpfsOk = true;
} catch {
  /* not root, or no mount here: the tmpfs cases are skipped */
}
const itTmpfs = tmpfsOk ? it : it.skip;

let hub: LoopbackHub;
let dir: string;
beforeAll(async () => {
  hub = await startHub({id: 'org/big', commit: commitOf('big'), files: [{path: 'big.safetensors', content: big}]});
});
afterAll(async () => {
  await hub.close();
  if (tmpfsOk) execFileSync('umount', [tmpfs]);
  rmSync(tmpfs, {recursive: true, force: true});
});
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mgen-space-'));
  hub.faults = [];
});
afterEach(() => {
  rmSync(dir, {recursive: true, force: true});
  if (tmpfsOk) for (const f of readdirSync(tmpfs)) rmSync(join(tmpfs, f), {recursive: true, force: true});
});

const url = () => `${hub.url}/org/big/resolve/${commitOf('big')}/big.safetensors`;
const job = (dest = join(dir, 'blob')) => ({url: url(), size: big.length, sha256: bigSha, dest, label: 'org/big/big.safetensors'});
const plenty = async () => 2 ** 50;

/** Every file under `root`, recursively (relative names). */
function walk(root: string, at = ''): string[] {
  return readdirSync(join(root, at), {withFileTypes: true}).flatMap((e) => (e.isDirectory() ? walk(root, join(at, e.name)) : [join(at, e.name)]));
}

describe('announced sizes', () => {
  it('a listing that announces 2^52 bytes is refused before any request: exit 5, nothing written', async () => {
    const before = hub.log.length;
    const err = await downloadFile({...job(), size: 2 ** 52}).catch((e: unknown) => e);
    expect((err as {exitCode?: number}).exitCode).toBe(5);
    expect(String((err as Error).message)).toMatch(/announces a size of 4503599627370496 bytes.*refused/);
    expect(hub.log.length).toBe(before);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('parts are cut lazily: an interrupted download of a huge (allowed) file keeps a state of a few parts, not one per 32 MiB', async () => {
    // A server for a virtual file of 2^45 bytes: each ranged answer sends 64 KiB of its part, then cuts.
    const size = 2 ** 45;
    const server = http.createServer((req, res) => {
      const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '')!;
      const [a, b] = [Number(m[1]), Number(m[2])];
      res.writeHead(206, {'content-range': `bytes ${a}-${b}/${size}`, 'content-length': String(b - a + 1), etag: '"v1"'});
      res.write(Buffer.alloc(64 << 10), () => res.socket?.destroy());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const ac = new AbortController();
    try {
      const err = await downloadFile({url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/huge`, size, dest: join(dir, 'huge'), label: 'huge'}, {
        maxFileBytes: 2 ** 46, freeBytes: plenty, rangeThreshold: 1, ranges: 2, http: {baseDelayMs: 5}, signal: ac.signal, onBytes: () => ac.abort(),
      }).catch((e: unknown) => e);
      expect((err as {exitCode?: number}).exitCode).toBe(130);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
    const statePath = join(dir, 'huge.mgen-partial.json');
    expect(statSync(statePath).size).toBeLessThan(1024);
    const state = JSON.parse(readFileSync(statePath, 'utf8')) as {segments: unknown[]; next: number};
    expect(state.segments.length).toBeLessThanOrEqual(2);
    expect(state.next).toBeLessThan(size);
  });
});

describe('free space', () => {
  it('not enough free space: exit 7 naming the path and the bytes needed, before any request, nothing left behind', async () => {
    const before = hub.log.length;
    const err = await downloadFile(job(), {freeBytes: async () => 1000}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).exitCode).toBe(7);
    expect((err as Error).message).toBe(`not enough disk space for ${join(dir, 'blob')}: needs 3.1 MB, 1.0 kB free`);
    expect(hub.log.length).toBe(before);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a resumed partial needs only its remainder', async () => {
    writeFileSync(join(dir, 'blob.incomplete'), big.subarray(0, 2 * MiB));
    const r = await downloadFile(job(), {freeBytes: async () => 1.5 * MiB});
    expect(r.resumedFrom).toBe(2 * MiB);
    expect(readFileSync(join(dir, 'blob')).equals(big)).toBe(true);
  });

  it('parallel downloads share the free space: two files of 3 MiB with 4.5 MiB free, one is refused', async () => {
    const rs = await Promise.allSettled([
      downloadFile(job(join(dir, 'a')), {freeBytes: async () => 4.5 * MiB}),
      downloadFile(job(join(dir, 'b')), {freeBytes: async () => 4.5 * MiB}),
    ]);
    expect(rs.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const refused = rs.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(refused.reason).toBeInstanceOf(StorageError);
  });
});

describe('a full disk (1 MiB tmpfs)', () => {
  itTmpfs('ENOSPC while writing (the probe said there was room): exit 7 with path and size; partial, state and temp files removed', async () => {
    const dest = join(tmpfs, 'blobs', 'blob');
    mkdirSync(join(tmpfs, 'blobs'));
    const err = await downloadFile(job(dest), {freeBytes: plenty, rangeThreshold: MiB, ranges: 4}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).exitCode).toBe(7);
    expect((err as Error).message).toBe(`no space left on device writing ${dest}: 3.1 MB needed; the partial download was removed to free the space`);
    expect(walk(tmpfs)).toEqual([]);
  });

  itTmpfs('mgen pull onto a small disk: exit 7 before the download, and no lock or temp file is left', async () => {
    const env = {HF_HOME: join(tmpfs, 'hf'), HF_HUB_CACHE: undefined, MGEN_HOME: join(dir, 'mgen'), HF_ENDPOINT: hub.url, HF_TOKEN: undefined, HF_HUB_OFFLINE: undefined, MODEL_ID: undefined, MGEN_RETRY_BASE_MS: '5'};
    const r = await runCli(Pull, ['org/big'], env);
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/not enough disk space for .*blobs\/[0-9a-f]{64}: needs 3\.1 MB/);
    expect(walk(tmpfs)).toEqual([]);
  });

  itTmpfs('mgen pull onto a disk that is already full: exit 7, and no empty lock file stays behind', async () => {
    const env = {HF_HOME: join(tmpfs, 'hf'), HF_HUB_CACHE: undefined, MGEN_HOME: join(dir, 'mgen'), HF_ENDPOINT: hub.url, HF_TOKEN: undefined, HF_HUB_OFFLINE: undefined, MODEL_ID: undefined, MGEN_RETRY_BASE_MS: '5'};
    mkdirSync(join(tmpfs, 'hf', 'hub', '.locks', 'models--org--big'), {recursive: true});
    // Fill the disk to the last byte.
    try {
      writeFileSync(join(tmpfs, 'filler'), Buffer.alloc(2 * MiB));
    } catch {
      /* ENOSPC: full */
    }
    const r = await runCli(Pull, ['org/big'], env);
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/no space left on device writing .*\.mgen\.lock; no lock file was left/);
    expect(walk(tmpfs).filter((f) => f !== 'filler')).toEqual([]);
    expect(existsSync(join(tmpfs, 'hf', 'hub', 'models--org--big', 'snapshots'))).toBe(false);
  });
});
