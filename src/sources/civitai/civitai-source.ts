// CivitAI MODEL_IDs: remote inspect through the download URL by Range (redirects to signed storage kept),
// pull into $MGEN_HOME/models by sha256, offline lookup by model/version id.
import {LocalTree} from '../../detect/local-tree.js';
import type {ModelReport} from '../../detect/types.js';
import {NotFoundError} from '../../errors.js';
import {allFileMetas, cachedFilePath, writeFileMeta, type FileMeta} from '../cache/mgen-home.js';
import type {ProgressSink} from '../download/progress.js';
import {storeFile, type StoreOptions} from '../file-store.js';
import {HttpByteSource} from '../http-byte-source.js';
import type {HttpOptions} from '../http.js';
import type {PullResult} from '../hf/hf-pull.js';
import {HttpFileTree} from '../single-file-tree.js';
import {CIVITAI_AUTH_HINT, civitaiConfig, civitaiHeaders, resolveCivitai, type CivitaiConfig, type CivitaiFile, type CivitaiModel, type CivitaiVersion} from './client.js';
import {civitaiReportInfo, sha256Of, type CivitaiReportInfo} from './metadata.js';
import {chooseCivitaiFile} from './pick-file.js';

export interface CivitaiOptions {
  modelId?: number;
  versionId?: number;
  endpoint?: string;
  token?: string;
  env?: NodeJS.ProcessEnv;
  http?: HttpOptions;
  /** --file: name, id or shorthand (safetensors, fp16, pruned, ...). */
  file?: string;
  choose?: (choices: CivitaiFile[]) => Promise<CivitaiFile>;
  offline?: boolean;
}

export interface CivitaiResolved {
  cfg: CivitaiConfig;
  model?: CivitaiModel;
  version: CivitaiVersion;
  file: CivitaiFile;
  info: CivitaiReportInfo;
  downloadUrl: string;
}

function rewriteToEndpoint(url: string, cfg: CivitaiConfig): string {
  return cfg.endpoint !== 'https://civitai.com' ? url.replace(/^https:\/\/(www\.)?civitai\.com/, cfg.endpoint) : url;
}

export async function resolveCivitaiFile(opts: CivitaiOptions): Promise<CivitaiResolved> {
  const cfg = civitaiConfig({endpoint: opts.endpoint, token: opts.token, env: opts.env, http: opts.http});
  const {model, version} = await resolveCivitai(cfg, opts);
  const file = await chooseCivitaiFile(version, opts.file, opts.choose);
  return {cfg, model, version, file, info: civitaiReportInfo(model, version, file), downloadUrl: rewriteToEndpoint(file.downloadUrl, cfg)};
}

export function civitaiSource(r: CivitaiResolved, size: number): ModelReport['source'] {
  return {
    type: 'civitai', id: `civitai:${r.version.modelId}@${r.version.id}`, revision: String(r.version.id), file: r.file.name,
    size, ...(sha256Of(r.file) ? {sha256: sha256Of(r.file)} : {}), civitai: r.info,
  };
}

function findCached(opts: CivitaiOptions, env: NodeJS.ProcessEnv): FileMeta | undefined {
  const metas = allFileMetas(env).filter((m) => m.source === 'civitai' && m.civitai
    && (opts.versionId === undefined || m.civitai.versionId === opts.versionId)
    && (opts.modelId === undefined || m.civitai.modelId === opts.modelId)
    && (!opts.file || m.file_name === opts.file || String(m.civitai.fileId) === opts.file)
    && cachedFilePath(m, env));
  return metas.sort((a, b) => (b.civitai!.versionId - a.civitai!.versionId))[0];
}

/** Offline means offline for CivitAI too: --offline, or HF_HUB_OFFLINE=1 (the one switch users know). */
function offlineFor(opts: CivitaiOptions, env: NodeJS.ProcessEnv): boolean {
  return Boolean(opts.offline) || ['1', 'true', 'yes', 'on'].includes((env.HF_HUB_OFFLINE ?? '').toLowerCase());
}

/** Offline: the cached file (MGEN_HOME/models sidecars) or exit 3 at once, saying how to get it. */
function cachedOrFail(opts: CivitaiOptions, env: NodeJS.ProcessEnv): FileMeta {
  const m = findCached(opts, env);
  if (m) return m;
  const id = `civitai:${opts.modelId ?? ''}${opts.versionId !== undefined ? '@' + opts.versionId : ''}`;
  throw new NotFoundError(`${id} is not in the cache; run mgen pull ${id} while online`);
}

/** A tree over a CivitAI file: remote by Range, or the cached copy when offline (or already pulled). */
export async function openCivitai(opts: CivitaiOptions): Promise<{tree: import('../../detect/types.js').ModelTree; source: ModelReport['source']; civitai?: CivitaiReportInfo}> {
  const env = opts.env ?? process.env;
  if (offlineFor(opts, env)) {
    const m = cachedOrFail(opts, env);
    const info = (m.civitai?.api as CivitaiReportInfo | undefined) ?? undefined;
    return {tree: await LocalTree.open(cachedFilePath(m, env)!), source: {type: 'civitai', id: m.id, revision: String(m.civitai!.versionId), file: m.file_name, size: m.size, sha256: m.sha256, ...(info ? {civitai: info} : {})}, ...(info ? {civitai: info} : {})};
  }
  const r = await resolveCivitaiFile(opts);
  const tree = new HttpFileTree(r.file.name, {url: r.downloadUrl, headers: civitaiHeaders(r.cfg), http: r.cfg.http, authHint: CIVITAI_AUTH_HINT, what: `civitai file ${r.file.name}`}, sha256Of(r.file));
  const size = await tree.source.size();
  return {tree, source: civitaiSource(r, size), civitai: r.info};
}

export interface CivitaiPullOptions extends CivitaiOptions {
  dryRun?: boolean;
  signal?: AbortSignal;
  progress?: ProgressSink;
  download?: StoreOptions['download'];
  note?: (msg: string) => void;
}

export async function pullCivitai(opts: CivitaiPullOptions): Promise<PullResult & {civitai?: CivitaiReportInfo}> {
  const env = opts.env ?? process.env;
  if (offlineFor(opts, env)) {
    const m = cachedOrFail(opts, env);
    return {id: m.id, source: 'civitai', revision: String(m.civitai!.versionId), path: cachedFilePath(m, env)!, files: [{path: m.file_name, size: m.size, downloaded: false}], bytes_downloaded: 0, bytes_total: m.size, dry_run: false};
  }
  const r = await resolveCivitaiFile(opts);
  const sha = sha256Of(r.file);
  // Exact size: one Range probe on the download URL (the API gives sizeKB only).
  const probe = new HttpByteSource({url: r.downloadUrl, headers: civitaiHeaders(r.cfg), http: r.cfg.http, authHint: CIVITAI_AUTH_HINT, what: `civitai file ${r.file.name}`});
  const size = opts.dryRun ? Math.round(r.file.sizeKB * 1024) : await probe.size();
  const id = `civitai:${r.version.modelId}@${r.version.id}`;
  const base: PullResult & {civitai?: CivitaiReportInfo} = {id, source: 'civitai', revision: String(r.version.id), path: '', files: [{path: r.file.name, size, downloaded: false}], bytes_downloaded: 0, bytes_total: size, dry_run: !!opts.dryRun, civitai: r.info};
  if (opts.dryRun) return base;
  const stored = await storeFile({
    url: r.downloadUrl, headers: civitaiHeaders(r.cfg),
    size, ...(sha ? {sha256: sha} : {}), fileName: r.file.name, key: `civitai-${r.version.id}-${r.file.id}`, authHint: CIVITAI_AUTH_HINT,
    meta: {source: 'civitai', id, civitai: {modelId: r.version.modelId, versionId: r.version.id, fileId: r.file.id, modelName: r.model?.name, versionName: r.version.name, baseModel: r.version.baseModel, api: r.info}},
  }, {env, http: r.cfg.http, signal: opts.signal, progress: opts.progress, download: opts.download, note: opts.note});
  if (stored.downloaded === 0 && stored.meta.civitai?.versionId !== r.version.id) {
    // Same bytes under another version id (re-uploads): remember this one too.
    writeFileMeta({...stored.meta, id, civitai: {...stored.meta.civitai!, versionId: r.version.id, fileId: r.file.id}}, env);
  }
  return {
    ...base, path: stored.path, files: [{path: r.file.name, size, downloaded: stored.downloaded > 0}], bytes_downloaded: stored.downloaded,
    ...(stored.seconds !== undefined ? {download_seconds: stored.seconds} : {}),
  };
}
