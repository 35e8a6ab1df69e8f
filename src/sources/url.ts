// Plain https:// file URLs: inspect by Range (HEAD-free: the first read learns the size), pull into
// $MGEN_HOME/models/<sha256>/<name> (the sha256 computed from the bytes, as no listing announces one).
import {createHash} from 'node:crypto';
import {LocalTree} from '../detect/local-tree.js';
import type {ModelReport, ModelTree} from '../detect/types.js';
import {NotFoundError} from '../errors.js';
import {allFileMetas, cachedFilePath} from './cache/mgen-home.js';
import type {ProgressSink} from './download/progress.js';
import {storeFile, type StoreOptions} from './file-store.js';
import type {HttpOptions} from './http.js';
import type {PullResult} from './hf/hf-pull.js';
import {HttpFileTree} from './single-file-tree.js';

export interface UrlOptions {
  url: string;
  env?: NodeJS.ProcessEnv;
  http?: HttpOptions;
  offline?: boolean;
  dryRun?: boolean;
  signal?: AbortSignal;
  progress?: ProgressSink;
  download?: StoreOptions['download'];
  note?: (msg: string) => void;
}

export function fileNameFromUrl(url: string, contentDisposition?: string): string {
  const cd = contentDisposition ? /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(contentDisposition) : null;
  if (cd) return decodeOrKeep(cd[1]!);
  const last = new URL(url).pathname.split('/').filter(Boolean).pop();
  return last ? decodeOrKeep(last) : 'model';
}

/** A server's malformed percent-escape (`%E0%A4%A`) is kept as sent rather than thrown: the name is made safe later. */
function decodeOrKeep(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function cachedFor(url: string, env: NodeJS.ProcessEnv) {
  return allFileMetas(env).find((m) => m.source === 'url' && m.url === url && cachedFilePath(m, env));
}

export async function openUrl(opts: UrlOptions): Promise<{tree: ModelTree; source: ModelReport['source']}> {
  const env = opts.env ?? process.env;
  if (opts.offline) {
    const m = cachedFor(opts.url, env);
    if (!m) throw new NotFoundError(`${opts.url}: not in the cache (offline)`, {hint: 'pull it first while online'});
    return {tree: await LocalTree.open(cachedFilePath(m, env)!), source: {type: 'url', id: opts.url, file: m.file_name, size: m.size, sha256: m.sha256}};
  }
  const tree = new HttpFileTree(opts.url, {url: opts.url, http: opts.http});
  const size = await tree.source.size();
  return {tree, source: {type: 'url', id: opts.url, file: fileNameFromUrl(opts.url, tree.source.contentDisposition), size}};
}

export async function pullUrl(opts: UrlOptions): Promise<PullResult> {
  const env = opts.env ?? process.env;
  const hit = cachedFor(opts.url, env);
  if (hit || opts.offline) {
    if (!hit) throw new NotFoundError(`${opts.url}: not in the cache (offline)`, {hint: 'pull it first while online'});
    return {id: opts.url, source: 'url', revision: '', path: cachedFilePath(hit, env)!, files: [{path: hit.file_name, size: hit.size, downloaded: false}], bytes_downloaded: 0, bytes_total: hit.size, dry_run: !!opts.dryRun};
  }
  const {tree, source} = await openUrl({...opts, offline: false});
  const size = source.size as number;
  const name = String(source.file);
  const base: PullResult = {id: opts.url, source: 'url', revision: '', path: '', files: [{path: name, size, downloaded: false}], bytes_downloaded: 0, bytes_total: size, dry_run: !!opts.dryRun};
  if (opts.dryRun) return base;
  void tree;
  const stored = await storeFile({
    url: opts.url, size, fileName: name, key: `url-${createHash('sha256').update(opts.url).digest('hex').slice(0, 16)}`,
    meta: {source: 'url', id: opts.url, url: opts.url},
  }, {env, http: opts.http, signal: opts.signal, progress: opts.progress, download: opts.download, note: opts.note});
  return {
    ...base, path: stored.path, files: [{path: name, size, downloaded: stored.downloaded > 0}], bytes_downloaded: stored.downloaded,
    ...(stored.seconds !== undefined ? {download_seconds: stored.seconds} : {}),
  };
}
