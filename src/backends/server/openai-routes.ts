// The OpenAI routes: POST /v1/images/generations (JSON; `stream` answers with SSE events), /v1/images/edits and
// /v1/images/variations (multipart, as the SDKs send them), GET /v1/models and /v1/models/{id}. Each request is
// translated into the native request and goes through the shared validator (validation.ts) and the server's queue.
import type {FastifyInstance, FastifyReply, FastifyRequest} from 'fastify';
import {MgenError} from '../../errors.js';
import {describeError, errorField, makeAjv, validateRequest} from '../validation.js';
import type {Family} from '../../detect/types.js';
import {HttpError} from './http-error.js';
import {decodeInlineImage} from './input-images.js';
import {
  checkOpenAIRequest, completedEvents, nativeToOpenAI, partialEvent, openAIRequestSchema, openAIToNative, OPENAI_FIELD,
  type OpenAIChoices, type OpenAIImagesRequest, type OpenAIRoute,
} from './openai.js';
import {hasTransparentPixel, inpaintMaskPng, pngSize, readPngAlpha} from './openai-mask.js';
import {boundaryOf, coerceFields, parseMultipart} from './openai-multipart.js';
import type {PreviewImage} from './engine.js';
import type {Job} from './queue.js';
import type {Caps, NativeRequest, NativeResponse} from './types.js';

export interface OpenAIRouteContext {
  caps: Caps;
  modelId: string;
  /** The served ModelReport (family and default steps are read from it). */
  report: unknown;
  runSync(req: FastifyRequest, reply: FastifyReply, native: NativeRequest): Promise<NativeResponse>;
  /** Queues a job; `previews` partial images per image come as 'preview' events on job.events. */
  submit(req: FastifyRequest, native: NativeRequest, previews?: number): {job: Job<unknown, NativeResponse>};
  cancel(jobId: string, reason: string): void;
  forget(jobId: string): void;
}

type Size = {width: number; height: number};

export function registerOpenAIRoutes(app: FastifyInstance, c: OpenAIRouteContext): void {
  const report = (c.report ?? {}) as {family?: Family; defaults?: {steps?: number}};
  const started = Math.floor(Date.now() / 1000);
  const ajv = makeAjv();
  const schemas = {
    generations: openAIRequestSchema(c.caps, 'generations'),
    edits: openAIRequestSchema(c.caps, 'edits'),
    variations: openAIRequestSchema(c.caps, 'variations'),
  };
  const validators = {edits: ajv.compile(schemas.edits), variations: ajv.compile(schemas.variations)};

  /** The shared request checks (validation.ts), with OpenAI's field names in the answer. */
  const validate = (n: NativeRequest): void => {
    try {
      validateRequest(
        {width: n.width, height: n.height, steps: n.steps, guidance: n.guidance_scale, numImages: n.num_images, strength: n.strength, seed: n.seed},
        {family: report.family ?? null, limits: c.caps, name: (f) => (f === 'width' || f === 'height' ? `size: ${f}` : `${OPENAI_FIELD[f] ?? f}:`)},
      );
    } catch (err) {
      if (err instanceof MgenError && err.field) throw new HttpError(400, 'invalid_request_error', err.message, OPENAI_FIELD[err.field] ?? err.field);
      throw err;
    }
  };

  const answer = async (
    req: FastifyRequest, reply: FastifyReply, body: OpenAIImagesRequest, route: OpenAIRoute,
    inputs: {image?: Buffer; mask?: Buffer} = {},
  ): Promise<unknown> => {
    const choices = checkOpenAIRequest(body, c.modelId, route);
    const {native, inputSizes} = toNative(body, choices, route, inputs);
    validate(native);
    const prompt = native.prompt;
    if (choices.stream) return stream(req, reply, native, {choices, prompt, inputs: inputSizes, prefix: route === 'generations' ? 'image_generation' : 'image_edit'});
    const out = await c.runSync(req, reply, native);
    return nativeToOpenAI(out, {created: Math.floor(Date.now() / 1000), prompt, choices, inputs: inputSizes});
  };

  const toNative = (body: OpenAIImagesRequest, choices: OpenAIChoices, route: OpenAIRoute, inputs: {image?: Buffer; mask?: Buffer}): {native: NativeRequest; inputSizes: Size[]} => {
    const base = {defaultSteps: report.defaults?.steps, caps: c.caps};
    if (route === 'generations') return {native: openAIToNative(body, choices, base), inputSizes: []};
    const image = inputs.image!;
    decodeInlineImage(image.toString('base64'), 'image');
    const size = pngSize(image);
    let mask: Buffer | undefined;
    if (inputs.mask) {
      const alpha = readPngAlpha(inputs.mask, 'mask');
      if (!alpha.alpha) throw bad('mask', 'has no alpha channel: an OpenAI mask marks what to edit with fully transparent pixels');
      if (!hasTransparentPixel(alpha)) throw bad('mask', 'has no fully transparent pixel, so it marks nothing to edit');
      if (size && (size.width !== alpha.width || size.height !== alpha.height)) throw bad('mask', `is ${alpha.width}x${alpha.height}; it must be the size of image (${size.width}x${size.height})`);
      mask = inpaintMaskPng(alpha);
    } else if (route === 'edits' && choices.emulated === 'dall-e-2') {
      // dall-e-2 edits without a mask: the image's own transparent areas are the mask.
      const alpha = readPngAlpha(image, 'image');
      if (!hasTransparentPixel(alpha)) throw bad('image', 'dall-e-2 edits without a mask need an image with transparent areas (what to edit)');
      mask = inpaintMaskPng(alpha);
    }
    const native = openAIToNative(body, choices, {...base, image: image.toString('base64'), ...(mask ? {mask: mask.toString('base64')} : {})});
    // size auto: the input's own size (on the family's grid the shared validator checks).
    if (native.width === undefined && size) Object.assign(native, {width: size.width, height: size.height});
    return {native, inputSizes: size ? [size] : []};
  };

  /** SSE in OpenAI's event shapes: `<prefix>.completed` per image, or one `error` event. */
  const stream = async (
    req: FastifyRequest, reply: FastifyReply, native: NativeRequest,
    o: {choices: OpenAIChoices; prompt: string; inputs: Size[]; prefix: 'image_generation' | 'image_edit'},
  ): Promise<void> => {
    const {job} = c.submit(req, {...native, response_format: 'b64_json'}, o.choices.partialImages);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive'});
    const send = (ev: {type: string}): void => {
      if (!res.writableEnded && !res.destroyed) res.write(`event: ${ev.type}\ndata: ${JSON.stringify(ev)}\n\n`);
    };
    const sent = new Map<number, number>();
    const onPreview = (p: PreviewImage): void => {
      const index = sent.get(p.image) ?? 0;
      sent.set(p.image, index + 1);
      send(partialEvent(p, index, {...o, createdAt: Math.floor(Date.now() / 1000)}));
    };
    const onClose = (): void => {
      if (!res.writableEnded) c.cancel(job.id, 'cancelled: the client disconnected');
    };
    job.events.on('preview', onPreview);
    res.once('close', onClose);
    await job.done;
    job.events.off('preview', onPreview);
    res.off('close', onClose);
    c.forget(job.id);
    if (res.writableEnded || res.destroyed) return;
    if (job.status === 'completed' && job.output) {
      for (const ev of completedEvents(job.output, {...o, createdAt: Math.floor(Date.now() / 1000)})) send(ev as {type: string});
    } else {
      const e = job.error ?? {status: 500, type: 'server_error', message: 'job failed'};
      send({type: 'error', error: {message: e.message, type: e.type, param: e.param ?? null, code: null}} as {type: string});
    }
    res.end();
  };

  /** A multipart body checked against the route's schema; its files apart. */
  const form = (req: FastifyRequest, route: 'edits' | 'variations'): {body: OpenAIImagesRequest; image: Buffer; mask?: Buffer} => {
    if (!Buffer.isBuffer(req.body)) throw new HttpError(400, 'invalid_request_error', `/v1/images/${route} takes multipart/form-data (image file${route === 'edits' ? ', optional mask file' : ''} and fields)`);
    const parts = parseMultipart(req.body, boundaryOf(req.headers['content-type']));
    const body = coerceFields(parts.fields, schemas[route] as {properties: Record<string, {type?: string | string[]}>}) as OpenAIImagesRequest;
    const check = validators[route];
    if (!check(body)) {
      const e = check.errors![0]!;
      throw new HttpError(400, 'invalid_request_error', describeError(e), errorField(e));
    }
    for (const name of Object.keys(parts.files)) if (name !== 'image' && !(route === 'edits' && name === 'mask')) throw bad(name, 'unknown file field');
    const images = parts.files.image ?? [];
    if (images.length === 0) throw bad('image', 'required (a file)');
    if (images.length > 1) throw bad('image', `this server edits one image per request (got ${images.length})`);
    if ((parts.files.mask?.length ?? 0) > 1) throw bad('mask', 'one mask file');
    return {body, image: images[0]!, ...(parts.files.mask ? {mask: parts.files.mask[0]} : {})};
  };

  app.post<{Body: OpenAIImagesRequest}>('/v1/images/generations', {schema: {body: schemas.generations}}, async (req, reply) => answer(req, reply, req.body, 'generations'));
  app.post('/v1/images/edits', async (req, reply) => {
    const f = form(req, 'edits');
    return answer(req, reply, f.body, 'edits', {image: f.image, ...(f.mask ? {mask: f.mask} : {})});
  });
  app.post('/v1/images/variations', async (req, reply) => {
    const f = form(req, 'variations');
    return answer(req, reply, f.body, 'variations', {image: f.image});
  });

  const modelObject = {id: c.modelId, object: 'model', created: started, owned_by: 'mgen'};
  app.get('/v1/models', async () => ({object: 'list', data: [modelObject]}));
  // Any path after /v1/models/: ids have slashes (org/name) and colons (builtin:x), encoded or not.
  app.get<{Params: {'*': string}}>('/v1/models/*', async (req) => {
    let id = req.params['*'];
    try {
      id = decodeURIComponent(id);
    } catch {
      /* keep it as sent */
    }
    if (id !== c.modelId) throw new HttpError(404, 'invalid_request_error', `The model '${id}' does not exist (this server serves ${c.modelId})`, 'model');
    return modelObject;
  });
}

const bad = (field: string, message: string): HttpError => new HttpError(400, 'invalid_request_error', `${field}: ${message}`, field);
