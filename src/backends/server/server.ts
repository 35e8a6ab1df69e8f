// startServe: wraps a loaded worker in the engine and the fastify app, listens, writes the reuse state file,
// and gives back a `close` that drains accepted work, closes the socket, stops the worker and cleans up.
import {mkdtemp, rm} from 'node:fs/promises';
import {createServer as createNetServer} from 'node:net';
import {UsageError} from '../../errors.js';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import type {LoadPlan, LoadResult} from '../worker/types.js';
import {memorySummary} from '../memory-plan.js';
import type {RequestModelPolicy} from '../request-model-policy.js';
import type {BasicCredentials} from './auth.js';
import {buildApp, type ClientTimeouts, type ServeApp} from './app.js';
import type {ServeUpscaler} from './upscale-routes.js';
import {Engine} from './engine.js';
import {ServeMetrics} from './metrics.js';
import type {ServeSession} from './session-port.js';
import {cleanStaleStates, loadHash, planHash, removeState, writeState, type LoadKey} from './state.js';
import {DEFAULT_CAPS, type Caps} from './types.js';

export interface StartServeOptions {
  modelId: string;
  /** `--upscaler`: the upscaler file behind the upscale routes. */
  upscaler?: ServeUpscaler | null;
  /** The ModelReport, served at /v1/model. */
  report: unknown;
  /** The session opened for this model (worker started, model loaded). */
  session: ServeSession;
  /** Opens a fresh session after the worker died. */
  reopen: () => Promise<ServeSession>;
  host?: string;
  port?: number;
  token?: string | null;
  /** `--api-auth`: HTTP Basic user -> password, accepted beside the token. */
  apiAuth?: BasicCredentials | null;
  maxQueue?: number;
  /** Per-job limit in seconds (0: none). */
  timeoutS?: number;
  caps?: Partial<Caps>;
  bodyLimit?: number;
  /** $MGEN_HOME, where run/<key>.json goes; null: no state file. */
  home?: string | null;
  /** The load options the state file is keyed by (see state.ts); default: the model id alone. */
  loadKey?: LoadKey;
  log?: (line: string) => void;
  runsyncWaitMs?: number;
  /** What requests may name as models (default: hub ids, builtins and cached URLs only). */
  policy?: RequestModelPolicy;
  /** --public-url: the base of file URLs. */
  publicUrl?: string | null;
  /** --trust-proxy: file URLs follow the proxy's forwarding headers. */
  trustProxy?: boolean;
  clientTimeouts?: Partial<ClientTimeouts>;
  /** Where A1111 prompt tags' bare LoRA names are looked up (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Webhook delivery: delays between the (bounded) attempts, ms. */
  webhookRetryDelaysMs?: number[];
  /** The playground page at `/` (default on). */
  ui?: boolean;
}

/** The one-line message for a port another process holds. */
export function portInUseMessage(port: number): string {
  return `port ${port} is already in use (try --port 0 or another)`;
}

export interface RunningServe {
  url: string;
  port: number;
  serve: ServeApp;
  engine: Engine;
  metrics: ServeMetrics;
  stateFile: string | null;
  /** Stop taking work, finish accepted jobs (up to `graceMs`, then cancel them), close, stop the worker. */
  close(graceMs?: number): Promise<void>;
}

function bindError(err: unknown, host: string, port: number): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') return new UsageError(portInUseMessage(port));
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') return new UsageError(`cannot bind ${host}: no such local address`);
  if (code === 'EACCES') return new UsageError(`no permission to bind ${host}:${port}`, {hint: 'use a port above 1023'});
  return err as Error;
}

/**
 * Binds host:port once and lets it go: a busy port or a foreign address is reported before anything is loaded
 * (a model load takes minutes; finding out afterwards wastes them). Port 0 always binds.
 */
export async function checkBindable(host: string, port: number): Promise<void> {
  if (port === 0) return;
  const probe = createNetServer();
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen({host, port, exclusive: true}, () => resolve());
    });
  } catch (err) {
    throw bindError(err, host, port);
  }
  await new Promise<void>((resolve) => probe.close(() => resolve()));
}

/**
 * The process-level guard of `mgen serve`: a promise rejection nothing handled is logged (stderr) and the server
 * keeps serving; the request it belonged to fails on its own path. Returns the handler (tests call it).
 */
export function guardServeProcess(log: (line: string) => void): (reason: unknown) => void {
  const handler = (reason: unknown): void => {
    const msg = reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason);
    log(`internal error (unhandled rejection), the server keeps running: ${msg.split('\n')[0]}`);
  };
  process.on('unhandledRejection', handler);
  return handler;
}

export async function startServe(o: StartServeOptions): Promise<RunningServe> {
  const metrics = new ServeMetrics();
  const workDir = await mkdtemp(join(tmpdir(), 'mgen-serve-'));
  const engine = new Engine({session: o.session, reopen: o.reopen, workDir, metrics, log: o.log});
  const plan: LoadPlan = o.session.plan;
  try {
    await engine.init();
  } catch (err) {
    await engine.close();
    throw err;
  }
  const serve = buildApp({
    engine,
    metrics,
    caps: {...DEFAULT_CAPS, ...o.caps},
    token: o.token ?? null,
    apiAuth: o.apiAuth ?? null,
    maxQueue: o.maxQueue ?? 32,
    timeoutMs: (o.timeoutS ?? 600) * 1000,
    bodyLimit: o.bodyLimit ?? 32 * 1024 * 1024,
    modelId: o.modelId,
    // /v1/model: the report plus the memory plan the model was loaded with (memory-plan.ts).
    report: o.report && typeof o.report === 'object' ? {...o.report, memory_plan: memorySummary(plan, (o.session as {load?: LoadResult}).load)} : o.report,
    task: plan.task,
    runsyncWaitMs: o.runsyncWaitMs,
    policy: o.policy,
    ...(o.env ? {env: o.env} : {}),
    publicUrl: o.publicUrl,
    trustProxy: o.trustProxy,
    clientTimeouts: o.clientTimeouts,
    ...(o.log ? {log: o.log} : {}),
    ...(o.webhookRetryDelaysMs ? {webhookRetryDelaysMs: o.webhookRetryDelaysMs} : {}),
    ui: o.ui,
    upscaler: o.upscaler ?? null,
  });
  const host = o.host ?? '127.0.0.1';
  try {
    await serve.app.listen({host, port: o.port ?? 7860});
  } catch (err) {
    // Stops the worker as a shutdown (not a death to report and restart) and removes the work folder.
    await engine.close();
    await rm(workDir, {recursive: true, force: true});
    throw bindError(err, host, o.port ?? 7860);
  }
  const addr = serve.app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : (o.port ?? 7860);
  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : host;
  const url = `http://${urlHost}:${port}`;
  serve.setListenAddress(host, port);

  let stateFile: string | null = null;
  const onExit = (): void => {
    if (stateFile) removeState(stateFile);
  };
  if (o.home) {
    cleanStaleStates(o.home);
    const key = o.loadKey ?? {modelId: o.modelId};
    stateFile = writeState(o.home, key, {
      pid: process.pid,
      url,
      model_id: o.modelId,
      load_hash: loadHash(key),
      plan_hash: planHash(plan),
      auth: Boolean(o.token || o.apiAuth),
      started: new Date().toISOString(),
    });
    process.once('exit', onExit);
  }

  let closing: Promise<void> | null = null;
  const close = (graceMs = 600_000): Promise<void> => {
    closing ??= (async () => {
      // Gone from the reuse index first, so no new `generate` picks this server.
      onExit();
      engine.beginShutdown();
      process.off('exit', onExit);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), graceMs)));
      const r = await Promise.race([serve.drain().then(() => 'drained' as const), timedOut]);
      clearTimeout(timer);
      if (r === 'timeout') {
        serve.queue.cancelAll('cancelled: server shutdown');
        await serve.drain();
      }
      await serve.app.close();
      await engine.close();
    })();
    return closing;
  };
  return {url, port, serve, engine, metrics, stateFile, close};
}
