// Cross-process lock files (O_EXCL create) so two pulls of the same model neither corrupt nor double-download.
// A lock names its owner (pid, host); it is stale when that process is gone (same host) or when it has not
// been refreshed for `staleMs` (the holder touches it while it works).
import {closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync, utimesSync, writeSync} from 'node:fs';
import {hostname} from 'node:os';
import {dirname} from 'node:path';
import {InterruptedError, NetworkError} from '../../errors.js';
import {isNoSpace, noSpaceError} from '../download/disk-space.js';

export interface LockOptions {
  staleMs?: number;
  pollMs?: number;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Called once when we start waiting for another holder. */
  onWait?: (owner: string) => void;
}

export interface Lock {
  release(): void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as {code?: string}).code === 'EPERM';
  }
}

function isStale(path: string, staleMs: number): boolean {
  try {
    const st = statSync(path);
    const owner = JSON.parse(readFileSync(path, 'utf8')) as {pid?: number; host?: string};
    if (owner.host === hostname() && typeof owner.pid === 'number' && !alive(owner.pid)) return true;
    return Date.now() - st.mtimeMs > staleMs;
  } catch (err) {
    if ((err as {code?: string}).code === 'ENOENT') return false;
    // Unreadable or half-written owner: stale only when old.
    try {
      return Date.now() - statSync(path).mtimeMs > Math.min(staleMs, 5000);
    } catch {
      return false;
    }
  }
}

export async function acquireLock(path: string, opts: LockOptions = {}): Promise<Lock> {
  const staleMs = opts.staleMs ?? 120_000;
  const pollMs = opts.pollMs ?? 200;
  const deadline = Date.now() + (opts.timeoutMs ?? 6 * 3600_000);
  mkdirSync(dirname(path), {recursive: true});
  let warned = false;
  for (;;) {
    if (opts.signal?.aborted) throw new InterruptedError();
    try {
      const fd = openSync(path, 'wx');
      try {
        writeSync(fd, JSON.stringify({pid: process.pid, host: hostname(), since: new Date().toISOString()}));
      } catch (err) {
        // A full disk: no empty lock file is left behind.
        closeSync(fd);
        rmSync(path, {force: true});
        throw isNoSpace(err) ? noSpaceError(path, undefined, 'no lock file was left', err) : err;
      }
      closeSync(fd);
      const timer = setInterval(() => {
        try {
          const t = new Date();
          utimesSync(path, t, t);
        } catch {
          /* gone */
        }
      }, Math.max(1000, staleMs / 4));
      timer.unref();
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          clearInterval(timer);
          rmSync(path, {force: true});
        },
      };
    } catch (err) {
      if ((err as {code?: string}).code !== 'EEXIST') throw err;
    }
    if (isStale(path, staleMs)) {
      rmSync(path, {force: true});
      continue;
    }
    if (!warned) {
      warned = true;
      let owner = '';
      try {
        owner = readFileSync(path, 'utf8');
      } catch {
        /* ignore */
      }
      opts.onWait?.(owner);
    }
    if (Date.now() > deadline) throw new NetworkError(`timed out waiting for the lock ${path}`, {hint: 'another mgen pull may be stuck; remove the lock file if not'});
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
