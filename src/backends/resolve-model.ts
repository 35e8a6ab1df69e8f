// resolveModelForLoad: the one function that turns a MODEL_ID into local files + their ModelReport for
// loading. Builtin ids are built by the runtime, local paths are used as they are, remote ids (HF, CivitAI,
// URL) are pulled into the cache first (a no-op when already there; HF_HUB_OFFLINE=1 resolves from it).
import {existsSync} from 'node:fs';
import {join, resolve} from 'node:path';
import {suggestedRepo} from '../detect/families.js';
import type {ModelReport} from '../detect/types.js';
import {NotFoundError, UsageError} from '../errors.js';
import {isBuiltinId, resolveBuiltin, type BuiltinModel} from './builtin.js';
import {detectLocalModel} from './detect-local.js';
import {expandHome} from './paths.js';

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
  /** One-line notices for stderr (the cache standing in for an unreachable Hub, waits on another pull). */
  onNote?: (text: string) => void;
  /** Overrides detection (tests). */
  detect?: (path: string) => Promise<ModelReport>;
}

export async function resolveModelForLoad(id: string, opts: ResolveOptions = {}): Promise<ResolvedModel> {
  const detect = opts.detect ?? detectLocalModel;
  const trimmed = id.trim();
  if (!trimmed) throw new UsageError('no MODEL_ID given', {hint: 'pass MODEL_ID as an argument or set $MODEL_ID'});
  if (isBuiltinId(trimmed)) {
    const b = await resolveBuiltin(trimmed, {env: opts.env, python: opts.python, onProgress: opts.onProgress});
    // The tiny models keep the real decisive widths, so detection classifies them like any other model.
    const report = await detect(b.path);
    report.source = {...report.source, type: 'builtin', id: trimmed};
    return {id: trimmed, pinnedId: trimmed, path: b.path, report, configRepo: b.configRepo, baseId: b.baseId ?? report.base?.suggested ?? null, builtin: b};
  }
  const local = resolve(expandHome(trimmed));
  if (existsSync(local)) {
    const report = await detect(local);
    return {id: trimmed, pinnedId: local, path: local, report, configRepo: null, baseId: report.base?.suggested ?? null};
  }
  if (/^(\.{0,2}\/|~)/.test(trimmed)) {
    throw new NotFoundError(`no such file or folder: ${trimmed}`);
  }
  return resolveRemote(trimmed, opts, detect);
}

/** Config-only files of a diffusers repo: what from_single_file needs beside an all-in-one checkpoint. */
const CONFIG_GLOBS = ['model_index.json', '*/config.json', '*/scheduler_config.json', '*/preprocessor_config.json', 'tokenizer*/*'];

async function resolveRemote(id: string, opts: ResolveOptions, detect: (path: string) => Promise<ModelReport>): Promise<ResolvedModel> {
  const {pull} = await import('../sources/pull.js');
  const {parseModelId} = await import('../sources/model-id.js');
  const env = opts.env ?? process.env;
  const note = opts.onNote ?? (opts.onProgress ? (m: string) => opts.onProgress?.(m) : undefined);
  const ref = parseModelId(id, {env});
  opts.onProgress?.(`fetching ${id}`);
  const r = await pull(id, {env, note});
  const path = ref.kind === 'hf' && ref.path ? join(r.path, ref.path) : r.path;
  const report = await detect(path);
  report.source = {type: r.source, id: r.id, revision: r.commit ?? r.revision, ...(ref.kind === 'hf' && ref.path ? {file: ref.path} : {})};
  const pinnedId = r.source === 'huggingface' ? `${r.id}@${r.commit ?? r.revision}${ref.kind === 'hf' && ref.path ? '/' + ref.path : ''}` : r.id;
  // An all-in-one single file loads with its family's configs (from_single_file, offline): fetch those once.
  let configRepo: string | null = null;
  const allInOne = report.kind === 'checkpoint' && report.format !== 'diffusers' && report.missing.length === 0;
  if (allInOne && report.family !== 'unknown') {
    const repo = suggestedRepo(report.family, report.variants);
    if (repo) {
      opts.onProgress?.(`fetching the ${report.family} configs (${repo})`);
      configRepo = (await pull(repo, {env, note, include: CONFIG_GLOBS})).path;
    }
  }
  return {id, pinnedId, path, report, configRepo, baseId: report.base?.suggested ?? null};
}
