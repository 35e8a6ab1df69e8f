// mgen's own cache under $MGEN_HOME (default ~/.cache/mgen): CivitAI and URL files content-addressed by
// sha256 (models/<sha256>/<file name> + models/<sha256>/mgen.json, the API metadata), and small sidecars
// for HF repos (hf/models--org--name.json: last used, detection summary per commit). Nothing of ours is
// written inside the HF cache folders, so Python's scan_cache_dir sees only what it expects.
import {existsSync, readdirSync, readFileSync, statSync} from 'node:fs';
import {homedir} from 'node:os';
import {join} from 'node:path';
import {repoFolderName, writeFileAtomic} from './hf-cache.js';
import {checkOid, pathInside, safeFileName} from './safe-path.js';

export function mgenHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.MGEN_HOME || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'mgen');
}

export interface DetectionSummary {
  family: string;
  kind: string;
  format?: string;
  precision?: string;
}

export interface HfSidecar {
  repo: string;
  pulled_at?: string;
  last_used?: string;
  /** commit -> summary */
  summaries?: Record<string, DetectionSummary>;
}

export function hfSidecarPath(repo: string, env: NodeJS.ProcessEnv = process.env): string {
  return join(mgenHome(env), 'hf', `${repoFolderName(repo)}.json`);
}

export function readHfSidecar(repo: string, env: NodeJS.ProcessEnv = process.env): HfSidecar {
  try {
    return JSON.parse(readFileSync(hfSidecarPath(repo, env), 'utf8')) as HfSidecar;
  } catch {
    return {repo};
  }
}

export function updateHfSidecar(repo: string, patch: (s: HfSidecar) => void, env: NodeJS.ProcessEnv = process.env): void {
  const s = readHfSidecar(repo, env);
  patch(s);
  writeFileAtomic(hfSidecarPath(repo, env), JSON.stringify(s, null, 2));
}

/** Records what detection said about a pulled model (the lead/inspect calls this; `mgen list` shows it). */
export function recordDetectionSummary(ref: {kind: 'hf'; repo: string; commit: string} | {kind: 'file'; sha256: string}, summary: DetectionSummary, env: NodeJS.ProcessEnv = process.env): void {
  if (ref.kind === 'hf') {
    updateHfSidecar(ref.repo, (s) => {
      s.summaries = {...s.summaries, [ref.commit]: summary};
    }, env);
    return;
  }
  const meta = readFileMeta(ref.sha256, env);
  if (meta) writeFileMeta({...meta, summary}, env);
}

export function touchHfLastUsed(repo: string, env: NodeJS.ProcessEnv = process.env): void {
  try {
    updateHfSidecar(repo, (s) => {
      s.last_used = new Date().toISOString();
    }, env);
  } catch {
    /* a read-only cache is not an error */
  }
}

// ---- content-addressed files (CivitAI, URL) ----

export interface FileMeta {
  sha256: string;
  file_name: string;
  size: number;
  source: 'civitai' | 'url';
  /** civitai:<model>@<version> or the URL. */
  id: string;
  civitai?: {modelId?: number; versionId: number; fileId?: number; modelName?: string; versionName?: string; baseModel?: string; api?: unknown};
  url?: string;
  pulled_at: string;
  last_used?: string;
  summary?: DetectionSummary;
}

export function modelsDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(mgenHome(env), 'models');
}

/** models/<sha256>: the sha256 must be 64 hex digits (it names a folder that `mgen rm` deletes whole). */
export function fileDir(sha256: string, env: NodeJS.ProcessEnv = process.env): string {
  return pathInside(modelsDir(env), checkOid(sha256, 'cached file sha256', 'sha256'), {what: 'cached file folder', final: 'follow'});
}

export function readFileMeta(sha256: string, env: NodeJS.ProcessEnv = process.env): FileMeta | undefined {
  try {
    return JSON.parse(readFileSync(join(fileDir(sha256, env), 'mgen.json'), 'utf8')) as FileMeta;
  } catch {
    return undefined;
  }
}

export function writeFileMeta(meta: FileMeta, env: NodeJS.ProcessEnv = process.env): void {
  writeFileAtomic(join(fileDir(meta.sha256, env), 'mgen.json'), JSON.stringify(meta, null, 2));
}

/** The cached file for a sha256, when it is complete (size as recorded). */
export function cachedFilePath(meta: FileMeta, env: NodeJS.ProcessEnv = process.env): string | undefined {
  try {
    if (meta.file_name !== safeFileName(meta.file_name)) return undefined;
    const p = join(fileDir(meta.sha256, env), meta.file_name);
    return statSync(p).size === meta.size ? p : undefined;
  } catch {
    return undefined;
  }
}

export function allFileMetas(env: NodeJS.ProcessEnv = process.env): FileMeta[] {
  const dir = modelsDir(env);
  if (!existsSync(dir)) return [];
  const out: FileMeta[] = [];
  for (const d of readdirSync(dir)) {
    if (!/^[0-9a-f]{64}$/.test(d)) continue;
    const m = readFileMeta(d, env);
    // A sidecar whose sha256 is not its folder's name would point `rm` and lookups elsewhere: ignored.
    if (m && m.sha256 === d) out.push(m);
  }
  return out;
}
