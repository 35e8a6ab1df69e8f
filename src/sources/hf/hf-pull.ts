// `pull` for HF repos: resolve to a commit, select the files a load needs, download them into the hub cache
// layout (blobs + relative snapshot links + refs), in parallel, locked per blob, verified.
import {existsSync} from 'node:fs';
import {InvalidModelError, NetworkError, NotFoundError, UsageError} from '../../errors.js';
import {HfRepoCache, hubCacheDir} from '../cache/hf-cache.js';
import {checkSegment, pathInside} from '../cache/safe-path.js';
import {acquireLock} from '../cache/lock.js';
import {touchHfLastUsed, updateHfSidecar} from '../cache/mgen-home.js';
import {downloadFile, type DownloadOptions} from '../download/fetch-file.js';
import {silentProgress, type ProgressSink} from '../download/progress.js';
import {componentsOf, selectFiles, type SelectOptions} from '../select-files.js';
import {authHeaders, hfConfig} from './config.js';
import {hfAuthHint, resolveHfRepo, resolveUrl, type HfFileInfo, type HfRepoInfo} from './client.js';
import {HfTree} from './hf-tree.js';
import type {HttpOptions} from '../http.js';
import {cachedRevisionNote, failFastWhenUnreachable} from '../hub-unreachable.js';

export interface PullFile {
  path: string;
  size: number;
  /** false when it was already in the cache. */
  downloaded: boolean;
}

export interface PullResult {
  id: string;
  source: 'huggingface' | 'civitai' | 'url';
  revision: string;
  commit?: string;
  /** Snapshot folder (HF) or the file (CivitAI/URL). */
  path: string;
  files: PullFile[];
  bytes_downloaded: number;
  bytes_total: number;
  /** Wall time of the transfers, first request to last verified file (absent when nothing was downloaded). */
  download_seconds?: number;
  dry_run: boolean;
  why?: string;
}

export interface HfPullOptions extends SelectOptions {
  repo: string;
  revision?: string;
  /** A file or folder of the repo the MODEL_ID named. */
  path?: string;
  endpoint?: string;
  token?: string;
  env?: NodeJS.ProcessEnv;
  http?: HttpOptions;
  dryRun?: boolean;
  offline?: boolean;
  signal?: AbortSignal;
  progress?: ProgressSink;
  /** Picks one file among several candidates (interactive); absent: usage error listing them. */
  choose?: (choices: Array<{path: string; size: number}>) => Promise<string>;
  concurrency?: number;
  /** Tuning of the transfer (range threshold, ranges per file). */
  download?: Pick<DownloadOptions, 'rangeThreshold' | 'ranges' | 'maxStalls' | 'workerHashThreshold'>;
  /** Announces waits on another pull's lock (stderr). */
  note?: (msg: string) => void;
}

export function isOffline(flag: boolean | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  if (flag) return true;
  const v = (env.HF_HUB_OFFLINE ?? '').toLowerCase();
  return v === '1' || v === 'true' || v === 'yes' || v === 'on';
}

async function pool<T>(items: T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let i = 0;
  let failed: unknown;
  const worker = async () => {
    while (i < items.length && failed === undefined) {
      const item = items[i++]!;
      try {
        await fn(item);
      } catch (err) {
        failed ??= err;
      }
    }
  };
  await Promise.all(Array.from({length: Math.min(n, items.length)}, worker));
  if (failed !== undefined) throw failed;
}

export function blobName(f: HfFileInfo): string {
  return f.sha256 ?? f.gitOid ?? '';
}

export function offlineHfResult(repo: string, revision: string, path: string | undefined, env: NodeJS.ProcessEnv): PullResult {
  const cache = new HfRepoCache(hubCacheDir(env), repo);
  const commit = cache.resolveCommit(revision);
  if (!commit) {
    throw new NotFoundError(`${repo}@${revision}: not in the cache at ${hubCacheDir(env)} (offline)`, {hint: 'pull it first without --offline / HF_HUB_OFFLINE'});
  }
  let files = cache.snapshotFiles(commit);
  if (path) {
    files = files.filter((f) => f.path === path || f.path.startsWith(path + '/'));
    if (files.length === 0) throw new NotFoundError(`${repo}@${commit.slice(0, 8)}: '${path}' is not in the cached snapshot (offline)`);
  }
  touchHfLastUsed(repo, env);
  const total = files.reduce((a, f) => a + f.size, 0);
  return {id: repo, source: 'huggingface', revision, commit, path: cache.snapshotDir(commit), files: files.map((f) => ({path: f.path, size: f.size, downloaded: false})), bytes_downloaded: 0, bytes_total: total, dry_run: false};
}

export async function planHfPull(info: HfRepoInfo, tree: HfTree, opts: HfPullOptions): Promise<{files: HfFileInfo[]; why: string}> {
  let modelIndex: Record<string, unknown> | undefined;
  const file = opts.path ?? opts.file;
  if (!file && !opts.all && !opts.include?.length && info.files.some((f) => f.path === 'model_index.json')) {
    const text = await tree.readText('model_index.json');
    try {
      modelIndex = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new InvalidModelError(`${info.repo}: model_index.json is not valid JSON`);
    }
    if (typeof modelIndex !== 'object' || modelIndex === null || Array.isArray(modelIndex)) throw new InvalidModelError(`${info.repo}: model_index.json is not a JSON object`);
    // Component names are folder names in the snapshot: one plain path segment each.
    for (const comp of componentsOf(modelIndex)) checkSegment(comp, `${info.repo}: a component name in model_index.json`);
  }
  const sel = selectFiles(info.files, modelIndex, {...opts, file});
  let paths = sel.files;
  if (sel.choices) {
    const choices = sel.choices.map((p) => ({path: p, size: info.files.find((f) => f.path === p)!.size}));
    if (!opts.choose) {
      throw new UsageError(`${info.repo} holds several weight files: ${sel.choices.join(', ')}`, {hint: `pick one with --file <name> (or the MODEL_ID ${info.repo}/<file>)`});
    }
    paths = [await opts.choose(choices)];
  }
  if (file && paths.length === 0) throw new NotFoundError(`${info.repo}@${info.commit.slice(0, 8)}: no file or folder '${file}'`);
  if (paths.length === 0) throw new NotFoundError(`${info.repo}: nothing to pull (${sel.why})`, {hint: 'use --all or --include to choose files'});
  const byPath = new Map(info.files.map((f) => [f.path, f]));
  return {files: paths.map((p) => byPath.get(p)!).filter(Boolean), why: sel.why};
}

export async function pullHf(opts: HfPullOptions): Promise<PullResult> {
  const env = opts.env ?? process.env;
  const revision = opts.revision ?? 'main';
  if (isOffline(opts.offline, env)) return offlineHfResult(opts.repo, revision, opts.path ?? opts.file, env);
  const cfg = hfConfig({endpoint: opts.endpoint, token: opts.token, env, http: opts.http});
  let info;
  const cached = new HfRepoCache(hubCacheDir(env), opts.repo).resolveCommit(revision);
  try {
    info = await resolveHfRepo(cached ? {...cfg, http: failFastWhenUnreachable(cfg.http)} : cfg, opts.repo, revision);
  } catch (err) {
    // The Hub is unreachable but the cache has it: use the cache at once, as huggingface_hub does.
    if (!(err instanceof NetworkError) || !cached || opts.dryRun) throw err;
    opts.note?.(cachedRevisionNote(cached));
    return offlineHfResult(opts.repo, revision, opts.path ?? opts.file, env);
  }
  const tree = new HfTree(cfg, info);
  const plan = await planHfPull(info, tree, opts);
  const cache = new HfRepoCache(hubCacheDir(env), opts.repo);
  const total = plan.files.reduce((a, f) => a + f.size, 0);
  const result: PullResult = {
    id: opts.repo, source: 'huggingface', revision, commit: info.commit, path: cache.snapshotDir(info.commit),
    files: plan.files.map((f) => ({path: f.path, size: f.size, downloaded: false})), bytes_downloaded: 0, bytes_total: total,
    dry_run: !!opts.dryRun, why: plan.why,
  };
  if (opts.dryRun) return result;

  // Every blob name and snapshot path is checked before the first byte is written (the listing was checked when it
  // arrived; this is the same gate again at the place that writes).
  for (const f of plan.files) {
    if (blobName(f)) cache.blobPath(blobName(f));
    pathInside(cache.snapshotsDir, [info.commit, f.path], {what: `${opts.repo}: snapshot link`});
  }
  const progress = opts.progress ?? silentProgress;
  // Several files already download in parallel: split only very large files into ranges then.
  const rangeThreshold = plan.files.filter((f) => !cache.hasBlob(blobName(f), f.size)).length > 1 ? 1 << 30 : 64 << 20;
  progress.start(plan.files.map((f) => ({label: f.path, total: f.size, done: cache.hasBlob(blobName(f), f.size) ? f.size : 0})));
  const started = performance.now();
  try {
    await pool(plan.files, opts.concurrency ?? 4, async (f) => {
      const blob = blobName(f);
      if (!blob) throw new NotFoundError(`${opts.repo}/${f.path}: the listing gave no hash to name the blob`);
      if (!cache.hasBlob(blob, f.size)) {
        const lock = await acquireLock(cache.blobLockPath(blob), {
          signal: opts.signal,
          onWait: () => opts.note?.(`waiting for another pull of ${opts.repo}/${f.path}`),
        });
        try {
          if (!cache.hasBlob(blob, f.size)) {
            const r = await downloadFile({
              url: resolveUrl(cfg, opts.repo, info.commit, f.path),
              headers: authHeaders(cfg),
              size: f.size,
              ...(f.sha256 ? {sha256: f.sha256} : f.gitOid ? {gitSha1: f.gitOid} : {}),
              dest: cache.blobPath(blob),
              label: `${opts.repo}/${f.path}`,
              authHint: hfAuthHint(cfg, opts.repo),
            }, {rangeThreshold: rangeThreshold, ...opts.download, http: cfg.http, signal: opts.signal, onBytes: (n) => progress.bytes(f.path, n)});
            result.bytes_downloaded += r.downloaded;
            const rf = result.files.find((x) => x.path === f.path)!;
            rf.downloaded = !r.skipped;
          }
        } finally {
          lock.release();
        }
      }
      cache.link(info.commit, f.path, blob);
      progress.fileDone(f.path);
    });
  } finally {
    progress.end();
  }
  if (result.bytes_downloaded > 0) result.download_seconds = Math.round(performance.now() - started) / 1000;
  if (!/^[0-9a-f]{40}$/.test(revision) || revision !== info.commit) cache.writeRef(revision, info.commit);
  updateHfSidecar(opts.repo, (s) => {
    s.pulled_at = new Date().toISOString();
    s.last_used = s.pulled_at;
  }, env);
  if (!existsSync(result.path)) throw new NotFoundError(`${opts.repo}: snapshot folder missing after pull`);
  return result;
}
