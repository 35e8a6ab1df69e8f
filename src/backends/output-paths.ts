// Output file names (`--out` patterns with {seed} {n} {model} {timestamp}) and writing the worker's images
// into place atomically: the worker writes whole files under a unique stem beside the targets, then each is renamed.
import {randomBytes} from 'node:crypto';
import {closeSync, existsSync, openSync, rmSync, statSync} from 'node:fs';
import {mkdir, rename, rm} from 'node:fs/promises';
import {basename, dirname, extname, join, resolve} from 'node:path';
import {MgenError, StorageError, UsageError} from '../errors.js';
import type {GenerateResult} from './worker/types.js';

export const DEFAULT_OUT = 'mgen-{timestamp}-{seed}-{n}.png';

function timestamp(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** A file-name-safe short model name: the last path segment without a weight extension. */
export function modelSlug(id: string): string {
  const last = id.replace(/[/\\]+$/, '').split(/[/\\:]/).filter(Boolean).at(-1) ?? 'model';
  return last.replace(/\.(safetensors|ckpt|pt|pth|bin|gguf)$/i, '').replace(/[^A-Za-z0-9._-]+/g, '_') || 'model';
}

export function resolveOutputPaths(
  pattern: string | undefined,
  v: {
    seed: number; numImages: number; model: string; now?: Date; cwd?: string; exists?: (path: string) => boolean; isDir?: (path: string) => boolean;
    /** The output's extension (default .png; '' names a folder, for png-frames). */
    ext?: string;
  },
): string[] {
  const cwd = v.cwd ?? process.cwd();
  // A folder as --out (an existing one, or a name ending in /): the default names inside it, as `cp` does.
  const intoFolder = pattern !== undefined && isFolderTarget(pattern, cwd, v.isDir);
  let p = pattern === undefined ? DEFAULT_OUT : intoFolder ? join(pattern, DEFAULT_OUT) : pattern;
  const unknown = [...p.matchAll(/\{([^}]*)\}/g)].map((m) => m[1]).filter((k) => !['seed', 'n', 'model', 'timestamp'].includes(k!));
  if (unknown.length) throw new UsageError(`unknown placeholder {${unknown[0]}} in --out`, {hint: 'use {seed} {n} {model} {timestamp}'});
  const ext = v.ext ?? '.png';
  p = withExtension(p, ext);
  if (v.numImages > 1 && !p.includes('{n}') && !p.includes('{seed}')) p = p.slice(0, p.length - ext.length) + '-{n}' + ext;
  const ts = timestamp(v.now);
  const slug = modelSlug(v.model);
  const out: string[] = [];
  for (let n = 0; n < v.numImages; n++) {
    const name = p
      .replaceAll('{seed}', String(v.seed + n))
      .replaceAll('{n}', String(n))
      .replaceAll('{model}', slug)
      .replaceAll('{timestamp}', ts);
    out.push(resolve(cwd, name));
  }
  if (new Set(out).size !== out.length) throw new UsageError('--out gives several images the same file name', {hint: 'add {n} or {seed}'});
  // Default names are made up by us: never let them replace an earlier image (a shell loop with one seed makes the
  // same name twice within a second). A name given with --out is the user's to overwrite.
  if (pattern === undefined || intoFolder) return firstFree(out, v.exists ?? existsSync, ext);
  return out;
}

const MEDIA_EXTENSIONS = /\.(png|mp4|webm|gif|webp|wav|flac)$/i;

/** The pattern with the output's extension: a media extension of another format is replaced, anything else kept. */
function withExtension(p: string, ext: string): string {
  if (ext === '') return p.replace(MEDIA_EXTENSIONS, '');
  if (extname(p).toLowerCase() === ext) return p;
  return MEDIA_EXTENSIONS.test(p) ? p.replace(MEDIA_EXTENSIONS, ext) : p + ext;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function isFolderTarget(pattern: string, cwd: string, isDir: (path: string) => boolean = isDirectory): boolean {
  return /[/\\]$/.test(pattern) || (!pattern.includes('{') && isDir(resolve(cwd, pattern)));
}

/**
 * Checks up front (before the runtime or the worker starts) that --out can be written: its folder, or the nearest
 * part of it that exists, must be a writable folder. Exit 2 naming the path otherwise.
 */
export function checkOutputTarget(pattern: string | undefined, cwd = process.cwd()): void {
  const given = pattern ?? DEFAULT_OUT;
  const what = pattern === undefined ? 'the current folder' : `--out ${pattern}`;
  // The folder part that has no placeholder in it (placeholders fill in later).
  const literal = isFolderTarget(given, cwd) ? given : dirname(given.split('{')[0]!.replace(/[^/\\]*$/, 'x'));
  let dir = resolve(cwd, literal);
  for (;;) {
    if (existsSync(dir) || dirname(dir) === dir) break;
    dir = dirname(dir);
  }
  if (!isDirectory(dir)) throw new UsageError(`${what}: ${dir} is a file, not a folder`, {field: 'out'});
  // A real probe, not access(2): root passes every permission check, and only a write sees a read-only mount.
  const probe = join(dir, `.mgen-probe-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    closeSync(openSync(probe, 'wx'));
  } catch (err) {
    const code = (err as {code?: string}).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') throw outputWriteError(err, dir);
    throw new UsageError(`${what}: cannot write in ${dir}${code === 'EROFS' ? ' (read-only file system)' : ' (permission denied)'}`, {field: 'out'});
  }
  rmSync(probe, {force: true});
}

const NO_SPACE = /\b(ENOSPC|EDQUOT)\b|\[Errno (28|122)\]|No space left on device|Disk quota exceeded/i;

/** An error of writing outputs -> the typed error a user understands, naming the path (full disk, not a folder, ...). */
export function outputWriteError(err: unknown, path: string): unknown {
  const code = (err as {code?: string} | undefined)?.code;
  const text = err instanceof Error ? err.message : String(err);
  if (code === 'ENOSPC' || code === 'EDQUOT' || NO_SPACE.test(text)) {
    return new StorageError(`no space left on the device to write ${path}`, {hint: 'free some disk space or choose another --out', cause: err});
  }
  if (err instanceof MgenError) return err;
  if (code === 'ENOTDIR' || code === 'EEXIST') return new UsageError(`cannot write ${path}: a part of that path is a file, not a folder`, {field: 'out'});
  if (code === 'EISDIR') return new UsageError(`cannot write ${path}: it is a folder`, {field: 'out'});
  if (code === 'EACCES' || code === 'EPERM') return new UsageError(`cannot write ${path} (permission denied)`, {field: 'out'});
  if (code === 'EROFS') return new UsageError(`cannot write ${path} (read-only file system)`, {field: 'out'});
  return err;
}

/** The names with the first suffix (-2, -3, ...) under which none of them exists yet. */
function firstFree(names: string[], exists: (path: string) => boolean, ext: string): string[] {
  if (!names.some(exists)) return names;
  for (let k = 2; ; k++) {
    const alt = names.map((p) => p.slice(0, p.length - ext.length) + `-${k}` + ext);
    if (!alt.some(exists)) return alt;
  }
}

export async function writeImagesAtomically<T>(
  targets: string[],
  run: (outDir: string, fileStem: string) => Promise<{worker: GenerateResult; finish: (paths: string[]) => T}>,
  opts: {rename?: boolean; ext?: string} = {},
): Promise<T> {
  // The worker writes each PNG whole (temp + rename) as `<stem>-<n>.png` beside the first target; each is then renamed
  // onto its name. A unique stem instead of a temp folder: no mkdtemp and recursive delete per call (serve's hot path).
  const dir = dirname(targets[0]!);
  await mkdir(dir, {recursive: true}).catch((err: unknown) => {
    throw outputWriteError(err, targets[0]!);
  });
  const stem = `mgen-partial-${process.pid}-${randomBytes(6).toString('hex')}`;
  let renamed = 0;
  try {
    const {worker, finish} = await run(dir, stem);
    const written = worker.images.map((im) => resolve(im.path));
    // Transient outputs (serve reads them back at once) keep the worker's names.
    if (opts.rename === false) return finish(written);
    for (let i = 0; i < written.length; i++) {
      try {
        if (dirname(targets[i]!) !== dir) await mkdir(dirname(targets[i]!), {recursive: true});
        await rename(written[i]!, targets[i]!);
      } catch (err) {
        throw outputWriteError(err, targets[i]!);
      }
      renamed = i + 1;
    }
    return finish(targets);
  } catch (err) {
    // Nothing half-done stays behind: the images the worker wrote but that never reached their names (and the
    // worker's own temp files, which it removes itself unless it died).
    const ext = opts.ext ?? '.png';
    await Promise.all(targets.map((_t, n) => (n < renamed ? undefined : rm(join(dir, `${stem}-${n}${ext}`), {force: true, recursive: true}))));
    throw outputWriteError(err, targets[renamed] ?? targets[0]!);
  }
}

export function describeTargets(targets: string[]): string {
  return targets.map((t) => basename(t)).join(', ');
}
