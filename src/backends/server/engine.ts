// The engine owns the loaded model (a session around the one worker): it turns a validated native request
// into a session generate, reads the images back, and reopens the session (reloading the model) when the
// worker dies. The queue calls it one job at a time.
import {mkdir, readFile, rm, writeFile} from 'node:fs/promises';
import {extname, join} from 'node:path';
import {InterruptedError, MgenError} from '../../errors.js';
import type {HelloResult, LoadPlan, ProgressExtra, WorkerHandle} from '../worker/types.js';
import {ModelNotAllowedError, outsideRequestGuard, type RequestModelPolicy} from '../request-model-policy.js';
import {FileStore} from './file-store.js';
import {HttpError} from './http-error.js';
import {decodeInlineImage} from './input-images.js';
import type {ServeMetrics} from './metrics.js';
import {toSessionInput} from './native.js';
import type {JobError} from './queue.js';
import {generationMetadata, type CheckpointInfo, type ServeSession, type SessionGenerateOutput} from './session-port.js';
import type {NativeRequest, NativeResponse} from './types.js';

export interface EngineOptions {
  /** The session opened at start (model loaded). */
  session: ServeSession;
  /** Opens a fresh session (new worker, model reloaded) after the worker died. */
  reopen: () => Promise<ServeSession>;
  workDir: string;
  metrics: ServeMetrics;
  log?: (line: string) => void;
}

export interface RunInfo {
  jobId: string;
  signal: AbortSignal;
  onProgress: (step: number, steps: number) => void;
  queuedAt: number;
  /** Where URLs point (http://host:port), for response_format "url". */
  baseUrl: string;
  /** The request's LoRA ids as the policy admitted them (same order as body.loras). */
  loraIds?: string[];
  /** Fetches for the request's models run under its guard (no private addresses unless allowed). */
  policy?: RequestModelPolicy;
  /** Partial images per image (OpenAI partial_images): each is read, handed to onPreview, and removed. */
  previews?: number;
  onPreview?: (p: PreviewImage) => void;
}

/** A partial image made while denoising. */
export interface PreviewImage {
  image: number;
  step: number;
  steps: number;
  b64_json: string;
  width: number;
  height: number;
}

const safeId = (id: string): string => id.replace(/[^A-Za-z0-9_-]/g, '_');

export class Engine {
  private session: ServeSession;
  private restarting: Promise<void> | null = null;
  private closing = false;
  /** The server was told to stop (a signal): a worker that exits by SIGINT/SIGTERM now got the same signal. */
  private stopping = false;
  private readonly exits = new WeakMap<WorkerHandle, {code: number | null; signal: NodeJS.Signals | null}>();
  readonly files: FileStore;
  pipelineSchema: Record<string, unknown> | null = null;

  constructor(private readonly opts: EngineOptions) {
    this.session = opts.session;
    this.files = new FileStore(join(opts.workDir, 'files'));
    this.watch(this.session.worker);
  }

  get ready(): boolean {
    return !this.closing && this.restarting === null && this.session.worker.alive;
  }

  get worker(): WorkerHandle {
    return this.session.worker;
  }

  get hello(): HelloResult {
    return this.session.hello;
  }

  /** The loaded model's plan (A1111's LoRA, embedding and VAE lists). */
  get plan(): LoadPlan {
    return this.session.plan;
  }

  /** The loaded checkpoint (A1111's model list); null when the session cannot say. */
  async checkpointInfo(): Promise<CheckpointInfo | null> {
    return this.session.checkpointInfo ? this.session.checkpointInfo() : null;
  }

  async init(): Promise<void> {
    await mkdir(join(this.opts.workDir, 'jobs'), {recursive: true});
    await this.files.init();
    this.pipelineSchema = await this.session.schema();
  }

  async run(body: NativeRequest, info: RunInfo): Promise<NativeResponse> {
    const started = Date.now();
    await this.workerReady();
    const session = this.session;
    if (!session.worker.alive) throw new HttpError(503, 'worker_unavailable', 'the worker is not running; retry shortly');
    // A folder of its own only for a job with input images; outputs go straight into jobs/ (one mkdir and one
    // recursive rm less per request).
    const jobs = join(this.opts.workDir, 'jobs');
    const hasInputs = body.image != null || body.mask != null || body.control_image != null;
    const dir = hasInputs ? join(jobs, safeId(info.jobId)) : null;
    if (dir) await mkdir(dir, {recursive: true});
    let written: string[] = [];
    try {
      // Transient outputs keep the worker's unique names: only the pattern's folder is used.
      const input = {...toSessionInput(body, join(dir ?? jobs, 'out-{n}.png')), transient: true, ...(info.previews ? {previews: info.previews} : {})};
      if (input.loras && info.loraIds) input.loras = input.loras.map((l, i) => ({...l, id: info.loraIds![i] ?? l.id}));
      if (input.loras && info.policy) await info.policy.preflight(input.loras.map((l, i) => ({id: l.id, field: `loras[${i}].name`})));
      for (const [field, key] of [['image', 'image'], ['mask', 'mask'], ['control_image', 'controlImage']] as const) {
        const v = body[field];
        if (v == null) continue;
        const img = decodeInlineImage(v, field);
        const path = join(dir!, `in-${field}.${img.ext}`);
        await writeFile(path, img.bytes);
        input[key] = path;
      }
      const t0 = Date.now();
      let out: SessionGenerateOutput;
      const previews: Array<Promise<void>> = [];
      const onProgress = (step: number, steps: number, extra?: ProgressExtra): void => {
        info.onProgress(step, steps);
        if (extra?.preview) previews.push(this.takePreview(extra.preview, {image: extra.image ?? 0, step, steps}, info.onPreview));
      };
      try {
        const gen = () => session.generate(input, {signal: info.signal, onProgress});
        out = await (info.policy && input.loras?.length ? info.policy.guard(gen) : gen());
        await Promise.all(previews);
      } catch (err) {
        // Messages name a request's LoRA as the client did, not by the server path the policy found it at.
        if (err instanceof Error && info.loraIds && body.loras) {
          info.loraIds.forEach((id, i) => {
            const name = body.loras![i]?.name;
            if (name !== undefined && id !== name) err.message = err.message.split(id).join(name);
          });
        }
        // The worker's words about a request LoRA it could not load end in its exception's text, which can name
        // what is in the file: the client gets the field and the model in words only.
        const m = /^request\.loras\[(\d+)\]: cannot load /.exec(err instanceof Error ? err.message : '');
        const entry = m ? body.loras?.[Number(m[1])] : undefined;
        if (m && entry) {
          const field = `loras[${m[1]}].name`;
          throw new HttpError(400, 'invalid_request_error', `${field}: ${entry.name} could not be loaded into this pipeline (not a LoRA it can apply)`, field);
        }
        // A cancelled job whose worker did not stop within the grace period: the worker was killed (the next job
        // waits for its restart in workerReady(), it never reaches the dying process).
        if (info.signal.aborted && session.worker.killed) this.opts.metrics.cancelKills.inc();
        if (!info.signal.aborted && (!session.worker.alive || (await exitedSoon(session.worker)))) {
          if (this.deliberateExit(session.worker)) throw new HttpError(503, 'shutting_down', 'the server is shutting down; the job was stopped');
          this.onWorkerDied(session.worker);
          throw new HttpError(503, 'worker_died', `the worker died during the job and is being restarted: ${firstLine(err)}`);
        }
        throw err;
      }
      const workerS = (Date.now() - t0) / 1000;
      written = out.images.map((im) => im.path);
      this.opts.metrics.observeGeneration(out.timings.steps * out.images.length, out.timings.denoise_s, out.images.length);
      const images = [];
      for (const [i, img] of out.images.entries()) {
        if (body.response_format === 'url') {
          const name = `${safeId(info.jobId)}-${i}${extname(img.path) || '.png'}`;
          await this.files.adopt(img.path, name);
          images.push({url: `${info.baseUrl}${this.files.signedPath(name)}`, seed: img.seed, width: img.width, height: img.height});
        } else {
          const bytes = await readFile(img.path);
          images.push({b64_json: bytes.toString('base64'), seed: img.seed, width: img.width, height: img.height});
        }
      }
      const metadata = generationMetadata(out, session);
      // The client's own names for its LoRAs (not the server path a name was found at).
      const reqMeta = metadata.request as {loras?: Array<{name: string}>} | undefined;
      if (reqMeta?.loras && body.loras) reqMeta.loras = reqMeta.loras.map((l, i) => ({...l, name: body.loras![i]?.name ?? l.name}));
      return {
        images,
        metadata,
        timings: {
          queue_s: (started - info.queuedAt) / 1000,
          worker_s: workerS,
          worker_total_s: out.timings.worker_total_s,
          denoise_s: out.timings.denoise_s,
          total_s: (Date.now() - info.queuedAt) / 1000,
          steps: out.timings.steps,
        },
      };
    } finally {
      // Not awaited: the answer need not wait for the clean-up (close() removes the whole work folder anyway).
      const cleanup = dir ? rm(dir, {recursive: true, force: true}) : Promise.all(written.map((p) => rm(p, {force: true})));
      cleanup.catch((err: unknown) => this.opts.log?.(`could not remove a job's files: ${firstLine(err)}`));
    }
  }

  /**
   * Before a job: waits while the worker is being replaced, so that no request fails because an earlier one was
   * cancelled. A worker killed after a cancel (it did not reach the next step within the grace period) is still
   * "alive" until its exit: the job waits for the exit, which starts the restart (watch()), then for the reload.
   */
  private async workerReady(): Promise<void> {
    let waited = false;
    for (let i = 0; i < 4 && !this.closing; i++) {
      if (this.restarting) {
        waited = true;
        await this.restarting;
        continue;
      }
      const w = this.session.worker;
      if (!(w.alive && w.killed)) break;
      waited = true;
      await w.exited;
      // watch()'s handler on the same promise ran first: the restart is under way (or the server is closing).
      if (!this.restarting && this.session.worker === w && !this.closing) this.onWorkerDied(w);
    }
    if (waited) this.opts.metrics.restartWaits.inc();
  }

  /** Reads a partial image the worker wrote, hands it on, removes it. */
  private async takePreview(path: string, at: {image: number; step: number; steps: number}, onPreview?: (p: PreviewImage) => void): Promise<void> {
    try {
      const bytes = await readFile(path);
      if (onPreview && bytes.length > 24) onPreview({...at, b64_json: bytes.toString('base64'), width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20)});
    } catch (err) {
      this.opts.log?.(`could not read a partial image: ${firstLine(err)}`);
    } finally {
      await rm(path, {force: true}).catch(() => undefined);
    }
  }

  /** Waits for a restart in progress; resolves at once otherwise. */
  async settled(): Promise<void> {
    if (this.restarting) await this.restarting;
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.restarting) await this.restarting.catch(() => undefined);
    await this.session.close().catch(() => this.session.worker.kill());
    await rm(this.opts.workDir, {recursive: true, force: true});
  }

  /** Called as soon as the server begins to shut down (before the drain). */
  beginShutdown(): void {
    this.stopping = true;
  }

  /** An exit that was part of a shutdown: asked for, or the stop signal (Ctrl-C reaches the worker's process group too). */
  private deliberateExit(worker: WorkerHandle): boolean {
    if ((worker as {shutdownRequested?: boolean}).shutdownRequested) return true;
    const e = this.exits.get(worker);
    return this.stopping && e !== undefined && (e.signal === 'SIGINT' || e.signal === 'SIGTERM' || e.code === 130 || e.code === 143);
  }

  private watch(worker: WorkerHandle): void {
    void worker.exited.then((e) => {
      this.exits.set(worker, e);
      // A worker asked to shut down (by close(), or by whoever opened it) did not die.
      if (!this.closing && this.session.worker === worker && !this.deliberateExit(worker)) this.onWorkerDied(worker);
    });
  }

  private onWorkerDied(worker: WorkerHandle): void {
    if (this.closing || this.session.worker !== worker || this.restarting || this.deliberateExit(worker)) return;
    this.opts.log?.(`the worker (pid ${worker.pid ?? '?'}) died; restarting it and reloading the model`);
    worker.kill();
    this.opts.metrics.workerRestarts.inc();
    this.restarting = (async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          // The operator's own model: never under a request's fetch guard (a death is noticed inside a job).
          const next = await outsideRequestGuard(() => this.opts.reopen());
          if (this.closing) {
            await next.close().catch(() => next.worker.kill());
            return;
          }
          this.session = next;
          this.watch(next.worker);
          this.opts.log?.(`worker restarted (pid ${next.worker.pid ?? '?'})`);
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
async function exitedSoon(worker: WorkerHandle, ms = 300): Promise<boolean> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((r) => (t = setTimeout(() => r(false), ms)));
  const r = await Promise.race([worker.exited.then(() => true), timeout]);
  clearTimeout(t);
  return r;
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}

/** Worker and engine errors -> the status and type a client sees. */
export function classifyError(err: unknown): JobError {
  if (err instanceof HttpError) return {status: err.status, type: err.type, message: err.message, ...(err.param ? {param: err.param} : {})};
  if (err instanceof ModelNotAllowedError) return {status: 403, type: 'model_not_allowed', message: firstLine(err), ...(err.field ? {param: err.field} : {})};
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
      // The session's own checks (e.g. unknown params) are usage errors: the client's fault.
      if (err instanceof MgenError && err.exitCode === 5) return {status: 502, type: 'model_fetch_failed', message, ...(err.field ? {param: err.field} : {})};
      if (err instanceof MgenError && err.exitCode === 2) {
        return {status: 400, type: 'invalid_request_error', message, ...(err.field ? {param: err.field} : {})};
      }
      return {status: 500, type: err instanceof MgenError ? 'generation_failed' : 'server_error', message};
  }
}
