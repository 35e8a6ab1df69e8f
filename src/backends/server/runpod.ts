// RunPod's serverless API shapes, so that the official client (`runpod.Endpoint(id)`) works against `mgen serve`
// unmodified: /v2/{endpoint_id}/run|runsync|status/{id}|cancel/{id}|stream/{id}|health|purge-queue (any endpoint
// id) beside the short /run, /runsync, ... A request whose input does not validate is answered as RunPod answers a
// failed job (200, `status: FAILED` with `error`) and stays readable at /status/{id}; `webhook` gets the result.
import type {FastifyInstance, FastifyRequest} from 'fastify';
import type {ValidateFunction} from 'ajv';
import {HttpError} from './http-error.js';
import {isFinal, type Job, type JobQueue} from './queue.js';
import type {NativeRequest, NativeResponse} from './types.js';
import {describeError} from '../validation.js';
import {checkWebhookUrl} from './webhook.js';

/** What the routes queue: the native request plus what serve needs to run it (app.ts's QueuedInput). */
export interface RunpodInput {
  request: NativeRequest;
  webhook?: {url: string; dialect: 'runpod' | 'native'};
}

export interface RunpodDeps<I extends RunpodInput> {
  queue: JobQueue<I, NativeResponse>;
  /** The native request schema, compiled. */
  validate: ValidateFunction;
  /** Queues a validated request (the app's checks: images, request models, draining, queue size). */
  submit: (req: FastifyRequest, native: NativeRequest, id: string | undefined, webhook: string | undefined) => {job: Job<I, NativeResponse>; created: boolean};
  /** The input a job that failed validation is recorded with. */
  failedInput: (req: FastifyRequest, native: NativeRequest, webhook: string | undefined) => I;
  getJob: (id: string) => Job<I, NativeResponse>;
  /** How long /runsync waits before answering IN_PROGRESS (RunPod's behaviour), ms. */
  runsyncWaitMs: number;
}

const STATUS = {queued: 'IN_QUEUE', running: 'IN_PROGRESS', completed: 'COMPLETED', failed: 'FAILED', cancelled: 'CANCELLED'} as const;

/** A job as RunPod's /status answers it. */
export function runpodView<I>(job: Job<I, NativeResponse>): Record<string, unknown> {
  return {
    id: job.id,
    status: job.status === 'failed' && job.error?.type === 'timeout' ? 'TIMED_OUT' : STATUS[job.status],
    ...(job.startedAt ? {delayTime: job.startedAt - job.createdAt} : {}),
    ...(job.finishedAt && job.startedAt ? {executionTime: job.finishedAt - job.startedAt} : {}),
    ...(job.output ? {output: job.output} : {}),
    ...(job.error ? {error: job.error.message} : {}),
  };
}

interface Envelope {
  input?: unknown;
  id?: unknown;
  webhook?: unknown;
}

export function registerRunpodRoutes<I extends RunpodInput>(app: FastifyInstance, d: RunpodDeps<I>): void {
  const counts = {completed: 0, failed: 0};
  d.queue.on('finished', (job: Job<I, NativeResponse>) => {
    if (job.status === 'completed') counts.completed++;
    else if (job.status === 'failed') counts.failed++;
  });
  /** What /stream has handed out per job: the last event id. */
  const streamed = new WeakMap<Job<I, NativeResponse>, number>();

  /** Validates and queues; a request the server refuses for its content becomes a FAILED job (RunPod's way). */
  const accept = (req: FastifyRequest): Job<I, NativeResponse> => {
    const body = req.body as Envelope | undefined;
    if (!body || typeof body !== 'object' || Array.isArray(body) || body.input === undefined) throw new HttpError(400, 'invalid_request_error', 'input: required', 'input');
    if (body.id !== undefined && (typeof body.id !== 'string' || !/^[A-Za-z0-9_.:-]{1,128}$/.test(body.id))) {
      throw new HttpError(400, 'invalid_request_error', 'id: must be 1-128 letters, digits or _.:-', 'id');
    }
    const id = body.id as string | undefined;
    const webhook = body.webhook == null ? undefined : checkWebhookUrl(body.webhook);
    const input = body.input as NativeRequest;
    try {
      if (!d.validate(input)) {
        const e = d.validate.errors?.[0];
        throw new HttpError(400, 'invalid_request_error', e ? describeError(e).replace(/^\(body\)/, 'input') : 'input: invalid');
      }
      return d.submit(req, input, id, webhook).job;
    } catch (err) {
      if (!(err instanceof HttpError) || (err.status !== 400 && err.status !== 403)) throw err;
      return d.queue.recordFailed(d.failedInput(req, input, webhook), {status: err.status, type: err.type, message: err.message, ...(err.param ? {param: err.param} : {})}, id !== undefined && !d.queue.get(id) ? {id} : {});
    }
  };

  const routes = async (scope: FastifyInstance): Promise<void> => {
    // The SDK's cancel and purge-queue send `Content-Type: application/json` with no body at all.
    const json = scope.getDefaultJsonParser('error', 'error');
    scope.removeContentTypeParser('application/json');
    scope.addContentTypeParser('application/json', {parseAs: 'string'}, (req, body, done) => {
      if (String(body).trim() === '') return done(null, undefined);
      return json(req, body as string, done);
    });

    scope.post('/run', async (req) => {
      const {id, status, error} = runpodView(accept(req));
      return {id, status, ...(error ? {error} : {})};
    });
    scope.post('/runsync', async (req, reply) => {
      const job = accept(req);
      const onClose = (): void => {
        if (!reply.raw.writableEnded) d.queue.cancel(job.id, 'cancelled: the client disconnected');
      };
      reply.raw.once('close', onClose);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([job.done, new Promise((r) => (timer = setTimeout(r, d.runsyncWaitMs)))]);
      clearTimeout(timer);
      reply.raw.off('close', onClose);
      return runpodView(job);
    });
    const status = async (req: FastifyRequest<{Params: {id: string}}>) => runpodView(d.getJob(req.params.id));
    scope.get('/status/:id', status);
    scope.post('/status/:id', status);
    // Progress since the last read ({step, steps} each), then the output once, as RunPod's /stream hands out chunks.
    const stream = async (req: FastifyRequest<{Params: {id: string}}>) => {
      const job = d.getJob(req.params.id);
      const from = streamed.get(job) ?? 0;
      const chunks: Array<{output: unknown}> = [];
      for (const e of job.log) {
        if (e.id <= from) continue;
        if (e.event === 'progress') chunks.push({output: e.data});
        if (e.event === 'done' && job.output) chunks.push({output: job.output});
      }
      streamed.set(job, job.log.at(-1)?.id ?? from);
      const view = runpodView(job);
      return {id: job.id, status: view.status, stream: chunks, ...(view.error ? {error: view.error} : {})};
    };
    scope.get('/stream/:id', stream);
    scope.post('/stream/:id', stream);
    scope.post('/cancel/:id', async (req: FastifyRequest<{Params: {id: string}}>) => {
      const job = d.getJob(req.params.id);
      if (!isFinal(job.status)) {
        d.queue.cancel(job.id);
        await job.done;
      }
      return runpodView(job);
    });
    scope.post('/purge-queue', async () => ({removed: d.queue.purgeWaiting(), status: 'completed'}));
    scope.get('/health', async () => ({
      jobs: {completed: counts.completed, failed: counts.failed, inProgress: d.queue.active, inQueue: d.queue.depth, retried: 0},
      workers: {idle: d.queue.active ? 0 : 1, running: d.queue.active},
    }));
  };
  void app.register(routes);
  void app.register(routes, {prefix: '/v2/:endpointId'});
}
