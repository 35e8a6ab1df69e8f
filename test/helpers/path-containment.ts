// Path containment for hostile-hub tests: plants decoy files where a traversal would land (a fake ~/.bashrc, an
// ~/.ssh/authorized_keys, victim files and folders beside the caches), snapshots everything under a test's temp root
// OUTSIDE the cache roots (names, types, sizes, mtimes, symlink targets; folders too, so an entry created and
// removed again still shows as a changed folder mtime), and lists what changed between two snapshots.
import {lstatSync, mkdirSync, readdirSync, readlinkSync, writeFileSync} from 'node:fs';
import {join, relative, resolve, sep} from 'node:path';

export type FsSnapshot = Map<string, string>;

/** Writes `files` (relative path -> content) under root, making folders as needed. */
export function plantDecoys(root: string, files: Record<string, string>): void {
  for (const [rel, content] of Object.entries(files)) {
    const p = join(root, rel);
    mkdirSync(join(p, '..'), {recursive: true});
    writeFileSync(p, content);
  }
}

/** The decoys every hostile test plants: where `../` chains out of the HF cache or $MGEN_HOME would land. */
export const DEFAULT_DECOYS: Record<string, string> = {
  'home/.bashrc': 'echo decoy bashrc\n',
  'home/.ssh/authorized_keys': 'ssh-ed25519 AAAA decoy\n',
  'victim.txt': 'decoy victim\n',
  'victim-folder/keep.txt': 'decoy folder content\n',
  'victim-folder/config.json': '{"decoy": true}\n',
};

/**
 * Every entry under `root` (the root included) except inside `exclude` (cache roots), never following symlinks.
 * Key: the path relative to root; value: type, size (files), mtime, and the link target (symlinks).
 */
export function snapshotOutside(root: string, exclude: string[]): FsSnapshot {
  const skip = new Set(exclude.map((e) => resolve(e)));
  const out: FsSnapshot = new Map();
  const walk = (p: string) => {
    if (skip.has(resolve(p))) return;
    let st;
    try {
      st = lstatSync(p);
    } catch {
      return;
    }
    const rel = relative(root, p) || '.';
    if (st.isSymbolicLink()) out.set(rel, `symlink -> ${readlinkSync(p)} mtime ${st.mtimeMs}`);
    else if (st.isDirectory()) {
      out.set(rel, `dir mtime ${st.mtimeMs}`);
      for (const n of readdirSync(p).sort()) walk(join(p, n));
    } else out.set(rel, `${st.isFile() ? 'file' : 'other'} size ${st.size} mtime ${st.mtimeMs}`);
  };
  walk(root);
  return out;
}

/** What differs between two snapshots, one line per path ("+ new", "- gone", "~ changed"); [] when nothing did. */
export function changes(before: FsSnapshot, after: FsSnapshot): string[] {
  const out: string[] = [];
  for (const [k, v] of before) {
    const w = after.get(k);
    if (w === undefined) out.push(`- ${k} (${v})`);
    else if (w !== v) out.push(`~ ${k}: ${v} => ${w}`);
  }
  for (const [k, v] of after) if (!before.has(k)) out.push(`+ ${k} (${v})`);
  return out.sort();
}

/** True when `p` lies inside `root` (for asserting where a pull did write). */
export function isInside(root: string, p: string): boolean {
  const rel = relative(resolve(root), resolve(p));
  return rel === '' || (!rel.startsWith('..' + sep) && rel !== '..');
}
