// The engine owns the one worker: it turns a validated native request into a worker `generate`, reads the
// images back, and restarts the worker (reloading the plan) when it dies. The queue calls it one job at a time.
import {mkdir, readFile, rm, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import {randomInt} from 'node:crypto';
import {InterruptedError, MgenError} from '../../errors.js';
import type {GenerateRequest, GenerateResult, HelloResult, LoadPlan, WorkerHandle} from '../worker/types.js';
import {FileStore} from './file-store.js';
import {HttpError} from './http-error.js';
import {decodeInlineImage} from './input-images.js';
import type {ServeMetrics} from './metrics.js';
import {toGenerateRequest, type NativeDefaults} from './native.js';
import type {JobError} from './queue.js';
import type {NativeRequest, NativeResponse} from './types.js';

export interface EngineOptions {
  modelId: string;
  plan: LoadPlan;
  defaults: NativeDefaults;
  /** Starts a fresh worker with the plan loaded (after a crash). */
  startLoaded: () => Promise<WorkerHandle>;
  /** The worker the session already started and loaded. */
  worker: WorkerHandle;
  workDir: string;
  metrics: ServeMetrics;
  /** PNG text chunks for image n (A1111 parameters etc.), the same as `generate` writes. */
  pngText?: (req: GenerateRequest, index: number, seed: number) => Record<string, string>;
  /** The metadata document `generate --json` prints, built from the worker's result. */
  metadata?: (req: GenerateRequest, result: GenerateResult) => Record<string, unknown>;
  log?: (line: string) => void;
}

export interface RunInfo {
  jobId: string;
  signal: AbortSignal;
  onProgress: (step: number, steps: number) => void;
  queuedAt: number;
  /** Where URLs point (http://host:port), for response_format "url". */
  baseUrl: string;
}

export class Engine {
  private worker: WorkerHandle;
  private restarting: Promise<void> | null = null;
  private closing = false;
  readonly files: FileStore;
  hello: HelloResult | null = null;
  pipelineSchema: Record<string, unknown> | null = null;

  constructor(private readonly opts: EngineOptions) {
    this.worker = opts.worker;
    this.files = new FileStore(join(opts.workDir, 'files'));
    this.watch(this.worker);
  }

  get ready(): boolean {
    return !this.closing && this.restarting === null && this.worker.alive;
  }

  get workerPid(): number | undefined {
    return this.worker.pid;
  }

  async init(): Promise<void> {
    await mkdir(join(this.opts.workDir, 'jobs'), {recursive: true});
    await this.files.init();
    this.pipelineSchema = await this.worker.schema();
    this.hello = await this.worker.hello().catch(() => null);
  }

  async run(body: NativeRequest, info: RunInfo): Promise<NativeResponse> {
    const started = Date.now();
    if (this.restarting) await this.restarting;
    if (!this.worker.alive) throw new HttpError(503, 'worker_unavailable', 'the worker is not running; retry shortly');
    const dir = join(this.opts.workDir, 'jobs', info.jobId.replace(/[^A-Za-z0-9_-]/g, '_'));
    await mkdir(dir, {recursive: true});
    try {
      const req = toGenerateRequest(body, this.opts.defaults, {out_dir: dir, file_stem: 'out'}, () => randomInt(0, 2 ** 32 - 1));
      for (const field of ['image', 'mask', 'control_image'] as const) {
        const v = body[field];
        if (v == null) continue;
        const img = decodeInlineImage(v, field);
        const path = join(dir, `in-${field}.${img.ext}`);
        await writeFile(path, img.bytes);
        req[field] = path;
      }
      if (this.opts.pngText) {
        req.png_text = Array.from({length: req.num_images}, (_, i) => this.opts.pngText!(req, i, req.seed + i));
      }
      const worker = this.worker;
      const t0 = Date.now();
      let result: GenerateResult;
      try {
        result = await worker.generate(req, {signal: info.signal, onProgress: info.onProgress});
      } catch (err) {
        if (!worker.alive || (await exitedSoon(worker))) {
          this.onWorkerDied(worker);
          throw new HttpError(503, 'worker_died', `the worker died during the job and is being restarted: ${firstLine(err)}`);
        }
        throw err;
      }
      const workerS = (Date.now() - t0) / 1000;
      this.opts.metrics.observeGeneration(result.timings.steps * req.num_images, result.timings.denoise_s, result.images.length);
      const images = [];
      for (const [i, img] of result.images.entries()) {
        if (body.response_format === 'url') {
          const name = `${info.jobId.replace(/[^A-Za-z0-9_-]/g, '_')}-${i}.png`;
          await this.files.adopt(img.path, name);
          images.push({url: `${info.baseUrl}/v1/files/${name}`, seed: img.seed, width: img.width, height: img.height});
        } else {
          const bytes = await readFile(img.path);
          images.push({b64_json: bytes.toString('base64'), seed: img.seed, width: img.width, height: img.height});
        }
      }
      const metadata = this.opts.metadata ? this.opts.metadata(req, result) : defaultMetadata(this.opts.modelId, req, result);
      return {
        images,
        metadata,
        timings: {
          queue_s: (started - info.queuedAt) / 1000,
          worker_s: workerS,
          denoise_s: result.timings.denoise_s,
          total_s: (Date.now() - info.queuedAt) / 1000,
          steps: result.timings.steps,
        },
      };
    } finally {
      await rm(dir, {recursive: true, force: true});
    }
  }

  /** Waits for a restart in progress; resolves at once otherwise. */
  async settled(): Promise<void> {
    if (this.restarting) await this.restarting;
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.restarting) await this.restarting.catch(() => undefined);
    await this.worker.shutdown().catch(() => this.worker.kill());
    await rm(this.opts.workDir, {recursive: true, force: true});
  }

  private watch(worker: WorkerHandle): void {
    void worker.exited.then(() => {
      if (!this.closing && this.worker === worker) this.onWorkerDied(worker);
    });
  }

  private onWorkerDied(worker: WorkerHandle): void {
    if (this.closing || this.worker !== worker || this.restarting) return;
    this.opts.log?.(`worker (pid ${worker.pid ?? '?'}) died; restarting and reloading the model`);
    worker.kill();
    this.opts.metrics.workerRestarts.inc();
    this.restarting = (async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          const next = await this.opts.startLoaded();
          if (this.closing) {
            await next.shutdown().catch(() => next.kill());
            return;
          }
          this.worker = next;
          this.watch(next);
          this.opts.log?.(`worker restarted (pid ${next.pid ?? '?'})`);
          return;
        } catch (err) {
          this.opts.log?.(`worker restart ${attempt} failed: ${firstLine(err)}`);
          if (attempt >= 3 || this.closing) return;
          await new Promise((r) => setTimeout(r, 1000 * attempt));
        }
      }
    })().finally(() => {
      this.restarting = null;
    });
  }
}

/** A worker that answered with an error may still be on its way out (the pipe closed first). */
async function exitedSoon(worker: WorkerHandle, ms = 200): Promise<boolean> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((r) => (t = setTimeout(() => r(false), ms)));
  const r = await Promise.race([worker.exited.then(() => true), timeout]);
  clearTimeout(t);
  return r;
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}

export function defaultMetadata(modelId: string, req: GenerateRequest, result: GenerateResult): Record<string, unknown> {
  return {
    model: modelId,
    prompt: req.prompt,
    negative_prompt: req.negative_prompt,
    width: req.width,
    height: req.height,
    steps: req.steps,
    guidance_scale: req.guidance_scale,
    seed: req.seed,
    seeds: result.images.map((i) => i.seed),
    scheduler: req.scheduler,
    params: req.params,
    ...result.metadata,
  };
}

/** Worker and engine errors -> the status and type a client sees. */
export function classifyError(err: unknown): JobError {
  if (err instanceof HttpError) return {status: err.status, type: err.type, message: err.message};
  if (err instanceof InterruptedError) return {status: 499, type: 'cancelled', message: err.message};
  const workerType = (err as {workerType?: string}).workerType;
  const message = err instanceof Error ? firstLine(err) : String(err);
  switch (workerType) {
    case 'bad_params':
    case 'bad_request':
      return {status: 400, type: 'invalid_request_error', message};
    case 'out_of_memory':
      return {status: 507, type: 'out_of_memory', message};
    case 'not_loaded':
    case 'load_failed':
      return {status: 503, type: 'worker_unavailable', message};
    case 'cancelled':
      return {status: 499, type: 'cancelled', message};
    default:
      return {status: 500, type: err instanceof MgenError ? 'generation_failed' : 'server_error', message};
  }
}
