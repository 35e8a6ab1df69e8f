// Downloads of single files (CivitAI, URL) into $MGEN_HOME/models/<sha256>/<name> + mgen.json, locked and
// verified; a file whose sha256 is not known upfront is hashed after download and then moved into place.
import {createHash} from 'node:crypto';
import {createReadStream, existsSync, mkdirSync, renameSync, rmSync} from 'node:fs';
import {join} from 'node:path';
import {acquireLock} from './cache/lock.js';
import {allFileMetas, cachedFilePath, fileDir, modelsDir, writeFileMeta, type FileMeta} from './cache/mgen-home.js';
import {checkOid, checkSegment, pathInside, safeFileName} from './cache/safe-path.js';
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
  // The lock and partial folder are named by the sha256 (64 hex) or the caller's key (one path segment, built from
  // checked ids or a hash): a value from an API never reaches these paths unchecked.
  const key = job.sha256 ? checkOid(job.sha256, `${fileName}: sha256`, 'sha256') : checkSegment(job.key, `${fileName}: cache key`);
  const lockPath = pathInside(join(modelsDir(env), '.locks'), `${key}.lock`, {what: `${fileName}: lock`});
  const tmpDir = pathInside(join(modelsDir(env), '.partial'), key, {what: `${fileName}: partial folder`, final: 'follow'});
  const got = pathInside(join(modelsDir(env), '.partial'), [key, fileName], {what: `${fileName}: partial file`, final: 'follow'});
  const existing = job.sha256 ? allFileMetas(env).find((m) => m.sha256 === job.sha256) : undefined;
  if (existing) {
    const p = cachedFilePath(existing, env);
    if (p) return {meta: existing, path: p, downloaded: 0};
  }
  const progress = opts.progress ?? silentProgress;
  const lock = await acquireLock(lockPath, {signal: opts.signal, onWait: () => opts.note?.(`waiting for another pull of ${fileName}`)});
  try {
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
    const target = pathInside(dir, fileName, {what: `${fileName}: cached file`});
    renameSync(got, target);
    rmSync(tmpDir, {recursive: true, force: true});
    const meta: FileMeta = {...job.meta, sha256: sha, file_name: fileName, size: job.size, pulled_at: new Date().toISOString(), last_used: new Date().toISOString()};
    writeFileMeta(meta, env);
    return {meta, path: target, downloaded, ...(downloaded > 0 ? {seconds: Math.round(performance.now() - started) / 1000} : {})};
  } finally {
    lock.release();
  }
}
