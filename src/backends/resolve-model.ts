// resolveModelForLoad: the one function that turns a MODEL_ID into local files + their ModelReport for
// loading. Builtin ids and local paths today; remote ids (HF, CivitAI, URL) go through the sources
// resolver when it is wired here.
import {existsSync} from 'node:fs';
import {homedir} from 'node:os';
import {resolve} from 'node:path';
import type {ModelReport} from '../detect/types.js';
import {NotFoundError, UsageError} from '../errors.js';
import {applyTinyManifest, isBuiltinId, resolveBuiltin, type BuiltinModel} from './builtin.js';
import {detectLocalModel} from './detect-local.js';

export interface ResolvedModel {
  /** The MODEL_ID as given. */
  id: string;
  /** The MODEL_ID pinned to what was loaded (a commit or hash when the source has one). */
  pinnedId: string;
  /** Local file or folder. */
  path: string;
  report: ModelReport;
  /** For single-file checkpoints: a local diffusers folder with the family's configs, when the source knows one. */
  configRepo: string | null;
  /** For adapters: the base the source suggests, as a MODEL_ID. */
  baseId: string | null;
  builtin?: BuiltinModel;
}

export interface ResolveOptions {
  env?: NodeJS.ProcessEnv;
  /** The runtime's interpreter, for building builtin models. */
  python?: string;
  onProgress?: (text: string) => void;
  /** Overrides detection (tests). */
  detect?: (path: string) => Promise<ModelReport>;
}

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? homedir() + p.slice(1) : p;
}

export async function resolveModelForLoad(id: string, opts: ResolveOptions = {}): Promise<ResolvedModel> {
  const detect = opts.detect ?? detectLocalModel;
  const trimmed = id.trim();
  if (!trimmed) throw new UsageError('no MODEL_ID given', {hint: 'pass MODEL_ID as an argument or set $MODEL_ID'});
  if (isBuiltinId(trimmed)) {
    const b = await resolveBuiltin(trimmed, {env: opts.env, python: opts.python, onProgress: opts.onProgress});
    const report = applyTinyManifest(await detect(b.path), b);
    report.source = {...report.source, type: 'builtin', id: trimmed};
    return {id: trimmed, pinnedId: trimmed, path: b.path, report, configRepo: b.configRepo, baseId: b.baseId ?? report.base?.suggested ?? null, builtin: b};
  }
  const local = resolve(expandHome(trimmed));
  if (existsSync(local)) {
    const report = await detect(local);
    return {id: trimmed, pinnedId: local, path: local, report, configRepo: null, baseId: report.base?.suggested ?? null};
  }
  if (/^(\.{0,2}\/|~)/.test(trimmed) || /\.(safetensors|ckpt|pt|pth|bin|gguf)$/i.test(trimmed)) {
    throw new NotFoundError(`no such file or folder: ${trimmed}`);
  }
  throw new UsageError(`cannot load ${trimmed}: remote MODEL_IDs are not wired into generate yet`, {
    hint: 'pull it and pass the local path, or use a builtin:tiny-* model',
  });
}
