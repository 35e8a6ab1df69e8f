// `builtin:<tiny name>` MODEL_IDs: tiny random-weight models the runtime builds locally (no network), once per
// runtime version, into $MGEN_HOME/builtin/<name>-<hash>/ (temp folder + rename, under a lock so two parallel
// first uses do not collide). After that they are plain local folders/files.
import {existsSync} from 'node:fs';
import {mkdir, readFile, rename, rm} from 'node:fs/promises';
import {join} from 'node:path';
import type {Family, Kind, ModelReport} from '../detect/types.js';
import {NotFoundError, RuntimeSetupError, UsageError} from '../errors.js';
import {withLock} from './lock.js';
import {mgenHome, pythonRuntimeDir} from './paths.js';
import {packageSourcesHash} from './runtime/hash.js';
import {ensureRuntime} from './runtime/resolve.js';
import {lastLine, runProcess} from './runtime/run-process.js';

export const BUILTIN_PREFIX = 'builtin:';
export const BUILTIN_NAMES = [
  'tiny-sd', 'tiny-sd-single', 'tiny-sdxl', 'tiny-sd-lora-kohya', 'tiny-sd-lora-peft', 'tiny-sd-ti', 'tiny-sd-controlnet',
  'tiny-sd-controlnet-single', 'tiny-flux', 'tiny-sd3',
  'tiny-sd-hypernetwork', 'tiny-sd-aesthetic',
  // video and audio (issue 13): python-runtime/mgen_runtime/tiny_video.py
  'tiny-wan', 'tiny-wan22', 'tiny-cogvideox', 'tiny-ltxv', 'tiny-ltxv-i2v', 'tiny-hunyuanvideo', 'tiny-stable-audio',
  // image-to-video (issue 13): python-runtime/mgen_runtime/tiny_video_i2v.py
  'tiny-wan-i2v', 'tiny-cogvideox-i2v', 'tiny-hunyuanvideo-i2v',
  // The other image families (python-runtime/mgen_runtime/tiny_dit.py, tiny_unet.py).
  'tiny-sd2', 'tiny-sdxl-refiner', 'tiny-flux2', 'tiny-chroma', 'tiny-pixart', 'tiny-auraflow', 'tiny-hunyuandit', 'tiny-sana',
  'tiny-lumina2', 'tiny-qwen-image', 'tiny-cascade', 'tiny-sd3-single', 'tiny-flux-single',
  'tiny-chroma-single',
  // Kolors (python-runtime/mgen_runtime/tiny_kolors.py).
  'tiny-kolors',
  // A Wan transformer in the original layout (python-runtime/mgen_runtime/wan_single.py).
  'tiny-wan-single',
  'tiny-esrgan', 'tiny-sd-ip-adapter',
  // spandrel upscalers (python-runtime/mgen_runtime/tiny_upscalers.py)
  'tiny-swinir', 'tiny-dat', 'tiny-hat',
  'tiny-flux-ip-adapter',
  // T2I-Adapters: python-runtime/mgen_runtime/tiny_t2i.py
  'tiny-sd-t2i-adapter', 'tiny-sdxl-t2i-adapter',
] as const;
export type BuiltinName = (typeof BUILTIN_NAMES)[number];

/** The `mgen-tiny.json` manifest the runtime writes beside a tiny model. */
export interface TinyManifest {
  name: string;
  layout: string;
  /** The tiny model an adapter belongs on (a builtin name), or null for a full model. */
  base: string | null;
  files: string[];
  /** The main file inside the folder, when the model is one file. */
  file?: string;
  /** For single-file checkpoints: the subfolder holding the diffusers configs. */
  config?: string;
  token?: string;
  pipeline?: string;
  family?: string;
  [k: string]: unknown;
}

export interface BuiltinModel {
  /** What a MODEL_ID resolves to: the main file when the model is one file, else the folder. */
  path: string;
  /** The folder the runtime built. */
  dir: string;
  name: BuiltinName;
  manifest: TinyManifest;
  /** Absolute config folder for single-file checkpoints. */
  configRepo: string | null;
  /** The base as a MODEL_ID (`builtin:tiny-sd`) for adapters. */
  baseId: string | null;
}

export function isBuiltinId(id: string): boolean {
  return id.startsWith(BUILTIN_PREFIX);
}

export function builtinName(id: string): BuiltinName {
  const name = id.slice(BUILTIN_PREFIX.length);
  if (!(BUILTIN_NAMES as readonly string[]).includes(name)) {
    throw new UsageError(`unknown builtin model ${id}`, {hint: `known: ${BUILTIN_NAMES.map((n) => BUILTIN_PREFIX + n).join(', ')}`});
  }
  return name as BuiltinName;
}

async function readManifest(dir: string): Promise<TinyManifest | null> {
  try {
    return JSON.parse(await readFile(join(dir, 'mgen-tiny.json'), 'utf8')) as TinyManifest;
  } catch {
    return null;
  }
}

function toModel(dir: string, name: BuiltinName, manifest: TinyManifest): BuiltinModel {
  return {
    path: manifest.file ? join(dir, manifest.file) : dir,
    dir,
    name,
    manifest,
    configRepo: manifest.config ? join(dir, manifest.config) : null,
    baseId: manifest.base ? BUILTIN_PREFIX + manifest.base : null,
  };
}

/** Builds (once) and returns the builtin model's local path. */
export async function resolveBuiltin(
  id: string,
  opts: {env?: NodeJS.ProcessEnv; python?: string; onProgress?: (text: string) => void} = {},
): Promise<BuiltinModel> {
  const env = opts.env ?? process.env;
  const name = builtinName(id);
  const hash = await packageSourcesHash(pythonRuntimeDir());
  const root = join(mgenHome(env), 'builtin');
  const dir = join(root, `${name}-${hash}`);
  const ready = await readManifest(dir);
  if (ready) return toModel(dir, name, ready);
  await mkdir(root, {recursive: true});
  return withLock(`${dir}.lock`, async () => {
    const again = await readManifest(dir);
    if (again) return toModel(dir, name, again);
    const python = opts.python ?? (await ensureRuntime({env, onProgress: opts.onProgress})).python;
    opts.onProgress?.(`building the tiny model ${BUILTIN_PREFIX}${name} (once, ~10 s)`);
    const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
    await rm(tmp, {recursive: true, force: true});
    try {
      const r = await runProcess(python, ['-m', 'mgen_runtime.tiny', name, tmp], {
        env: {...env, PYTHONPATH: pythonRuntimeDir()},
        timeoutMs: 600_000,
      });
      if (r.code !== 0) {
        throw new RuntimeSetupError(`building ${BUILTIN_PREFIX}${name} failed: ${lastLine(r.stderr) || r.error?.message || `exit ${r.code}`}`, {
          detail: r.stderr.slice(-4000),
          hint: 'run `mgen runtime doctor`',
        });
      }
      const manifest = await readManifest(tmp);
      if (!manifest) throw new RuntimeSetupError(`building ${BUILTIN_PREFIX}${name} wrote no mgen-tiny.json`);
      if (existsSync(dir)) await rm(dir, {recursive: true, force: true});
      await rename(tmp, dir);
      return toModel(dir, name, manifest);
    } catch (err) {
      await rm(tmp, {recursive: true, force: true});
      throw err;
    }
  });
}

/** Builds a tiny model into a folder the user names (`mgen runtime make-tiny`). */
export async function makeTiny(name: string, outDir: string, opts: {env?: NodeJS.ProcessEnv; python: string}): Promise<TinyManifest> {
  const n = builtinName(BUILTIN_PREFIX + name);
  const r = await runProcess(opts.python, ['-m', 'mgen_runtime.tiny', n, outDir], {
    env: {...(opts.env ?? process.env), PYTHONPATH: pythonRuntimeDir()},
    timeoutMs: 600_000,
  });
  if (r.code === 2) throw new UsageError(lastLine(r.stderr).replace(/^error:\s*/, '') || `cannot build ${n} into ${outDir}`);
  if (r.code !== 0) throw new RuntimeSetupError(`building ${n} failed: ${lastLine(r.stderr) || r.error?.message}`, {detail: r.stderr.slice(-4000)});
  const m = await readManifest(outDir);
  if (!m) throw new NotFoundError(`building ${n} wrote no mgen-tiny.json in ${outDir}`);
  return m;
}
