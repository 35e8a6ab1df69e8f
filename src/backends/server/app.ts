// The fastify app: auth, validation, the native / OpenAI / A1111 / RunPod routes, jobs with SSE, health,
// metrics. Built from a ready Engine; `buildApp` opens no socket, so tests can also use app.inject().
import Fastify, {type FastifyInstance, type FastifyReply, type FastifyRequest} from 'fastify';
import type {ErrorObject} from 'ajv';
import {networkInterfaces} from 'node:os';
import {extname} from 'node:path';
import {MEDIA_TYPES} from '../media-output.js';
import {MgenError} from '../../errors.js';
import {ModelNotAllowedError, RequestModelPolicy} from '../request-model-policy.js';
import {withPromptLoraTags} from '../prompt-tags.js';
import {authChallenge, isLoopbackHost, requestAuthorized, type BasicCredentials} from './auth.js';
import {registerA1111Routes} from './a1111-routes.js';
import {registerUpscaleRoutes, type ServeUpscaler} from './upscale-routes.js';
import {classifyError, type Engine, type PreviewImage} from './engine.js';
import {HttpError, errorBody} from './http-error.js';
import {decodeInlineImage} from './input-images.js';
import type {ServeMetrics} from './metrics.js';
import {nativeRequestSchema} from './native.js';
import {forwardedOrigin} from './forwarded.js';
import {registerOpenAIRoutes} from './openai-routes.js';
import {registerPageApi} from './page-api.js';
import {isUiPath, loadUiFiles, registerUi} from './ui.js';
import {registerOpenAIVideos} from './openai-videos.js';
import {JobQueue, isFinal, type Job} from './queue.js';
import {streamJobEvents} from './job-stream.js';
import {registerRunpodRoutes, runpodView} from './runpod.js';
import {STREAM_URL_TTL_MS, signedUrlKind} from './url-token.js';
import {WebhookSender, checkWebhookUrl} from './webhook.js';
import type {Caps, NativeRequest, NativeResponse} from './types.js';
import {describeError, errorField, makeAjv} from '../validation.js';

export interface QueuedInput {
  request: NativeRequest;
  baseUrl: string;
  /** The request's loras[].name as the policy admitted them (a local path as its real path). */
  loraIds?: string[];
  /** Partial images per image, emitted as 'preview' events on the job (OpenAI streaming). */
  previews?: number;
  /** Where the job's result is POSTed when it ends, and in which shape. */
  webhook?: {url: string; dialect: 'runpod' | 'native'};
}

/** Limits on how long a client may take to send its request (slow or stalled clients lose the connection). */
export interface ClientTimeouts {
  /** Until the request head is complete (default 15 s). */
  headersMs: number;
  /** Until the whole request, body included, is received (default 120 s). */
  requestMs: number;
  /** How often connections are checked against those limits (default 1 s). */
  checkIntervalMs: number;
}

export const DEFAULT_CLIENT_TIMEOUTS: ClientTimeouts = {headersMs: 15_000, requestMs: 120_000, checkIntervalMs: 1000};

export interface AppOptions {
  engine: Engine;
  metrics: ServeMetrics;
  caps: Caps;
  token: string | null;
  /** A1111's `--api-auth` HTTP Basic credentials, accepted beside the token (which also works as a Basic password). */
  apiAuth?: BasicCredentials | null;
  maxQueue: number;
  timeoutMs: number;
  bodyLimit: number;
  modelId: string;
  report: unknown;
  task: 'text-to-image' | 'image-to-image' | 'inpaint';
  /** Bytes of finished jobs' images kept for GET /v1/jobs/:id and /status/:id (default 512 MiB). */
  retainBytes?: number;
  /** How long /runsync waits before answering IN_PROGRESS (RunPod's behaviour), ms. */
  runsyncWaitMs?: number;
  /** What requests may name as models (default: hub ids, builtins and cached URLs only). */
  policy?: RequestModelPolicy;
  /** The URL clients reach this server at (behind a proxy): file URLs start with it whatever the Host header says. */
  publicUrl?: string | null;
  /** --trust-proxy: file URLs follow the proxy's Forwarded / X-Forwarded-Proto / X-Forwarded-Host headers. */
  trustProxy?: boolean;
  clientTimeouts?: Partial<ClientTimeouts>;
  /** Where A1111 prompt tags' bare LoRA names are looked up (the cache; default process.env). */
  env?: NodeJS.ProcessEnv;
  /** `--upscaler`: the upscaler behind /v1/upscale and A1111's extra-single-image (null: none). */
  upscaler?: ServeUpscaler | null;
  /** Job event streams: keep-alive comment interval (default 15 s, or $MGEN_SSE_KEEPALIVE_MS) and `retry:` (3 s). */
  sse?: {keepAliveMs?: number; retryMs?: number};
  /** How long a job's signed event-stream URL (events_url) lasts (default 15 min). */
  urlTokenTtlMs?: number;
  /** Webhook delivery: delays between the (bounded) attempts. */
  webhookRetryDelaysMs?: number[];
  log?: (line: string) => void;
  /** The playground page at `/` (default on; `mgen serve --no-ui` turns it off). */
  ui?: boolean;
}

export interface ServeApp {
  app: FastifyInstance;
  queue: JobQueue<QueuedInput, NativeResponse>;
  /** Stop taking work (503), wait for accepted jobs. */
  drain(): Promise<void>;
  /** The address the server listens on (after listen): file URLs use it when the Host header is not one of its names. */
  setListenAddress(host: string, port: number): void;
  readonly draining: boolean;
}

type Req = FastifyRequest;
type Rep = FastifyReply;

export function buildApp(o: AppOptions): ServeApp {
  const ajv = makeAjv();
  const policy = o.policy ?? new RequestModelPolicy();
  const webhooks = new WebhookSender(policy, {...(o.webhookRetryDelaysMs ? {retryDelaysMs: o.webhookRetryDelaysMs} : {}), ...(o.log ? {log: o.log} : {})});
  const env = o.env ?? process.env;
  const sse = {keepAliveMs: o.sse?.keepAliveMs ?? (Number(env.MGEN_SSE_KEEPALIVE_MS) || 15_000), retryMs: o.sse?.retryMs ?? 3000};
  /** A path a client without headers can open: signed (short-lived) when the server wants credentials. */
  const signed = (path: string): string => (o.token || o.apiAuth ? o.engine.files.signer.signedPath(path, o.urlTokenTtlMs ?? STREAM_URL_TTL_MS) : path);
  const t = {...DEFAULT_CLIENT_TIMEOUTS, ...o.clientTimeouts};
  const app = Fastify({
    bodyLimit: o.bodyLimit,
    // A client that trickles its head or body is dropped (slowloris), loopback and tokenless included.
    requestTimeout: t.requestMs,
    http: {headersTimeout: Math.min(t.headersMs, t.requestMs), connectionsCheckingInterval: t.checkIntervalMs},
    logger: false,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    schemaErrorFormatter: (errors, dataVar) => {
      const e = errors[0] as ErrorObject | undefined;
      const err = new HttpError(400, 'invalid_request_error', e ? describeError(e) : `${dataVar}: invalid`, e ? errorField(e) : undefined);
      return err;
    },
  });
  app.setValidatorCompiler(({schema}) => ajv.compile(schema));

  let nativeSchema = nativeRequestSchema(o.engine.pipelineSchema, o.caps);
  try {
    ajv.compile(nativeSchema);
  } catch {
    // A pipeline schema Ajv cannot compile: keep our own fields; the worker still validates `params`.
    nativeSchema = nativeRequestSchema(null, o.caps);
  }

  const queue = new JobQueue<QueuedInput, NativeResponse>({
    maxQueue: o.maxQueue,
    timeoutMs: o.timeoutMs,
    classify: (err) => classifyError(err),
    // Finished async jobs keep their images for clients to fetch: bounded in bytes as well as in count and age.
    retainBytes: o.retainBytes ?? 512 << 20,
    outputBytes: (out) => out.images.reduce((n, im) => n + (im.b64_json?.length ?? 0), 0),
    run: (input, ctx, job) =>
      o.engine.run(input.request, {
        jobId: job.id, signal: ctx.signal, onProgress: ctx.onProgress, queuedAt: job.createdAt, baseUrl: input.baseUrl, loraIds: input.loraIds, policy,
        ...(input.previews ? {
          previews: input.previews,
          onPreview: (p: PreviewImage) => {
            job.events.emit('preview', p); // the OpenAI stream's partial images
            queue.preview(job, {...p}); // the job's SSE stream (GET /v1/jobs/:id/events)
          },
        } : {}),
      }),
  });
  queue.on('finished', (job: Job<QueuedInput, NativeResponse>) => {
    o.metrics.jobs.inc({status: job.status});
    const hook = job.input.webhook;
    if (hook) webhooks.send(hook.url, hook.dialect === 'runpod' ? runpodView(job) : jobView(job));
    if (job.startedAt) {
      o.metrics.queueWaitSeconds.observe((job.startedAt - job.createdAt) / 1000);
      o.metrics.jobSeconds.observe(((job.finishedAt ?? Date.now()) - job.startedAt) / 1000);
    }
  });
  let draining = false;
  o.metrics.gauges = () => ({
    queueDepth: queue.depth,
    running: queue.active,
    ready: o.engine.ready && !draining,
    gpuFree: o.engine.hello?.free_memory_bytes,
    gpuTotal: o.engine.hello?.total_memory_bytes,
  });

  const ui = o.ui ?? true;

  // -- hooks -------------------------------------------------------------------------------------------
  app.addHook('onRequest', async (req, reply) => {
    (req as Req & {t0: bigint}).t0 = process.hrtime.bigint();
    // The path alone decides (a query string must not turn the open health check into a closed one or back).
    const [path = '', query = ''] = req.url.split('?', 2);
    // A signed URL (a response_format "url" file; a job's event stream for EventSource) is its own credential until
    // it expires, for GET of that one path; a bad or stale one is refused. The bearer token never goes in a query.
    const kind = req.method === 'GET' || req.method === 'HEAD' ? signedUrlKind(path) : null;
    const signed = kind ? o.engine.files.checkSignature(path, new URLSearchParams(query)) : 'unsigned';
    if (signed === 'expired' || signed === 'invalid') {
      const what = kind === 'file' ? 'file URL' : 'stream URL';
      return reply.code(403).send(errorBody({message: signed === 'expired' ? `this ${what} has expired` : `this ${what}'s signature is not valid`, type: 'authentication_error'}));
    }
    const auth = {token: o.token, basic: o.apiAuth ?? null};
    if ((auth.token || auth.basic) && path !== '/healthz' && !(ui && isUiPath(path)) && signed !== 'valid' && !requestAuthorized(req.headers.authorization, auth)) {
      reply.header('WWW-Authenticate', authChallenge(auth));
      const message = auth.basic ? 'missing or wrong credentials (HTTP Basic --api-auth user, or the bearer token)' : 'missing or wrong bearer token';
      return reply.code(401).send(errorBody({message, type: 'authentication_error'}));
    }
  });
  app.addHook('onResponse', async (req, reply) => {
    const t0 = (req as Req & {t0?: bigint}).t0;
    const s = t0 ? Number(process.hrtime.bigint() - t0) / 1e9 : 0;
    o.metrics.observeRequest(req.routeOptions.url ?? 'unmatched', req.method, reply.statusCode, s);
  });
  app.setErrorHandler((err: Error & {statusCode?: number; code?: string; validation?: unknown}, _req, reply) => {
    if (err instanceof HttpError) {
      if (err.extra.retryAfter) reply.header('Retry-After', String(err.extra.retryAfter));
      return reply.code(err.status).send(errorBody(err));
    }
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    const type = status === 413 ? 'request_too_large' : status < 500 ? 'invalid_request_error' : 'server_error';
    return reply.code(status).send(errorBody({message: err.message.split('\n')[0] ?? 'error', type}));
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send(errorBody({message: `no route ${req.method} ${req.url.split('?')[0]}`, type: 'not_found'})));

  // -- helpers -----------------------------------------------------------------------------------------
  // File URLs: --public-url when given; else the Host header only when it is one of this server's own names
  // (a forged Host must not make the server hand out links to somewhere else); else the bound address.
  let listenUrl = '';
  const ownHosts = new Set<string>();
  const baseUrl = (req: Req): string => {
    if (o.publicUrl) return o.publicUrl.replace(/\/+$/, '');
    const proxied = o.trustProxy ? forwardedOrigin(req.headers) : null;
    if (proxied) return proxied;
    const host = String(req.headers.host ?? '').toLowerCase();
    return host && ownHosts.has(host) ? `http://${host}` : listenUrl;
  };
  const admitModels = (n: NativeRequest): string[] | undefined => {
    try {
      return n.loras?.map((l, i) => policy.check(l.name, `loras[${i}].name`));
    } catch (err) {
      if (err instanceof ModelNotAllowedError) throw new HttpError(403, 'model_not_allowed', err.message, err.field);
      if (err instanceof MgenError) throw new HttpError(400, 'invalid_request_error', err.message, err.field);
      throw err;
    }
  };
  // A1111 syntax (the default): <lora:name:w> tags in the prompts become request LoRAs, admitted like `loras`.
  const promptTagsToLoras = (n: NativeRequest): NativeRequest => {
    try {
      return withPromptLoraTags(n, {env: o.env ?? process.env, policy});
    } catch (err) {
      if (err instanceof ModelNotAllowedError) throw new HttpError(403, 'model_not_allowed', err.message, err.field);
      if (err instanceof MgenError) throw new HttpError(400, 'invalid_request_error', err.message, err.field);
      throw err;
    }
  };
  const checkImages = (n: NativeRequest): void => {
    for (const f of ['image', 'mask', 'control_image'] as const) if (n[f] != null) decodeInlineImage(n[f], f);
  };
  const submit = (req: Req, native: NativeRequest, id?: string, previews?: number, webhook?: QueuedInput['webhook']): {job: Job<QueuedInput, NativeResponse>; created: boolean} => {
    if (draining) throw new HttpError(503, 'shutting_down', 'the server is shutting down and takes no new work');
    checkImages(native);
    native = promptTagsToLoras(native);
    const loraIds = admitModels(native);
    return queue.submit({request: native, baseUrl: baseUrl(req), ...(loraIds ? {loraIds} : {}), ...(previews ? {previews} : {}), ...(webhook ? {webhook} : {})}, {id});
  };
  /** Runs a job for a synchronous request; a client that goes away cancels it. */
  const runSync = async (req: Req, reply: Rep, native: NativeRequest, previews?: number): Promise<NativeResponse> => {
    const {job} = submit(req, native, undefined, previews);
    const onClose = (): void => {
      if (!reply.raw.writableEnded) queue.cancel(job.id, 'cancelled: the client disconnected');
    };
    reply.raw.once('close', onClose);
    await job.done;
    reply.raw.off('close', onClose);
    // The answer goes out now and the client never saw the job's id: nothing else can read the job.
    queue.forget(job.id);
    if (job.status === 'completed') return job.output!;
    const e = job.error ?? {status: 500, type: 'server_error', message: 'job failed'};
    throw new HttpError(e.status, e.type, e.message, e.param);
  };
  function jobView(job: Job<QueuedInput, NativeResponse>): Record<string, unknown> {
    return {
      id: job.id,
      status: job.status,
      created_at: job.createdAt / 1000,
      started_at: job.startedAt ? job.startedAt / 1000 : null,
      finished_at: job.finishedAt ? job.finishedAt / 1000 : null,
      position: queue.position(job.id),
      progress: job.progress,
      // For an EventSource (no headers): under a bearer token it carries a short-lived token for this stream only.
      events_url: `${job.input.baseUrl}${signed(`/v1/jobs/${encodeURIComponent(job.id)}/events`)}`,
      ...(job.output ? {output: job.output} : {}),
      ...(job.error ? {error: job.error} : {}),
    };
  }
  const getJob = (id: string): Job<QueuedInput, NativeResponse> => {
    const job = queue.get(id);
    if (!job) throw new HttpError(404, 'not_found', `no job ${id}`, 'id');
    return job;
  };

  // -- health, model, schema, metrics, files ---------------------------------------------------------
  app.get('/healthz', async () => ({ok: true}));
  app.get('/readyz', async (_req, reply) => {
    const ready = o.engine.ready && !draining;
    return reply.code(ready ? 200 : 503).send({ready, draining, model: o.modelId, queue_depth: queue.depth});
  });
  app.get('/v1/model', async () => o.report ?? {id: o.modelId});
  app.get('/v1/schema', async () => nativeSchema);
  app.get('/metrics', async (_req, reply) => reply.type('text/plain; version=0.0.4; charset=utf-8').send(o.metrics.render()));
  app.get<{Params: {name: string}}>('/v1/files/:name', async (req, reply) => {
    const bytes = await o.engine.files.read(req.params.name);
    if (!bytes) throw new HttpError(404, 'not_found', `no file ${req.params.name}`, 'name');
    return reply.type(MEDIA_TYPES[extname(req.params.name).slice(1).toLowerCase()] ?? 'application/octet-stream').send(bytes);
  });

  // -- playground page (issue 15) and the two routes it reads ------------------------------------------
  registerPageApi(app, {modelId: o.modelId, env: o.env ?? process.env, modelDirs: policy.modelDirs, engine: o.engine});
  if (ui) registerUi(app, loadUiFiles());

  // -- native ----------------------------------------------------------------------------------------
  app.post<{Body: NativeRequest}>('/v1/generate', {schema: {body: nativeSchema}}, async (req, reply) => runSync(req, reply, req.body));

  // multipart/form-data bodies (the OpenAI SDKs' edits, variations and videos) are read whole; each route parses them
  // with openai-multipart.ts.
  app.addContentTypeParser('multipart/form-data', {parseAs: 'buffer'}, (_req, body, done) => done(null, body));

  // -- OpenAI Videos (openai-videos.ts) ----------------------------------------------------------------
  registerOpenAIVideos(app, {submit, getJob, cancel: (id) => queue.cancel(id), model: o.modelId});

  // -- OpenAI Images and models ---------------------------------------------------------------------------
  registerOpenAIRoutes(app, {
    caps: o.caps, modelId: o.modelId, report: o.report, runSync, submit: (req, native, previews) => submit(req, native, undefined, previews),
    cancel: (id, reason) => queue.cancel(id, reason), forget: (id) => queue.forget(id),
  });

  // -- AUTOMATIC1111 -----------------------------------------------------------------------------------
  registerA1111Routes(app, {
    engine: o.engine, queue, caps: o.caps, modelId: o.modelId, task: o.task, env: o.env ?? process.env, policy,
    token: Boolean(o.token), apiAuth: Boolean(o.apiAuth), runSync, upscaler: o.upscaler ?? null,
  });
  registerUpscaleRoutes(app, {worker: () => o.engine.worker, upscaler: o.upscaler ?? null});

  // -- jobs ----------------------------------------------------------------------------------------------
  const jobBody = {
    type: 'object',
    required: ['input'],
    additionalProperties: false,
    properties: {
      id: {type: 'string', pattern: '^[A-Za-z0-9_.:-]{1,128}$'}, input: nativeSchema, webhook: {type: 'string'},
      // Partial images while denoising (0-8 per image), sent as `preview` events on the job's stream.
      previews: {type: 'integer', minimum: 0, maximum: 8},
    },
  };
  app.post<{Body: {id?: string; input: NativeRequest; webhook?: string; previews?: number}}>('/v1/jobs', {schema: {body: jobBody}}, async (req, reply) => {
    const webhook = req.body.webhook ? {url: checkWebhookUrl(req.body.webhook), dialect: 'native' as const} : undefined;
    const {job, created} = submit(req, req.body.input, req.body.id, req.body.previews || undefined, webhook);
    return reply.code(created ? 202 : 200).send(jobView(job));
  });
  app.get<{Params: {id: string}}>('/v1/jobs/:id', async (req) => jobView(getJob(req.params.id)));
  app.delete<{Params: {id: string}}>('/v1/jobs/:id', async (req, reply) => {
    const job = getJob(req.params.id);
    if (isFinal(job.status)) throw new HttpError(409, 'conflict', `job ${job.id} already ${job.status}`, 'id');
    queue.cancel(job.id);
    await job.done;
    return reply.send(jobView(job));
  });
  app.get<{Params: {id: string}}>('/v1/jobs/:id/events', async (req, reply) => {
    const job = getJob(req.params.id);
    reply.hijack();
    await streamJobEvents(job, req.raw, reply.raw, {...sse, view: () => jobView(job)});
  });

  // -- RunPod (/run, /runsync, ... and /v2/{endpoint_id}/...) ------------------------------------------
  const validateNative = ajv.compile(nativeSchema);
  registerRunpodRoutes<QueuedInput>(app, {
    queue,
    validate: validateNative,
    submit: (req, native, id, url) => submit(req, native, id, undefined, url ? {url, dialect: 'runpod'} : undefined),
    failedInput: (req, native, url) => ({request: native, baseUrl: baseUrl(req), ...(url ? {webhook: {url, dialect: 'runpod' as const}} : {})}),
    getJob,
    runsyncWaitMs: o.runsyncWaitMs ?? 90_000,
  });

  return {
    app,
    queue,
    get draining() {
      return draining;
    },
    async drain() {
      draining = true;
      await queue.drain();
      await webhooks.settle();
    },
    setListenAddress(host: string, port: number) {
      const h = host.toLowerCase();
      const wildcard = h === '0.0.0.0' || h === '::' || h === '';
      webhooks.loopbackOnly = !wildcard && isLoopbackHost(h);
      const names = new Set<string>([h.includes(':') ? `[${h}]` : h]);
      if (wildcard || isLoopbackHost(h)) for (const n of ['localhost', '127.0.0.1', '[::1]']) names.add(n);
      if (wildcard) {
        for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) names.add(a.family === 'IPv6' ? `[${a.address.toLowerCase()}]` : a.address);
      }
      ownHosts.clear();
      for (const n of names) {
        ownHosts.add(`${n}:${port}`);
        if (port === 80) ownHosts.add(n);
      }
      const shown = h === '0.0.0.0' ? '127.0.0.1' : h === '::' ? '[::1]' : h.includes(':') ? `[${h}]` : h;
      listenUrl = `http://${shown}:${port}`;
    },
  };
}
