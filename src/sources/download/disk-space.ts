// Disk space for downloads: the free-space probe (statfs, injectable), in-process reservations so parallel
// downloads to one filesystem do not each count the same free bytes, and ENOSPC/EDQUOT -> StorageError (exit 7)
// naming the path and the space needed.
import {statSync, writeFileSync, renameSync, rmSync, mkdirSync} from 'node:fs';
import {statfs} from 'node:fs/promises';
import {dirname} from 'node:path';
import {StorageError} from '../../errors.js';
import {formatBytes} from './progress.js';

/** Free bytes for an unprivileged writer on the filesystem holding `dir` (an existing folder). */
export type FreeSpaceProbe = (dir: string) => Promise<number>;

export const statfsFreeBytes: FreeSpaceProbe = async (dir) => {
  const s = await statfs(dir);
  return Number(s.bavail) * Number(s.bsize);
};

export function isNoSpace(err: unknown): boolean {
  const code = (err as {code?: string} | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** Reserved bytes per device (st_dev) by downloads running in this process. */
const reserved = new Map<number, number>();

export interface SpaceReservation {
  /** Bytes now written (no longer reserved: the probe sees them as used). */
  used(n: number): void;
  release(): void;
}

/**
 * Checks that `needed` more bytes fit on the filesystem of `dir` next to what other downloads of this process
 * still have to write, and reserves them. Throws StorageError (exit 7) naming `path` when they do not.
 */
export async function reserveSpace(dir: string, path: string, needed: number, probe: FreeSpaceProbe = statfsFreeBytes): Promise<SpaceReservation> {
  let dev = -1;
  let free = Infinity;
  try {
    dev = statSync(dir).dev;
    free = await probe(dir);
  } catch (err) {
    if (isNoSpace(err)) throw err;
    // No statfs here (unusual filesystems): the writes themselves will tell.
  }
  const others = reserved.get(dev) ?? 0;
  if (needed > 0 && free - others < needed) {
    throw new StorageError(`not enough disk space for ${path}: needs ${formatBytes(needed)}, ${formatBytes(Math.max(0, free - others))} free`, {
      hint: 'free some space (or point HF_HUB_CACHE / MGEN_HOME elsewhere), then pull again',
    });
  }
  let left = Math.max(0, needed);
  reserved.set(dev, others + left);
  const sub = (n: number) => {
    const k = Math.min(left, n);
    left -= k;
    const v = (reserved.get(dev) ?? 0) - k;
    if (v <= 0) reserved.delete(dev);
    else reserved.set(dev, v);
  };
  return {used: sub, release: () => sub(left)};
}

/** ENOSPC/EDQUOT while writing `path` -> StorageError naming it and what was still needed. */
export function noSpaceError(path: string, needed: number | undefined, what: string, cause: unknown): StorageError {
  const code = (cause as {code?: string}).code === 'EDQUOT' ? 'disk quota exceeded' : 'no space left on device';
  return new StorageError(`${code} writing ${path}${needed ? `: ${formatBytes(needed)} needed` : ''}; ${what}`, {
    hint: 'free some space, then pull again',
    cause,
  });
}

/**
 * Writes a small file by temp + rename; a write that fails (a full disk) removes its temp file, so no zero-byte
 * `*.tmp-*` is left behind.
 */
export function writeSmallFileAtomic(path: string, data: string): void {
  mkdirSync(dirname(path), {recursive: true});
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, {force: true});
    throw err;
  }
}
