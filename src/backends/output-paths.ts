// Output file names (`--out` patterns with {seed} {n} {model} {timestamp}) and writing the worker's images
// into place atomically: the worker writes whole files under a unique stem beside the targets, then each is renamed.
import {randomBytes} from 'node:crypto';
import {existsSync} from 'node:fs';
import {mkdir, rename, rm} from 'node:fs/promises';
import {basename, dirname, extname, join, resolve} from 'node:path';
import {UsageError} from '../errors.js';
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
  v: {seed: number; numImages: number; model: string; now?: Date; cwd?: string; exists?: (path: string) => boolean},
): string[] {
  let p = pattern ?? DEFAULT_OUT;
  const unknown = [...p.matchAll(/\{([^}]*)\}/g)].map((m) => m[1]).filter((k) => !['seed', 'n', 'model', 'timestamp'].includes(k!));
  if (unknown.length) throw new UsageError(`unknown placeholder {${unknown[0]}} in --out`, {hint: 'use {seed} {n} {model} {timestamp}'});
  if (extname(p).toLowerCase() !== '.png') p += '.png';
  if (v.numImages > 1 && !p.includes('{n}') && !p.includes('{seed}')) p = p.replace(/\.png$/i, '-{n}.png');
  const ts = timestamp(v.now);
  const slug = modelSlug(v.model);
  const out: string[] = [];
  for (let n = 0; n < v.numImages; n++) {
    const name = p
      .replaceAll('{seed}', String(v.seed + n))
      .replaceAll('{n}', String(n))
      .replaceAll('{model}', slug)
      .replaceAll('{timestamp}', ts);
    out.push(resolve(v.cwd ?? process.cwd(), name));
  }
  if (new Set(out).size !== out.length) throw new UsageError('--out gives several images the same file name', {hint: 'add {n} or {seed}'});
  // Default names are made up by us: never let them replace an earlier image (a shell loop with one seed makes the
  // same name twice within a second). A name given with --out is the user's to overwrite.
  if (pattern === undefined) return firstFree(out, v.exists ?? existsSync);
  return out;
}

/** The names with the first suffix (-2, -3, ...) under which none of them exists yet. */
function firstFree(names: string[], exists: (path: string) => boolean): string[] {
  if (!names.some(exists)) return names;
  for (let k = 2; ; k++) {
    const alt = names.map((p) => p.replace(/\.png$/i, `-${k}.png`));
    if (!alt.some(exists)) return alt;
  }
}

export async function writeImagesAtomically<T>(
  targets: string[],
  run: (outDir: string, fileStem: string) => Promise<{worker: GenerateResult; finish: (paths: string[]) => T}>,
  opts: {rename?: boolean} = {},
): Promise<T> {
  // The worker writes each PNG whole (temp + rename) as `<stem>-<n>.png` beside the first target; each is then renamed
  // onto its name. A unique stem instead of a temp folder: no mkdtemp and recursive delete per call (serve's hot path).
  const dir = dirname(targets[0]!);
  await mkdir(dir, {recursive: true});
  const stem = `mgen-partial-${process.pid}-${randomBytes(6).toString('hex')}`;
  let renamed = 0;
  try {
    const {worker, finish} = await run(dir, stem);
    const written = worker.images.map((im) => resolve(im.path));
    // Transient outputs (serve reads them back at once) keep the worker's names.
    if (opts.rename === false) return finish(written);
    for (let i = 0; i < written.length; i++) {
      if (dirname(targets[i]!) !== dir) await mkdir(dirname(targets[i]!), {recursive: true});
      await rename(written[i]!, targets[i]!);
      renamed = i + 1;
    }
    return finish(targets);
  } catch (err) {
    // Nothing half-done stays behind: the images the worker wrote but that never reached their names.
    await Promise.all(targets.map((_t, n) => (n < renamed ? undefined : rm(join(dir, `${stem}-${n}.png`), {force: true}))));
    throw err;
  }
}

export function describeTargets(targets: string[]): string {
  return targets.map((t) => basename(t)).join(', ');
}
