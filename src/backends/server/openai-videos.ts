// OpenAI's Videos API shapes (POST /v1/videos, GET /v1/videos, GET /v1/videos/{id}, GET /v1/videos/{id}/content,
// DELETE /v1/videos/{id}) on top of serve's job queue: a video is a job whose id is prefixed `video_`. The body is
// JSON or multipart/form-data (the official clients send multipart); `seconds` becomes the family's nearest valid
// frame count, `size` "WxH" the width and height, `input_reference` the first frame (image-to-video models).
import type {FastifyInstance, FastifyReply, FastifyRequest} from 'fastify';
import {HttpError} from './http-error.js';
import {boundaryOf, parseMultipart} from './openai-multipart.js';
import type {Job} from './queue.js';
import type {NativeRequest, NativeResponse} from './types.js';

type VideoJob = Job<{request: NativeRequest}, NativeResponse>;

export interface OpenAIVideosDeps {
  submit: (req: FastifyRequest, native: NativeRequest, id?: string) => {job: VideoJob; created: boolean};
  getJob: (id: string) => VideoJob;
  cancel: (id: string) => void;
  /** The MODEL_ID the server runs (the `model` field of every video object). */
  model: string;
}

const STATUS = {queued: 'queued', running: 'in_progress', completed: 'completed', failed: 'failed', cancelled: 'failed'} as const;
const PREFIX = 'video_';

interface VideoBody {
  prompt?: unknown;
  model?: unknown;
  seconds?: unknown;
  size?: unknown;
  input_reference?: unknown;
  [k: string]: unknown;
}

/** The video object OpenAI documents (id, object, model, status, progress, created_at, size, seconds, ...). */
export function videoObject(job: VideoJob, model: string): Record<string, unknown> {
  const r = job.input.request;
  const p = job.progress;
  const done = job.status === 'completed';
  const file = job.output?.images[0] as (Record<string, unknown> | undefined);
  const seconds = typeof file?.duration_s === 'number' ? file.duration_s : (r.seconds as number | undefined) ?? null;
  return {
    id: PREFIX + job.id,
    object: 'video',
    model,
    status: STATUS[job.status],
    progress: done ? 100 : p ? Math.min(99, Math.floor((100 * p.step) / Math.max(1, p.steps))) : 0,
    created_at: Math.floor(job.createdAt / 1000),
    completed_at: job.finishedAt && done ? Math.floor(job.finishedAt / 1000) : null,
    expires_at: null,
    size: r.width && r.height ? `${r.width}x${r.height}` : file?.width ? `${file.width}x${file.height}` : null,
    seconds: seconds === null ? null : String(seconds),
    quality: 'standard',
    remixed_from_video_id: null,
    error: job.error ? {code: job.error.type, message: job.error.message} : null,
  };
}

function jobId(id: string): string {
  if (!id.startsWith(PREFIX)) throw new HttpError(404, 'not_found', `no video ${id}`, 'id');
  return id.slice(PREFIX.length);
}

/** OpenAI's fields -> the native request (frames from `seconds` are chosen by the session, which knows the family). */
export function videoToNative(body: VideoBody): NativeRequest {
  if (typeof body.prompt !== 'string' || !body.prompt) throw new HttpError(400, 'invalid_request_error', 'prompt: required', 'prompt');
  const native: NativeRequest = {prompt: body.prompt, format: 'mp4'};
  if (body.seconds !== undefined) {
    const s = Number(body.seconds);
    if (!Number.isFinite(s) || s <= 0 || s > 60) throw new HttpError(400, 'invalid_request_error', `seconds: ${String(body.seconds)} must be a number of seconds between 0 and 60`, 'seconds');
    native.seconds = s;
  }
  if (body.size !== undefined) {
    const m = /^(\d{2,5})x(\d{2,5})$/.exec(String(body.size));
    if (!m) throw new HttpError(400, 'invalid_request_error', `size: ${String(body.size)} must be WIDTHxHEIGHT, e.g. 832x480`, 'size');
    native.width = Number(m[1]);
    native.height = Number(m[2]);
  }
  if (body.input_reference !== undefined && body.input_reference !== null) {
    const ref = body.input_reference;
    native.image = Buffer.isBuffer(ref) ? ref.toString('base64') : String(ref);
  }
  for (const k of ['seed', 'steps', 'fps', 'negative_prompt', 'guidance_scale'] as const) {
    if (body[k] === undefined) continue;
    (native as Record<string, unknown>)[k] = k === 'negative_prompt' ? String(body[k]) : Number(body[k]);
  }
  return native;
}

/** A multipart body (read whole by the app's one multipart parser) as fields: text as strings, files as Buffers. */
function formFields(body: Buffer, contentType: string | undefined): Record<string, string | Buffer> {
  const form = parseMultipart(body, boundaryOf(contentType));
  const out: Record<string, string | Buffer> = {...form.fields};
  for (const [name, files] of Object.entries(form.files)) if (files[0]) out[name] = files[0];
  return out;
}

export function registerOpenAIVideos(app: FastifyInstance, deps: OpenAIVideosDeps): void {
  // The videos made through this API, newest first, while the queue keeps their jobs.
  const made: string[] = [];
  const live = (): VideoJob[] => {
    const out: VideoJob[] = [];
    for (const id of [...made].reverse()) {
      try {
        out.push(deps.getJob(id));
      } catch {
        made.splice(made.indexOf(id), 1); // expired from the queue
      }
    }
    return out;
  };
  // Encapsulated: the lenient JSON parser applies to these routes only.
  void app.register(async (scope) => {
    // The OpenAI clients send `content-type: application/json` with no body on GET/DELETE: an empty body is {}.
    scope.removeContentTypeParser('application/json');
    scope.addContentTypeParser('application/json', {parseAs: 'string'}, (_req, body, done) => {
      try {
        done(null, body === '' ? {} : JSON.parse(body as string));
      } catch {
        done(new HttpError(400, 'invalid_request_error', 'the body is not valid JSON', '(body)'), undefined);
      }
    });

    scope.post<{Body: VideoBody}>('/v1/videos', async (req: FastifyRequest<{Body: VideoBody}>) => {
      const body = Buffer.isBuffer(req.body) ? (formFields(req.body, req.headers['content-type']) as VideoBody) : (req.body ?? {});
      const {job} = deps.submit(req, videoToNative(body));
      made.push(job.id);
      if (made.length > 1000) made.shift();
      return videoObject(job, String(body.model ?? deps.model));
    });
    scope.get('/v1/videos', async () => ({
      object: 'list',
      data: live().map((j) => videoObject(j, deps.model)),
      has_more: false,
    }));
    scope.get<{Params: {id: string}}>('/v1/videos/:id', async (req) => videoObject(deps.getJob(jobId(req.params.id)), deps.model));
    scope.delete<{Params: {id: string}}>('/v1/videos/:id', async (req) => {
      const job = deps.getJob(jobId(req.params.id));
      if (job.status === 'queued' || job.status === 'running') {
        deps.cancel(job.id);
        await job.done;
      }
      return {...videoObject(job, deps.model), deleted: true};
    });
    scope.get<{Params: {id: string}; Querystring: {variant?: string}}>('/v1/videos/:id/content', async (req, reply: FastifyReply) => {
      const job = deps.getJob(jobId(req.params.id));
      const variant = req.query.variant ?? 'video';
      if (variant !== 'video') throw new HttpError(400, 'invalid_request_error', `variant: ${variant} is not available (only video)`, 'variant');
      if (job.status !== 'completed') throw new HttpError(409, 'conflict', `video ${req.params.id} is ${STATUS[job.status]}, not completed`, 'id');
      const file = job.output?.images[0];
      if (!file?.b64_json) throw new HttpError(404, 'not_found', `video ${req.params.id} has no content any more`, 'id');
      return reply.type(String((file as {media_type?: string}).media_type ?? 'video/mp4')).send(Buffer.from(file.b64_json, 'base64'));
    });
  });
}
