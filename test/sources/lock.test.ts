import {describe, expect, it} from '@jest/globals';
import {spawnSync} from 'node:child_process';
import {existsSync, mkdtempSync, utimesSync, writeFileSync} from 'node:fs';
import {hostname, tmpdir} from 'node:os';
import {join} from 'node:path';
import {InterruptedError} from '../../src/errors.js';
import {acquireLock} from '../../src/sources/cache/lock.js';

const dir = () => mkdtempSync(join(tmpdir(), 'mgen-lock-'));

describe('lock files', () => {
  it('a second holder waits until the first releases', async () => {
    const p = join(dir(), 'a.lock');
    const first = await acquireLock(p);
    let got = false;
    let waited = false;
    const second = acquireLock(p, {pollMs: 10, onWait: () => (waited = true)}).then((l) => {
      got = true;
      return l;
    });
    await new Promise((r) => setTimeout(r, 60));
    expect(got).toBe(false);
    expect(waited).toBe(true);
    first.release();
    (await second).release();
    expect(got).toBe(true);
    expect(existsSync(p)).toBe(false);
  });

  it('a lock left by a dead process is stale and taken over', async () => {
    const p = join(dir(), 'b.lock');
    const dead = spawnSync(process.execPath, ['-e', 'console.log(process.pid)']).stdout.toString().trim();
    writeFileSync(p, JSON.stringify({pid: Number(dead), host: hostname()}));
    const l = await acquireLock(p, {pollMs: 10, timeoutMs: 2000});
    l.release();
  });

  it('a lock not refreshed for staleMs is stale even from another host', async () => {
    const p = join(dir(), 'c.lock');
    writeFileSync(p, JSON.stringify({pid: 1, host: 'elsewhere'}));
    const old = new Date(Date.now() - 60_000);
    utimesSync(p, old, old);
    const l = await acquireLock(p, {pollMs: 10, staleMs: 30_000, timeoutMs: 2000});
    l.release();
  });

  it('waiting stops on Ctrl-C (abort)', async () => {
    const p = join(dir(), 'd.lock');
    const held = await acquireLock(p);
    const ac = new AbortController();
    const waiting = acquireLock(p, {pollMs: 10, signal: ac.signal});
    ac.abort();
    await expect(waiting).rejects.toBeInstanceOf(InterruptedError);
    held.release();
  });
});
