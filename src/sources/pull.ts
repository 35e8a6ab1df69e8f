// `mgen pull` as a library call: any MODEL_ID -> the files a load needs, in the cache.
import {UsageError} from '../errors.js';
import type {CivitaiFile} from './civitai/client.js';
import type {CivitaiReportInfo} from './civitai/metadata.js';
import type {DownloadOptions} from './download/fetch-file.js';
import type {ProgressSink} from './download/progress.js';
import {recordDetectionSummary, type DetectionSummary} from './cache/mgen-home.js';
import {isOffline, pullHf, type PullResult} from './hf/hf-pull.js';
import type {HttpOptions} from './http.js';
import {modelIdFromArgs, parseModelId} from './model-id.js';

export type {PullResult, PullFile} from './hf/hf-pull.js';

export interface PullOptions {
  revision?: string;
  variant?: string;
  all?: boolean;
  include?: string[];
  exclude?: string[];
  file?: string;
  dryRun?: boolean;
  offline?: boolean;
  token?: string;
  endpoint?: string;
  env?: NodeJS.ProcessEnv;
  http?: HttpOptions;
  signal?: AbortSignal;
  progress?: ProgressSink;
  note?: (msg: string) => void;
  /** Interactive choice among several candidate files (HF paths or CivitAI files); absent: exit 2. */
  chooseHfFile?: (choices: Array<{path: string; size: number}>) => Promise<string>;
  chooseCivitaiFile?: (choices: CivitaiFile[]) => Promise<CivitaiFile>;
  concurrency?: number;
  download?: Pick<DownloadOptions, 'rangeThreshold' | 'ranges' | 'maxStalls' | 'workerHashThreshold'>;
  /** Detection summary of what was pulled (the command injects detect); stored for `mgen list`. */
  summarize?: (path: string) => Promise<DetectionSummary>;
}

/** Runs the injected summarizer on a finished pull and stores the result; a failure only skips it. */
async function storeSummary(r: PullResult, opts: PullOptions, env: NodeJS.ProcessEnv, hfPath?: string): Promise<void> {
  if (!opts.summarize || r.dry_run || !r.path) return;
  try {
    const target = r.source === 'huggingface' && hfPath ? `${r.path}/${hfPath}` : r.path;
    const summary = await opts.summarize(target);
    if (r.source === 'huggingface' && r.commit) recordDetectionSummary({kind: 'hf', repo: r.id, commit: r.commit}, summary, env);
    else {
      const sha = /([0-9a-f]{64})[\\/][^\\/]+$/.exec(r.path)?.[1];
      if (sha) recordDetectionSummary({kind: 'file', sha256: sha}, summary, env);
    }
  } catch {
    /* no summary: list shows '-' */
  }
}

export async function pull(modelId: string | undefined, opts: PullOptions = {}): Promise<PullResult & {civitai?: CivitaiReportInfo}> {
  const env = opts.env ?? process.env;
  const ref = parseModelId(modelIdFromArgs(modelId, env), {env});
  switch (ref.kind) {
    case 'hf': {
      const r = await pullHf({
        repo: ref.repo, revision: opts.revision ?? ref.revision, path: ref.path, endpoint: opts.endpoint ?? ref.endpoint, token: opts.token,
        env, http: opts.http, dryRun: opts.dryRun, offline: opts.offline, signal: opts.signal, progress: opts.progress, note: opts.note,
        choose: opts.chooseHfFile, concurrency: opts.concurrency, download: opts.download,
        all: opts.all, include: opts.include, exclude: opts.exclude, variant: opts.variant, file: opts.file,
      });
      await storeSummary(r, opts, env, ref.path ?? opts.file);
      return r;
    }
    case 'civitai': {
      // Each source's modules load only when a pull needs them (start-up time of `mgen pull`).
      const {pullCivitai} = await import('./civitai/civitai-source.js');
      const r = await pullCivitai({
        modelId: ref.modelId, versionId: ref.versionId, endpoint: opts.endpoint ?? ref.endpoint, token: opts.token, env, http: opts.http,
        file: opts.file, choose: opts.chooseCivitaiFile, offline: opts.offline, dryRun: opts.dryRun, signal: opts.signal,
        progress: opts.progress, download: opts.download, note: opts.note,
      });
      await storeSummary(r, opts, env);
      return r;
    }
    case 'url': {
      const {pullUrl} = await import('./url.js');
      const r = await pullUrl({url: ref.url, env, http: opts.http, offline: isOffline(opts.offline, env), dryRun: opts.dryRun, signal: opts.signal, progress: opts.progress, download: opts.download, note: opts.note});
      await storeSummary(r, opts, env);
      return r;
    }
    case 'local':
      throw new UsageError(`${ref.path} is a local path: nothing to pull`, {hint: 'use it directly with inspect or generate'});
    case 'builtin':
      throw new UsageError(`builtin:${ref.name} is made by the runtime: nothing to pull`);
  }
}
