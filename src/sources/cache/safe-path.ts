// The one gate between values a hub or an API answered (listing paths, component names, commit shas, blob oids,
// CivitAI ids and file names) and the paths mgen writes. A hub that answers `../../../../.bashrc` as a file path, a
// commit sha of `../../..` or a file id of `1/../../victim` must not make a pull write, link or delete anything
// outside the cache: every such value is checked here, and every final path is checked to lie inside its root
// (lexically after resolution, and through whatever symlinked folders already exist on the way).
//
// A refused value is exit 6 (InvalidModelError): the answer arrived intact, so it is not a network failure and a
// retry would not help; it describes the model with invalid or unsafe values. The message names the value, quoted
// and escaped (control characters never reach the terminal), and says nothing was written.
import {lstatSync, realpathSync} from 'node:fs';
import {basename, dirname, isAbsolute, relative, resolve, sep} from 'node:path';
import {InvalidModelError} from '../../errors.js';
import {escapeControl} from '../../render/escape-control.js';

/** A value from a hub or an API that cannot become a path (or a path that would leave its root). */
export class UnsafePathError extends InvalidModelError {}

const HINT = 'the server answered a value that cannot name a file in the cache; nothing was written';

/** A value quoted for a one-line message: JSON-escaped, control characters escaped, at most ~80 characters. */
export function quoteValue(value: unknown): string {
  let s = typeof value === 'string' ? value : value === undefined ? 'undefined' : JSON.stringify(value) ?? String(value);
  if (s.length > 80) s = s.slice(0, 77) + '...';
  // JSON escapes C0 controls and quotes; escapeControl also catches C1 (8-bit CSI/OSC) and DEL.
  return escapeControl(JSON.stringify(s));
}

function refuse(what: string, value: unknown, expected: string): never {
  throw new UnsafePathError(`${what}: refused ${quoteValue(value)} (${expected})`, {hint: HINT});
}

// C0 controls, DEL, C1 controls.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * A repo-relative path as a listing gives it (`unet/config.json`): '/'-separated, no empty, `.` or `..` segment,
 * not absolute, no backslash, no control character. Returns it unchanged.
 */
export function checkRepoPath(path: unknown, what: string): string {
  if (typeof path !== 'string' || path === '') refuse(what, path, 'a file path must be a non-empty string');
  if (path.length > 4096) refuse(what, path, 'a file path that long is not a repo path');
  if (CONTROL.test(path)) refuse(what, path, 'control characters in a file path');
  if (path.includes('\\')) refuse(what, path, 'backslashes in a file path');
  if (path.startsWith('/') || isAbsolute(path) || /^[A-Za-z]:/.test(path)) refuse(what, path, 'an absolute path');
  for (const seg of path.split('/')) {
    if (seg === '') refuse(what, path, 'an empty path segment');
    if (seg === '.' || seg === '..') refuse(what, path, `a '${seg}' path segment`);
  }
  return path;
}

/** One path segment (a folder or file name: a model_index.json component, a revision part, a cache key). */
export function checkSegment(name: unknown, what: string): string {
  if (typeof name !== 'string' || name.includes('/')) refuse(what, name, 'a name must be one path segment');
  return checkRepoPath(name, what);
}

/** A git commit sha: exactly 40 lowercase hex digits (a Hub `sha`). */
export function checkCommit(sha: unknown, what: string): string {
  if (typeof sha !== 'string' || !/^[0-9a-f]{40}$/.test(sha)) refuse(what, sha, 'a commit sha is 40 hex digits');
  return sha;
}

/** A blob oid: a sha256 (64 hex) or a git blob sha1 (40 hex), lowercase; `kind` narrows it. */
export function checkOid(oid: unknown, what: string, kind: 'sha256' | 'sha1' | 'any' = 'any'): string {
  const ok = typeof oid === 'string' && (kind === 'sha256' ? /^[0-9a-f]{64}$/ : kind === 'sha1' ? /^[0-9a-f]{40}$/ : /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/).test(oid);
  if (!ok) refuse(what, oid, kind === 'sha256' ? 'an LFS oid is a sha256, 64 hex digits' : kind === 'sha1' ? 'a git oid is 40 hex digits' : 'a blob name is 40 or 64 hex digits');
  return oid as string;
}

/** A numeric API id (CivitAI model, version, file): 1 to 18 decimal digits, as a number or a string of digits. */
export function checkId(id: unknown, what: string): number {
  const s = typeof id === 'number' ? String(id) : id;
  if (typeof s !== 'string' || !/^[0-9]{1,18}$/.test(s) || (typeof id !== 'number' && typeof id !== 'string')) refuse(what, id, 'an id is a whole number');
  return Number(s);
}

const MAX_NAME_BYTES = 200;

/**
 * A file name from an API or a Content-Disposition header reduced to a safe basename: the last '/' or '\' part,
 * characters outside [A-Za-z0-9._ ()+-] replaced, no leading dots, at most 200 bytes (the extension kept); never
 * empty, '.' or '..'. The only way a remote file name becomes a cache file name.
 */
export function safeFileName(name: unknown): string {
  const raw = typeof name === 'string' ? name : '';
  const base = raw.split(/[\\/]/).pop() ?? '';
  let clean = base.replace(/[^A-Za-z0-9._ ()+-]/g, '_').replace(/^\.+/, '');
  if (clean.length > MAX_NAME_BYTES) {
    const ext = /\.[A-Za-z0-9]{1,16}$/.exec(clean)?.[0] ?? '';
    clean = clean.slice(0, MAX_NAME_BYTES - ext.length) + ext;
  }
  return clean === '' ? 'model' : clean;
}

/** Whether `p` is `root` or lies below it (both absolute, already resolved). */
export function isInside(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel === '' || (!rel.startsWith('..' + sep) && rel !== '..' && !isAbsolute(rel));
}

function realOrNull(p: string): string | null {
  try {
    return realpathSync(p);
  } catch {
    return null;
  }
}

export interface InsideOptions {
  /** What the path is for, in the message ("org/name: snapshot link"). */
  what: string;
  /**
   * 'replace' (default): the final entry, when it exists, is replaced (unlinked, renamed over), never written
   * through, so only the folders above it are checked. 'follow': it is opened and written through, so a final
   * symlink must also lead inside the root.
   */
  final?: 'replace' | 'follow';
}

/**
 * `root` joined with `parts` (each a checked repo path or segment), as an absolute path that lies inside `root`:
 * lexically after resolution, and through the symlinks that already exist below `root` (a symlinked folder on the
 * way that leads out of `root` is refused). `root` itself may be a symlink (a cache moved to another disk).
 */
export function pathInside(root: string, parts: string | string[], opts: InsideOptions): string {
  const list = Array.isArray(parts) ? parts : [parts];
  const segs: string[] = [];
  for (const p of list) segs.push(...checkRepoPath(p, opts.what).split('/'));
  const absRoot = resolve(root);
  const target = resolve(absRoot, ...segs);
  if (target === absRoot || !isInside(absRoot, target)) refuse(opts.what, list.join('/'), 'the path leaves its folder');
  const realRoot = realOrNull(absRoot);
  if (realRoot === null) return target; // nothing below a missing root exists yet: no symlink to go through
  const check = opts.final === 'follow' ? segs.length : segs.length - 1;
  let cur = absRoot;
  for (let i = 0; i < check; i++) {
    cur = resolve(cur, segs[i]!);
    let st;
    try {
      st = lstatSync(cur);
    } catch {
      break; // the rest does not exist yet: it is made below what was checked
    }
    if (!st.isSymbolicLink()) continue;
    const real = realOrNull(cur);
    if (real === null || !isInside(realRoot, real)) refuse(opts.what, list.join('/'), 'a symlink on the way leads out of the cache');
  }
  return target;
}

/**
 * A download's destination and the partial/temp files it keeps beside it (`<dest>.incomplete`, ...): each must be a
 * plain name in dest's folder that is not a symlink leading out of it, as the download opens them and writes through.
 */
export function checkDownloadPaths(dest: string, partials: string[]): void {
  const dir = dirname(dest);
  for (const p of [dest, ...partials]) {
    if (dirname(p) !== dir) refuse(`${basename(dest)}: download file`, p, 'a partial file must lie beside its destination');
    pathInside(dir, basename(p), {what: `${basename(dest)}: download file`, final: 'follow'});
  }
}
