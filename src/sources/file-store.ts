// Downloads of single files (CivitAI, URL) into $MGEN_HOME/models/<sha256>/<name> + mgen.json, locked and
// verified; a file whose sha256 is not known upfront is hashed after download and then moved into place.
import {createHash} from 'node:crypto';
import {createReadStream, existsSync, mkdirSync, renameSync, rmSync} from 'node:fs';
import {join} from 'node:path';
import {acquireLock} from './cache/lock.js';
import {allFileMetas, cachedFilePath, fileDir, modelsDir, writeFileMeta, type FileMeta} from './cache/mgen-home.js';
import {downloadFile, type DownloadOptions} from './download/fetch-file.js';
import {silentProgress, type ProgressSink} from './download/progress.js';
import type {HttpOptions} from './http.js';

export interface StoreFileJob {
  url: string;
  headers?: Record<string, string>;
  size: number;
  sha256?: string;
  fileName: string;
  /** A stable key for the lock and the temp folder when sha256 is unknown (version+file id, URL hash). */
  key: string;
  meta: Omit<FileMeta, 'sha256' | 'file_name' | 'size' | 'pulled_at'>;
  authHint?: string;
}

export interface StoreOptions {
  env?: NodeJS.ProcessEnv;
  http?: HttpOptions;
  signal?: AbortSignal;
  progress?: ProgressSink;
  download?: Pick<DownloadOptions, 'rangeThreshold' | 'ranges' | 'maxStalls' | 'workerHashThreshold'>;
  note?: (msg: string) => void;
}

export function safeFileName(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? 'model';
  const clean = base.replace(/[^A-Za-z0-9._ ()+-]/g, '_').replace(/^\.+/, '');
  return clean === '' ? 'model' : clean;
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path, {highWaterMark: 4 << 20})) h.update(c as Buffer);
  return h.digest('hex');
}

export async function storeFile(
  job: StoreFileJob,
  opts: StoreOptions = {},
): Promise<{meta: FileMeta; path: string; downloaded: number; seconds?: number}> {
  const env = opts.env ?? process.env;
  const fileName = safeFileName(job.fileName);
  const existing = job.sha256 ? allFileMetas(env).find((m) => m.sha256 === job.sha256) : undefined;
  if (existing) {
    const p = cachedFilePath(existing, env);
    if (p) return {meta: existing, path: p, downloaded: 0};
  }
  const progress = opts.progress ?? silentProgress;
  const lock = await acquireLock(join(modelsDir(env), '.locks', `${job.sha256 ?? job.key}.lock`), {signal: opts.signal, onWait: () => opts.note?.(`waiting for another pull of ${fileName}`)});
  try {
    const tmpDir = join(modelsDir(env), '.partial', job.sha256 ?? job.key);
    const got = join(tmpDir, fileName);
    progress.start([{label: fileName, total: job.size, done: 0}]);
    let downloaded = 0;
    const started = performance.now();
    try {
      mkdirSync(tmpDir, {recursive: true});
      const r = await downloadFile({
        url: job.url, headers: job.headers, size: job.size, ...(job.sha256 ? {sha256: job.sha256} : {}),
        dest: got, label: fileName, authHint: job.authHint,
      }, {...opts.download, http: opts.http, signal: opts.signal, onBytes: (n) => progress.bytes(fileName, n)});
      downloaded = r.downloaded;
      progress.fileDone(fileName);
    } catch (err) {
      if (!existsSync(join(tmpDir, `${fileName}.incomplete`)) && !existsSync(join(tmpDir, `${fileName}.mgen-partial`))) rmSync(tmpDir, {recursive: true, force: true});
      throw err;
    } finally {
      progress.end();
    }
    const sha = job.sha256 ?? (await sha256File(got));
    const dir = fileDir(sha, env);
    mkdirSync(dir, {recursive: true});
    const target = join(dir, fileName);
    renameSync(got, target);
    rmSync(tmpDir, {recursive: true, force: true});
    const meta: FileMeta = {...job.meta, sha256: sha, file_name: fileName, size: job.size, pulled_at: new Date().toISOString(), last_used: new Date().toISOString()};
    writeFileMeta(meta, env);
    return {meta, path: target, downloaded, ...(downloaded > 0 ? {seconds: Math.round(performance.now() - started) / 1000} : {})};
  } finally {
    lock.release();
  }
}
