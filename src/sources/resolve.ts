// The one entry point inspect/generate/pull use: MODEL_ID (or $MODEL_ID) -> a ModelTree + source info.
// HF: pinned to the commit, remote by Range (or the cached snapshot offline); CivitAI and URL: the file by
// Range (or the cached copy offline); local: the file or folder. builtin:<name> is not ours to resolve.
import {LocalTree} from '../detect/local-tree.js';
import type {ModelReport, ModelTree} from '../detect/types.js';
import {NetworkError, UsageError} from '../errors.js';
import {HfRepoCache, hubCacheDir} from './cache/hf-cache.js';
import {touchHfLastUsed} from './cache/mgen-home.js';
import type {CivitaiFile} from './civitai/client.js';
import {openCivitai} from './civitai/civitai-source.js';
import type {CivitaiReportInfo} from './civitai/metadata.js';
import {hfConfig} from './hf/config.js';
import {resolveHfRepo} from './hf/client.js';
import {HfTree} from './hf/hf-tree.js';
import {cachedRevisionNote, failFastWhenUnreachable} from './hub-unreachable.js';
import {isOffline, offlineHfResult} from './hf/hf-pull.js';
import type {HttpOptions} from './http.js';
import {modelIdFromArgs, parseModelId, type ModelRef} from './model-id.js';
import {openUrl} from './url.js';

export interface ResolveOptions {
  /** --endpoint (HF; CivitAI uses CIVITAI_ENDPOINT). */
  endpoint?: string;
  /** --token: used for the source the MODEL_ID names (HF or CivitAI). */
  token?: string;
  /** --revision (HF), overriding an @revision in the id. */
  revision?: string;
  /** --file: a file of an HF repo or of a CivitAI version. */
  file?: string;
  offline?: boolean;
  env?: NodeJS.ProcessEnv;
  http?: HttpOptions;
  /** One-line notices for stderr (the cache standing in for an unreachable Hub). */
  note?: (msg: string) => void;
  /** Interactive CivitAI file choice (TTY); absent: exit 2 listing the choices. */
  chooseCivitaiFile?: (choices: CivitaiFile[]) => Promise<CivitaiFile>;
}

export interface OpenedModel {
  ref: ModelRef;
  tree: ModelTree;
  /** Goes into ModelReport.source. HF: {type, id, revision (commit), requested_revision, file?, endpoint,
   * files: [{path,size,sha256?}], license?, gated, private}; CivitAI: {..., civitai: CivitaiReportInfo}. */
  source: ModelReport['source'];
  civitai?: CivitaiReportInfo;
  /** Local folder/file holding the model when it is on disk (local path or cache), for the runtime. */
  localPath?: string;
}

/** Opens a parsed reference. Remote trees read only what is asked of them (headers by Range). */
export async function openRemoteTree(ref: ModelRef, opts: ResolveOptions = {}): Promise<OpenedModel> {
  const env = opts.env ?? process.env;
  const offline = isOffline(opts.offline, env);
  switch (ref.kind) {
    case 'local': {
      const tree = await LocalTree.open(ref.path);
      return {ref, tree, source: {type: 'local', id: ref.path}, localPath: ref.path};
    }
    case 'builtin':
      throw new UsageError(`builtin:${ref.name} is made by the runtime, not opened from a source`);
    case 'hf': {
      const revision = opts.revision ?? ref.revision ?? 'main';
      const path = ref.path ?? opts.file;
      if (offline) {
        const r = offlineHfResult(ref.repo, revision, path, env);
        const root = path ? `${r.path}/${path}` : r.path;
        const tree = await LocalTree.open(root);
        return {ref, tree, localPath: root, source: {type: 'huggingface', id: ref.repo, revision: r.commit, requested_revision: revision, ...(path ? {file: path} : {}), files: r.files.map((f) => ({path: f.path, size: f.size})), offline: true}};
      }
      const cfg = hfConfig({endpoint: opts.endpoint ?? ref.endpoint, token: opts.token, env, http: opts.http});
      // Cached: a Hub that cannot be reached at all is not retried for seconds; the cache answers at once.
      const cached = new HfRepoCache(hubCacheDir(env), ref.repo).resolveCommit(revision);
      let info;
      try {
        info = await resolveHfRepo(cached ? {...cfg, http: failFastWhenUnreachable(cfg.http)} : cfg, ref.repo, revision);
      } catch (err) {
        // Unreachable Hub, cached model: open the cached snapshot instead (as huggingface_hub falls back), and say so.
        if (err instanceof NetworkError && cached) {
          opts.note?.(cachedRevisionNote(cached));
          return openRemoteTree(ref, {...opts, offline: true});
        }
        throw err;
      }
      const tree = new HfTree(cfg, info, path);
      const cache = new HfRepoCache(hubCacheDir(env), ref.repo);
      if (cache.resolveCommit(info.commit)) touchHfLastUsed(ref.repo, env);
      return {
        ref, tree,
        source: {
          type: 'huggingface', id: ref.repo, revision: info.commit, requested_revision: revision, ...(path ? {file: path} : {}),
          endpoint: cfg.endpoint, files: (await tree.list()).map((f) => ({path: f.path, size: f.size, ...(f.sha256 ? {sha256: f.sha256} : {})})),
          ...(info.license ? {license: info.license} : {}), gated: info.gated, private: info.private,
        },
      };
    }
    case 'civitai': {
      const r = await openCivitai({modelId: ref.modelId, versionId: ref.versionId, endpoint: ref.endpoint, token: opts.token, env, http: opts.http, file: opts.file, choose: opts.chooseCivitaiFile, offline});
      return {ref, tree: r.tree, source: r.source, ...(r.civitai ? {civitai: r.civitai} : {})};
    }
    case 'url': {
      const r = await openUrl({url: ref.url, env, http: opts.http, offline});
      return {ref, ...r};
    }
  }
}

/** MODEL_ID argument (or $MODEL_ID) -> opened model. What `inspect` and `generate` call. */
export async function resolveModel(arg: string | undefined, opts: ResolveOptions = {}): Promise<OpenedModel> {
  const env = opts.env ?? process.env;
  const ref = parseModelId(modelIdFromArgs(arg, env), {env});
  return openRemoteTree(ref, opts);
}
