// The worker client: spawns `python -u -m mgen_runtime.worker` and speaks docs/worker-protocol.md over
// JSON lines (requests with ids, one answer each, progress events, cancel), captures its stderr in a ring
// buffer, and makes sure the child never outlives us.
import {spawn, type ChildProcessWithoutNullStreams} from 'node:child_process';
import {delimiter} from 'node:path';
import {createInterface} from 'node:readline';
import {GenerationError, InterruptedError, RuntimeSetupError, type MgenError} from '../../errors.js';
import {pythonRuntimeDir} from '../paths.js';
import {oneLine, workerError, type WorkerErrorBody} from './errors.js';
import {StderrRing} from './stderr-ring.js';
import {workerEnv} from './worker-env.js';
import type {GenerateRequest, GenerateResult, HelloResult, LoadPlan, LoadResult, ProgressExtra, WorkerHandle} from './types.js';

export interface StartWorkerOptions {
  /** The interpreter (a provisioned venv's python, or $MGEN_PYTHON). */
  python: string;
  /** Extra environment for the worker (merged over process.env). */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Echo the worker's stderr to ours as it comes. */
  verbose?: boolean;
  /** How long to wait for the ready line (default 180 s, or $MGEN_WORKER_READY_TIMEOUT seconds). */
  readyTimeoutMs?: number;
  /** Put python-runtime/ on PYTHONPATH (default true; false when mgen_runtime is installed in the venv). */
  addRuntimeToPath?: boolean;
  /** Extra interpreter arguments before `-m` (benchmarks: `-X importtime`). */
  pythonArgs?: string[];
}

interface Pending {
  verb: string;
  resolve: (result: unknown) => void;
  reject: (err: Error) => void;
  onProgress?: (step: number, steps: number, extra?: ProgressExtra) => void;
}

const PROTOCOL = 1;

// One process 'exit' hook for all live workers: a worker never outlives the CLI or the server.
const live = new Set<{kill(): void}>();
let exitHookInstalled = false;
function track(w: {kill(): void}): void {
  live.add(w);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const x of live) x.kill();
    });
  }
}

export async function startWorker(opts: StartWorkerOptions): Promise<WorkerHandle> {
  // Threading defaults (passive OpenMP wait, one thread per usable core) unless the user set them: worker-env.ts.
  const env = workerEnv(process.env, opts.env);
  // The worker keeps the libraries' LOAD REPORT tables, bars and warnings to itself unless asked (mgen_runtime/quiet.py).
  if (opts.verbose) env.MGEN_WORKER_VERBOSE = '1';
  if (opts.addRuntimeToPath !== false) {
    const rt = pythonRuntimeDir();
    env.PYTHONPATH = env.PYTHONPATH ? `${rt}${delimiter}${env.PYTHONPATH}` : rt;
  }
  let child: ChildProcessWithoutNullStreams;
  try {
    child = spawn(opts.python, [...(opts.pythonArgs ?? []), '-u', '-m', 'mgen_runtime.worker'], {
      env,
      cwd: opts.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: false,
    });
  } catch (err) {
    throw new RuntimeSetupError(`cannot start the Python worker (${opts.python}): ${(err as Error).message}`, {
      hint: 'run `mgen runtime install` or set MGEN_PYTHON',
    });
  }
  const worker = new Worker(child, Boolean(opts.verbose), opts.python);
  const envTimeout = Number(process.env.MGEN_WORKER_READY_TIMEOUT);
  const readyMs = opts.readyTimeoutMs ?? (Number.isFinite(envTimeout) && envTimeout > 0 ? envTimeout * 1000 : 180_000);
  await worker.waitReady(readyMs);
  return worker;
}

class Worker implements WorkerHandle {
  readonly exited: Promise<{code: number | null; signal: NodeJS.Signals | null}>;
  private readonly ring = new StderrRing();
  private readonly pending = new Map<string, Pending>();
  private nextId = 1;
  private ready = false;
  private isAlive = true;
  private readyWaiter?: {resolve: () => void; reject: (e: Error) => void};
  private spawnError?: Error;
  /** kill() was called: a SIGKILL then is ours, not the system's. */
  private killedHere = false;

  constructor(private readonly child: ChildProcessWithoutNullStreams, private readonly verbose: boolean, private readonly python: string) {
    track(this);
    child.stdin.on('error', () => {}); // EPIPE when the worker died; the exit handler reports it
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      this.ring.push(chunk);
      if (this.verbose) process.stderr.write(chunk);
    });
    const lines = createInterface({input: child.stdout, crlfDelay: Infinity});
    lines.on('line', (line) => this.onLine(line));
    this.exited = new Promise((resolve) => {
      child.on('error', (err) => {
        this.spawnError = err;
        // 'exit' may not follow a spawn failure
        if (child.pid === undefined) this.onExit(null, null, resolve);
      });
      child.on('exit', (code, signal) => this.onExit(code, signal, resolve));
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return this.isAlive;
  }

  get killed(): boolean {
    return this.killedHere;
  }

  stderrTail(): string {
    return this.ring.tail();
  }

  waitReady(timeoutMs: number): Promise<void> {
    if (this.ready) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.readyWaiter = undefined;
        this.kill();
        reject(this.setupError(`the Python worker never came up (no ready line within ${Math.round(timeoutMs / 1000)} s)`));
      }, timeoutMs);
      this.readyWaiter = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    });
  }

  hello(): Promise<HelloResult> {
    return this.request('hello', {}) as Promise<HelloResult>;
  }

  load(plan: LoadPlan): Promise<LoadResult> {
    return this.request('load', {plan}) as Promise<LoadResult>;
  }

  upscale(params: {model: string; images: string[]; outputs: string[]; scale?: number; tile?: number}): ReturnType<WorkerHandle['upscale']> {
    return this.request('upscale', {params}) as ReturnType<WorkerHandle['upscale']>;
  }

  async schema(): Promise<Record<string, unknown>> {
    const r = (await this.request('schema', {})) as {schema?: Record<string, unknown>};
    return r.schema ?? (r as Record<string, unknown>);
  }

  generate(
    request: GenerateRequest,
    opts: {onProgress?: (step: number, steps: number, extra?: ProgressExtra) => void; signal?: AbortSignal; timeoutMs?: number} = {},
  ): Promise<GenerateResult> {
    if (opts.signal?.aborted) return Promise.reject(new InterruptedError('generation cancelled'));
    const id = this.newId();
    return new Promise<GenerateResult>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      let graceTimer: NodeJS.Timeout | undefined;
      const cleanup = () => {
        if (timer) clearTimeout(timer);
        if (graceTimer) clearTimeout(graceTimer);
        opts.signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = () => {
        if (!this.pending.has(id)) return;
        this.send({id: this.newId(), verb: 'cancel', target: id}, true);
        // The worker stops at the next denoising step; if it does not answer in time, stop it.
        graceTimer = setTimeout(() => {
          const p = this.pending.get(id);
          if (!p) return;
          this.pending.delete(id);
          this.kill();
          p.reject(new InterruptedError('generation cancelled (the worker did not stop in time and was killed)'));
        }, Number(process.env.MGEN_CANCEL_GRACE_MS) || 15_000);
      };
      this.pending.set(id, {
        verb: 'generate',
        onProgress: opts.onProgress,
        resolve: (r) => {
          cleanup();
          resolve(r as GenerateResult);
        },
        reject: (e) => {
          cleanup();
          reject(e);
        },
      });
      opts.signal?.addEventListener('abort', onAbort, {once: true});
      if (opts.timeoutMs && opts.timeoutMs > 0) {
        timer = setTimeout(() => {
          const p = this.pending.get(id);
          if (!p) return;
          this.pending.delete(id);
          this.kill();
          p.reject(
            new GenerationError(`generation timed out after ${Math.round(opts.timeoutMs! / 1000)} s; the worker was stopped`, {
              detail: this.ring.tail(),
            }),
          );
        }, opts.timeoutMs);
      }
      this.send({id, verb: 'generate', request});
    });
  }

  async unload(): Promise<void> {
    await this.request('unload', {});
  }

  /** Set once shutdown() was asked for: the exit that follows is deliberate, not a death (serve restarts only deaths). */
  shutdownRequested = false;

  async shutdown(graceMs = 5000): Promise<void> {
    this.shutdownRequested = true;
    if (!this.isAlive) return;
    const done = this.request('shutdown', {}).catch(() => undefined);
    const timer = setTimeout(() => this.kill(), graceMs);
    await Promise.race([done, this.exited]);
    await this.exited;
    clearTimeout(timer);
  }

  kill(): void {
    if (!this.isAlive) return;
    this.killedHere = true;
    try {
      this.child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }

  // -- internals ------------------------------------------------------------------------------------

  private newId(): string {
    return `r${this.nextId++}`;
  }

  private request(verb: string, params: Record<string, unknown>): Promise<unknown> {
    const id = this.newId();
    return new Promise((resolve, reject) => {
      this.pending.set(id, {verb, resolve, reject});
      this.send({id, verb, ...params});
    });
  }

  private send(msg: Record<string, unknown>, fireAndForget = false): void {
    if (!this.isAlive) {
      if (fireAndForget) return;
      const p = this.pending.get(String(msg.id));
      this.pending.delete(String(msg.id));
      p?.reject(this.deathError(String(msg.verb), null, null));
      return;
    }
    if (fireAndForget) this.pending.set(String(msg.id), {verb: String(msg.verb), resolve: () => {}, reject: () => {}});
    this.child.stdin.write(JSON.stringify(msg) + '\n');
  }

  private onLine(line: string): void {
    const text = line.trim();
    if (!text) return;
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // Not protocol: something printed to stdout behind the worker's back. Keep it with the stderr.
      this.ring.push(`[stdout] ${text}\n`);
      if (this.verbose) process.stderr.write(`[worker stdout] ${text}\n`);
      return;
    }
    if (msg.event === 'ready') {
      if (msg.protocol !== PROTOCOL) {
        this.kill();
        this.readyWaiter?.reject(
          this.setupError(`the Python worker speaks protocol ${String(msg.protocol)}, this mgen speaks ${PROTOCOL}`),
        );
        return;
      }
      this.ready = true;
      this.readyWaiter?.resolve();
      this.readyWaiter = undefined;
      return;
    }
    const id = typeof msg.id === 'string' ? msg.id : msg.id === undefined ? undefined : String(msg.id);
    if (id === undefined) return;
    const p = this.pending.get(id);
    if (!p) return;
    if (msg.event === 'progress') {
      p.onProgress?.(Number(msg.step), Number(msg.steps), {
        ...(typeof msg.image === 'number' ? {image: msg.image} : {}),
        ...(typeof msg.preview === 'string' ? {preview: msg.preview} : {}),
        ...(typeof msg.phase === 'string' ? {phase: msg.phase} : {}),
      });
      return;
    }
    if (msg.ok === undefined) return;
    this.pending.delete(id);
    if (msg.ok === true) p.resolve(msg.result ?? {});
    else p.reject(workerError((msg.error ?? {type: 'generation_failed', message: 'unknown error'}) as WorkerErrorBody, p.verb));
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null, resolve: (v: {code: number | null; signal: NodeJS.Signals | null}) => void): void {
    if (!this.isAlive) return;
    this.isAlive = false;
    live.delete(this);
    if (this.readyWaiter) {
      const how = this.spawnError ? this.spawnError.message : exitText(code, signal);
      this.readyWaiter.reject(this.setupError(`the Python worker never came up (${how})`));
      this.readyWaiter = undefined;
    }
    const pending = [...this.pending.entries()];
    this.pending.clear();
    for (const [, p] of pending) p.reject(this.deathError(p.verb, code, signal));
    resolve({code, signal});
  }

  private setupError(message: string): MgenError {
    const last = this.ring.lastMeaningful();
    return new RuntimeSetupError(last ? `${message}: ${oneLine(last)}` : message, {
      detail: this.ring.tail() || undefined,
      hint: this.spawnError ? `is ${this.python} a Python interpreter? run \`mgen runtime doctor\`` : 'run `mgen runtime doctor`',
    });
  }

  private deathError(verb: string, code: number | null, signal: NodeJS.Signals | null): MgenError {
    const last = this.ring.lastMeaningful();
    // A SIGKILL nobody here sent, with no Python error before it, is most often the kernel's out-of-memory killer.
    const why = signal === 'SIGKILL' && !this.killedHere && !last ? '; the system may have run out of memory' : '';
    const what = `the Python worker died during ${verb} (${exitText(code, signal)}${why})${last ? `: ${oneLine(last)}` : ''}`;
    const detail = this.ring.tail() || undefined;
    return verb === 'generate' ? new GenerationError(what, {detail}) : new RuntimeSetupError(what, {detail});
  }
}

function exitText(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal) return `killed by ${signal}`;
  if (code === null) return 'no exit status';
  return `exit code ${code}`;
}
