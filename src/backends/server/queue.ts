// FIFO job queue in front of the one worker: one job runs at a time, at most `maxQueue` wait, each job has
// a timeout, can be cancelled while waiting or running, and reports progress to listeners (SSE, metrics).
import {EventEmitter} from 'node:events';
import {randomUUID} from 'node:crypto';
import {HttpError} from './http-error.js';

export type JobStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

export interface JobError {
  status: number;
  type: string;
  message: string;
  /** The request field at fault, when known. */
  param?: string;
}

/** One entry of a job's event log: what its SSE stream sends, numbered for `Last-Event-ID`. */
export interface JobEvent {
  /** 1, 2, 3, ... per job. */
  id: number;
  /** 'status' (queued, running), 'position' (place in line changed), 'progress' ({step, steps}), 'preview' (a partial
   * image the job asked for), 'done' (final). */
  event: 'status' | 'position' | 'progress' | 'preview' | 'done';
  data: Record<string, unknown>;
}

export interface Job<I, O> {
  readonly id: string;
  readonly input: I;
  /**
   * Stable JSON of the input, to tell an idempotent resubmission from a conflicting one; only jobs submitted with
   * their own id have one (an input with inline images is megabytes of JSON, not worth sorting per request).
   */
  readonly fingerprint: string | null;
  status: JobStatus;
  readonly createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  progress: {step: number; steps: number; phase?: string} | null;
  output?: O;
  error?: JobError;
  readonly controller: AbortController;
  /** Resolves when the job has reached a final status (never rejects). */
  readonly done: Promise<void>;
  /** Emits 'progress' ({step, steps}), 'status' (JobStatus) and 'event' (each JobEvent as it is logged). */
  readonly events: EventEmitter;
  /**
   * The job's recent events, oldest first, bounded (progress entries are dropped first): a stream that reconnects
   * with Last-Event-ID is replayed from here.
   */
  readonly log: JobEvent[];
}

export interface RunContext {
  signal: AbortSignal;
  /** phase: 'decoding' / 'encoding' after the last step of a video or audio job. */
  onProgress: (step: number, steps: number, phase?: string) => void;
}

export interface QueueOptions<I, O> {
  /** Jobs that may wait behind the running one; one more is refused with 429. */
  maxQueue: number;
  /** Per-job limit on running time in ms (0: none). */
  timeoutMs: number;
  run: (input: I, ctx: RunContext, job: Job<I, O>) => Promise<O>;
  /** Turns whatever `run` threw into the error a client sees. */
  classify: (err: unknown, job: Job<I, O>) => JobError;
  /** How long finished jobs stay readable (ms) and how many are kept at most. */
  retainMs?: number;
  retainMax?: number;
  /** At most this many bytes of finished jobs' outputs are kept (oldest jobs dropped first); needs `outputBytes`. */
  retainBytes?: number;
  /** The size of an output (e.g. its base64 images), for `retainBytes`. */
  outputBytes?: (output: O) => number;
  /** Entries kept in each job's event log (default 256). */
  eventLogMax?: number;
}

const FINAL: ReadonlySet<JobStatus> = new Set(['completed', 'failed', 'cancelled']);
export const isFinal = (s: JobStatus): boolean => FINAL.has(s);

export class JobQueue<I, O> extends EventEmitter {
  private readonly jobs = new Map<string, Job<I, O>>();
  private readonly waiting: Array<Job<I, O>> = [];
  private running: Job<I, O> | null = null;
  private closed = false;
  private readonly resolvers = new Map<string, () => void>();
  /** Jobs cancelled by the server's shutdown (503 rather than 499). */
  private readonly shutdownCancelled = new Set<string>();
  /** Moving average of job run time (s), for Retry-After. */
  private avgRunS = 1;
  /** The place in line each waiting job was last told. */
  private readonly toldPosition = new WeakMap<Job<I, O>, number>();

  constructor(private readonly opts: QueueOptions<I, O>) {
    super();
  }

  get depth(): number {
    return this.waiting.length;
  }
  get active(): number {
    return this.running ? 1 : 0;
  }
  /** The running job, or null (A1111's /progress and /interrupt). */
  get current(): Job<I, O> | null {
    return this.running;
  }
  get accepting(): boolean {
    return !this.closed;
  }

  get(id: string): Job<I, O> | undefined {
    return this.jobs.get(id);
  }

  /** 1-based place in line of a waiting job, 0 when running or done. */
  position(id: string): number {
    const i = this.waiting.findIndex((j) => j.id === id);
    return i < 0 ? 0 : i + 1;
  }

  /** Seconds a new client should wait before trying again when the queue is full. */
  retryAfterSeconds(): number {
    return Math.max(1, Math.ceil(this.avgRunS * (this.waiting.length + this.active)));
  }

  /**
   * Adds a job. With a client-given id that already exists: the same input returns the existing job
   * (created=false), a different input is a 409.
   */
  submit(input: I, opts: {id?: string} = {}): {job: Job<I, O>; created: boolean} {
    const fingerprint = opts.id !== undefined ? stableStringify(input) : null;
    if (opts.id !== undefined) {
      const existing = this.jobs.get(opts.id);
      if (existing) {
        if (existing.fingerprint !== fingerprint) {
          throw new HttpError(409, 'conflict', `job ${opts.id} already exists with a different input`, 'id');
        }
        return {job: existing, created: false};
      }
    }
    if (this.closed) throw new HttpError(503, 'shutting_down', 'the server is shutting down and takes no new work');
    if (this.waiting.length >= this.opts.maxQueue && (this.running || this.waiting.length > 0)) {
      throw new HttpError(429, 'queue_full', `the queue is full (${this.opts.maxQueue} waiting)`, undefined, {
        retryAfter: this.retryAfterSeconds(),
      });
    }
    let resolve!: () => void;
    const done = new Promise<void>((r) => (resolve = r));
    const job: Job<I, O> = {
      id: opts.id ?? randomUUID(),
      input,
      fingerprint,
      status: 'queued',
      createdAt: Date.now(),
      progress: null,
      controller: new AbortController(),
      done,
      events: new EventEmitter(),
      log: [],
    };
    job.events.setMaxListeners(0);
    this.resolvers.set(job.id, resolve);
    this.jobs.set(job.id, job);
    this.waiting.push(job);
    this.toldPosition.set(job, this.waiting.length);
    this.record(job, 'status', {id: job.id, status: 'queued', position: this.waiting.length});
    this.emit('change');
    queueMicrotask(() => this.pump());
    return {job, created: true};
  }

  /**
   * A job that failed before it could be queued (its input did not validate), kept so that its id can be polled as
   * RunPod's clients do; final at once.
   */
  recordFailed(input: I, error: JobError, opts: {id?: string} = {}): Job<I, O> {
    const id = opts.id ?? randomUUID();
    const existing = this.jobs.get(id);
    if (existing) return existing;
    const job: Job<I, O> = {
      id, input, fingerprint: null, status: 'queued', createdAt: Date.now(), progress: null,
      controller: new AbortController(), done: Promise.resolve(), events: new EventEmitter(), log: [],
    };
    this.jobs.set(id, job);
    this.finish(job, 'failed', undefined, error);
    return job;
  }

  /** Cancels every waiting job (not the running one); returns how many. */
  purgeWaiting(reason = 'cancelled: the queue was purged'): number {
    const ids = this.waiting.map((j) => j.id);
    for (const id of ids) this.cancel(id, reason);
    return ids.length;
  }

  /** A partial image of a running job, for its stream (logged like progress, so a reconnect replays it). */
  preview(job: Job<I, O>, data: Record<string, unknown>): void {
    if (!isFinal(job.status)) this.record(job, 'preview', data);
  }

  /** Appends to a job's event log (bounded) and tells its listeners. */
  private record(job: Job<I, O>, event: JobEvent['event'], data: Record<string, unknown>): void {
    const entry: JobEvent = {id: (job.log.at(-1)?.id ?? 0) + 1, event, data};
    job.log.push(entry);
    if (job.log.length > (this.opts.eventLogMax ?? 256)) {
      const i = job.log.findIndex((e) => e.event === 'preview' || e.event === 'progress' || e.event === 'position');
      job.log.splice(i >= 0 ? i : 0, 1);
    }
    job.events.emit('event', entry);
  }

  /** Tells every waiting job whose place in line changed. */
  private announcePositions(): void {
    this.waiting.forEach((job, i) => {
      if (this.toldPosition.get(job) === i + 1) return;
      this.toldPosition.set(job, i + 1);
      this.record(job, 'position', {id: job.id, position: i + 1});
    });
  }

  /**
   * Drops a finished job (a synchronous request's, whose client got the answer and never saw its id): its output
   * (base64 images) need not be held for `retainMs`. False when the job is unknown or not final.
   */
  forget(id: string): boolean {
    const job = this.jobs.get(id);
    if (!job || !isFinal(job.status)) return false;
    return this.jobs.delete(id);
  }

  /**
   * Cancels a waiting or running job; false when it is unknown or already final. A client's cancel (or its
   * disconnect) answers 499; the server's own (shutdown) passes `shutdown` and answers 503.
   */
  cancel(id: string, reason = 'cancelled', opts: {shutdown?: boolean} = {}): boolean {
    const job = this.jobs.get(id);
    if (!job || isFinal(job.status)) return false;
    if (opts.shutdown) this.shutdownCancelled.add(job.id);
    if (job.status === 'queued') {
      const i = this.waiting.indexOf(job);
      if (i >= 0) this.waiting.splice(i, 1);
      job.controller.abort(reason);
      this.finish(job, 'cancelled', undefined, this.cancelError(job, reason));
      this.announcePositions();
      return true;
    }
    job.controller.abort(reason);
    return true;
  }

  private cancelError(job: Job<I, O>, reason: string): JobError {
    if (this.shutdownCancelled.delete(job.id)) return {status: 503, type: 'shutting_down', message: `job ${reason}; retry on another server or later`};
    return {status: 499, type: 'cancelled', message: `job ${reason}`};
  }

  /** Stops taking new work; resolves when every accepted job has finished. */
  async drain(): Promise<void> {
    this.closed = true;
    const pending = [...this.jobs.values()].filter((j) => !isFinal(j.status)).map((j) => j.done);
    await Promise.all(pending);
  }

  /** Cancels everything still waiting or running (shutdown after a drain timeout). */
  cancelAll(reason = 'server shutdown'): void {
    for (const j of [...this.waiting]) this.cancel(j.id, reason, {shutdown: true});
    if (this.running) this.cancel(this.running.id, reason, {shutdown: true});
  }

  private pump(): void {
    if (this.running) return;
    const job = this.waiting.shift();
    if (!job) return;
    this.running = job;
    job.status = 'running';
    job.startedAt = Date.now();
    job.events.emit('status', job.status);
    this.record(job, 'status', {id: job.id, status: 'running'});
    this.announcePositions();
    this.emit('change');
    let timer: NodeJS.Timeout | undefined;
    if (this.opts.timeoutMs > 0) {
      timer = setTimeout(() => job.controller.abort('timeout'), this.opts.timeoutMs);
      timer.unref();
    }
    const ctx: RunContext = {
      signal: job.controller.signal,
      onProgress: (step, steps, phase) => {
        job.progress = phase ? {step, steps, phase} : {step, steps};
        job.events.emit('progress', job.progress);
        this.record(job, 'progress', {step, steps});
      },
    };
    // A run that throws before its first await is a failed job like any other, never an uncaught exception.
    Promise.resolve()
      .then(() => this.opts.run(job.input, ctx, job))
      .then(
        (out) => this.finish(job, 'completed', out),
        (err: unknown) => {
          const reason = job.controller.signal.aborted ? String(job.controller.signal.reason) : '';
          if (reason === 'timeout') {
            this.finish(job, 'failed', undefined, {
              status: 504,
              type: 'timeout',
              message: `the job ran longer than ${Math.round(this.opts.timeoutMs / 1000)} s and was stopped`,
            });
          } else if (reason) {
            this.finish(job, 'cancelled', undefined, this.cancelError(job, reason));
          } else {
            this.finish(job, 'failed', undefined, this.opts.classify(err, job));
          }
        },
      )
      .finally(() => {
        if (timer) clearTimeout(timer);
        const took = (Date.now() - (job.startedAt ?? Date.now())) / 1000;
        this.avgRunS = this.avgRunS * 0.7 + took * 0.3;
        this.running = null;
        this.emit('change');
        this.pump();
      });
  }

  private finish(job: Job<I, O>, status: JobStatus, output?: O, error?: JobError): void {
    if (isFinal(job.status)) return;
    this.shutdownCancelled.delete(job.id);
    job.status = status;
    job.finishedAt = Date.now();
    if (output !== undefined) job.output = output;
    if (error) job.error = error;
    job.events.emit('status', status);
    this.record(job, 'done', {id: job.id, status});
    this.emit('finished', job);
    this.resolvers.get(job.id)?.();
    this.resolvers.delete(job.id);
    this.prune();
  }

  private prune(): void {
    const retainMs = this.opts.retainMs ?? 3_600_000;
    const retainMax = this.opts.retainMax ?? 1000;
    const now = Date.now();
    const finished = [...this.jobs.values()].filter((j) => isFinal(j.status));
    for (const j of finished) if (now - (j.finishedAt ?? now) > retainMs) this.jobs.delete(j.id);
    const left = finished.filter((j) => this.jobs.has(j.id));
    for (let i = 0; i < left.length - retainMax; i++) this.jobs.delete(left[i]!.id);
    const {retainBytes, outputBytes} = this.opts;
    if (retainBytes === undefined || !outputBytes) return;
    // Oldest first, the newest job always kept: a client polls for an output it was just told is ready.
    const kept = left.slice(Math.max(0, left.length - retainMax)).sort((a, b) => (a.finishedAt ?? 0) - (b.finishedAt ?? 0));
    let bytes = kept.reduce((n, j) => n + (j.output === undefined ? 0 : outputBytes(j.output)), 0);
    for (const j of kept.slice(0, -1)) {
      if (bytes <= retainBytes) break;
      bytes -= j.output === undefined ? 0 : outputBytes(j.output);
      this.jobs.delete(j.id);
    }
  }
}

/** JSON with object keys sorted, so equal inputs give equal strings. */
export function stableStringify(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return v;
  });
}
