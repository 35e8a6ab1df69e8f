// The HuggingFace hub cache layout, shared with Python's huggingface_hub and diffusers:
// <cache>/models--org--name/{blobs/<sha256|git-sha1>, snapshots/<commit>/<path> -> ../../blobs/<x> (relative
// symlinks), refs/<revision> = commit without newline}; locks under <cache>/.locks/models--org--name/.
import {existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync} from 'node:fs';
import {homedir} from 'node:os';
import {dirname, join, posix, relative} from 'node:path';
import {checkCommit, checkOid, pathInside} from './safe-path.js';

export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  if (env.HUGGINGFACE_HUB_CACHE) return env.HUGGINGFACE_HUB_CACHE;
  const home = env.HF_HOME || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'huggingface');
  return join(home, 'hub');
}

export function repoFolderName(repo: string): string {
  return `models--${repo.split('/').join('--')}`;
}

export function repoFromFolderName(name: string): string | undefined {
  const m = /^models--(.+)$/.exec(name);
  return m ? m[1]!.split('--').join('/') : undefined;
}

export interface SnapshotFile {
  path: string;
  size: number;
  /** The blob file name (sha256 or git sha1), when the entry is a link into blobs/. */
  blob?: string;
}

const COMMIT = /^[0-9a-f]{40}$/;

/** Writes a file atomically: temp file in the same folder, then rename. */
export function writeFileAtomic(path: string, data: string | Buffer): void {
  mkdirSync(dirname(path), {recursive: true});
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

export class HfRepoCache {
  readonly dir: string;
  readonly blobsDir: string;
  readonly snapshotsDir: string;
  readonly refsDir: string;
  readonly locksDir: string;

  constructor(readonly cacheDir: string, readonly repo: string) {
    this.dir = join(cacheDir, repoFolderName(repo));
    this.blobsDir = join(this.dir, 'blobs');
    this.snapshotsDir = join(this.dir, 'snapshots');
    this.refsDir = join(this.dir, 'refs');
    this.locksDir = join(cacheDir, '.locks', repoFolderName(repo));
  }

  exists(): boolean {
    return existsSync(this.dir);
  }

  readRef(revision: string): string | undefined {
    try {
      const v = readFileSync(join(this.refsDir, revision), 'utf8').trim();
      return COMMIT.test(v) ? v : undefined;
    } catch {
      return undefined;
    }
  }

  writeRef(revision: string, commit: string): void {
    if (revision === commit) return;
    checkCommit(commit, `${this.repo}: commit`);
    writeFileAtomic(pathInside(this.refsDir, revision, {what: `${this.repo}: ref`}), commit);
  }

  /** revision (branch, tag, or commit) -> a commit that has a snapshot here, else undefined. */
  resolveCommit(revision = 'main'): string | undefined {
    if (COMMIT.test(revision) && existsSync(this.snapshotDir(revision))) return revision;
    const c = this.readRef(revision);
    if (c && existsSync(this.snapshotDir(c))) return c;
    if (COMMIT.test(revision) === false && /^[0-9a-f]{7,39}$/.test(revision)) {
      const hit = this.commits().find((x) => x.startsWith(revision));
      if (hit) return hit;
    }
    return undefined;
  }

  snapshotDir(commit: string): string {
    return join(this.snapshotsDir, commit);
  }

  /** blobs/<blob> for a blob name that is an oid (40 or 64 hex), inside blobs/ (throws UnsafePathError otherwise). */
  blobPath(blob: string): string {
    return pathInside(this.blobsDir, checkOid(blob, `${this.repo}: blob name`), {what: `${this.repo}: blob`, final: 'follow'});
  }

  /** The lock file a pull holds while it downloads a blob. */
  blobLockPath(blob: string): string {
    return pathInside(this.locksDir, `${checkOid(blob, `${this.repo}: blob name`)}.mgen.lock`, {what: `${this.repo}: lock`});
  }

  hasBlob(blob: string, size?: number): boolean {
    try {
      const st = statSync(this.blobPath(blob));
      return st.isFile() && (size === undefined || st.size === size);
    } catch {
      return false;
    }
  }

  /** snapshots/<commit>/<path> -> relative link to blobs/<blob> (replacing what was there). */
  link(commit: string, path: string, blob: string): void {
    // Every part is checked (commit 40 hex, path repo-relative, blob an oid) and the link must land inside snapshots/:
    // a hostile listing must never make this unlink or replace a file elsewhere.
    const target = pathInside(this.snapshotsDir, [checkCommit(commit, `${this.repo}: commit`), path], {what: `${this.repo}: snapshot link`});
    const blobFile = this.blobPath(blob);
    mkdirSync(dirname(target), {recursive: true});
    const rel = relative(dirname(target), blobFile).split('\\').join(posix.sep);
    try {
      if (lstatSync(target).isSymbolicLink() && readlinkSync(target) === rel) return;
      unlinkSync(target);
    } catch {
      /* absent */
    }
    const tmp = `${target}.tmp-${process.pid}`;
    rmSync(tmp, {force: true});
    symlinkSync(rel, tmp);
    renameSync(tmp, target);
  }

  commits(): string[] {
    try {
      return readdirSync(this.snapshotsDir).filter((c) => COMMIT.test(c) || c.length > 0);
    } catch {
      return [];
    }
  }

  refs(): Record<string, string> {
    const out: Record<string, string> = {};
    const walk = (dir: string, prefix: string) => {
      for (const n of namesIn(dir)) {
        const p = join(dir, n);
        if (statSync(p).isDirectory()) walk(p, `${prefix}${n}/`);
        else {
          const c = readFileSync(p, 'utf8').trim();
          if (COMMIT.test(c)) out[prefix + n] = c;
        }
      }
    };
    walk(this.refsDir, '');
    return out;
  }

  /** Files of a snapshot (recursive), with sizes of what the links point at; broken links are left out. */
  snapshotFiles(commit: string): SnapshotFile[] {
    const root = this.snapshotDir(commit);
    const out: SnapshotFile[] = [];
    const walk = (dir: string, prefix: string) => {
      for (const n of namesIn(dir).sort()) {
        const p = join(dir, n);
        let st;
        try {
          st = statSync(p);
        } catch {
          continue;
        }
        if (st.isDirectory()) walk(p, `${prefix}${n}/`);
        else {
          let blob: string | undefined;
          try {
            if (lstatSync(p).isSymbolicLink()) blob = readlinkSync(p).split('/').pop();
          } catch {
            /* ignore */
          }
          out.push({path: prefix + n, size: st.size, ...(blob ? {blob} : {})});
        }
      }
    };
    walk(root, '');
    return out;
  }

  /** Blob names referenced by any snapshot (through links). */
  referencedBlobs(exceptCommit?: string): Set<string> {
    const used = new Set<string>();
    for (const c of this.commits()) {
      if (c === exceptCommit) continue;
      for (const f of this.snapshotFiles(c)) if (f.blob) used.add(f.blob);
    }
    return used;
  }
}

/** Every cached repo folder (models--*) under a hub cache. */
export function cachedRepos(cacheDir: string): string[] {
  try {
    return readdirSync(cacheDir).map(repoFromFolderName).filter((r): r is string => !!r).sort();
  } catch {
    return [];
  }
}

/** A folder's entries, or none when it is missing or unreadable (a cache being written by another tool). */
function namesIn(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
