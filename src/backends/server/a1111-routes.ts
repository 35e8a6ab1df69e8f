// Every /sdapi/v1 route on the app: txt2img / img2img (a1111.ts maps them to the native request), the read
// endpoints (a1111-read.ts) and the control ones (a1111-control.ts). Refusals on the read and control endpoints use
// A1111's error shape ({error, detail, body, errors}), which A1111 clients read.
import {A1111_HIRES_UPSCALERS} from '../hires.js';
import type {FastifyInstance, FastifyReply, FastifyRequest} from 'fastify';
import type {RequestModelPolicy} from '../request-model-policy.js';
import {A1111Options, A1111Progress, A1111Refusal, previewCount, type RunningJobs} from './a1111-control.js';
import {cmdFlags, embeddingList, loraList, memoryStats, namesLoadedModel, pngInfo, scriptList, sdModelItem, upscalerList, vaeList} from './a1111-read.js';
import {a1111RequestSchema, a1111ToNative, nativeToA1111, type A1111Context, type A1111Request} from './a1111.js';
import type {Engine} from './engine.js';
import {decodeInlineImage} from './input-images.js';
import {upscaleInline, upscalerName, type ServeUpscaler} from './upscale-routes.js';
import {samplerList, scheduleTypeList} from './samplers.js';
import type {Caps, NativeRequest, NativeResponse} from './types.js';

export interface A1111RouteOptions {
  engine: Engine;
  queue: RunningJobs;
  caps: Caps;
  modelId: string;
  task: 'text-to-image' | 'image-to-image' | 'inpaint';
  env: NodeJS.ProcessEnv;
  policy: RequestModelPolicy;
  /** Whether a bearer token / `--api-auth` credentials guard the server (cmd-flags says so, never what they are). */
  token: boolean;
  apiAuth: boolean;
  /** Runs a synchronous job (a client that goes away cancels it). */
  runSync: (req: FastifyRequest, reply: FastifyReply, native: NativeRequest, previews?: number) => Promise<NativeResponse>;
  /** `--upscaler`: the upscaler extra-single-image runs (null: those routes are a 501). */
  upscaler?: ServeUpscaler | null;
}

export function registerA1111Routes(app: FastifyInstance, o: A1111RouteOptions): void {
  const pipelineParams = (): Set<string> | null => {
    const props = (o.engine.pipelineSchema?.properties ?? null) as Record<string, unknown> | null;
    return props ? new Set(Object.keys(props)) : null;
  };
  const options = new A1111Options({clipSkip: () => pipelineParams()?.has('clip_skip') ?? false});
  const progress = new A1111Progress(o.queue);
  const model = async () => {
    const info = await o.engine.checkpointInfo();
    const item = sdModelItem(o.modelId, info);
    return {info, item, names: (name: string) => namesLoadedModel(name, item, info)};
  };
  const vaeName = (): string | null => vaeList(o.engine.plan)[0]?.model_name ?? null;
  /** Runs a handler; an A1111Refusal becomes A1111's error body with its status. */
  const a1111 = <R extends FastifyRequest>(handler: (req: R, reply: FastifyReply) => Promise<unknown>) => async (req: R, reply: FastifyReply) => {
    try {
      return await handler(req, reply);
    } catch (err) {
      if (err instanceof A1111Refusal) return reply.code(err.status).send(err.body());
      throw err;
    }
  };

  // -- generation ---------------------------------------------------------------------------------------
  const context = async (): Promise<A1111Context> => {
    const m = await model();
    return {caps: o.caps, pipelineParams: pipelineParams(), env: o.env, policy: o.policy, settings: options.settings, namesModel: m.names};
  };
  app.post<{Body: A1111Request}>('/sdapi/v1/txt2img', {schema: {body: a1111RequestSchema(o.caps, false)}}, async (req, reply) => {
    const mapped = a1111ToNative(req.body, false, await context());
    const previews = previewCount(options.settings, mapped.native.steps ?? 20);
    return nativeToA1111(await o.runSync(req, reply, mapped.native, previews), req.body, mapped);
  });
  // A text-to-image serve answers img2img too: the worker runs the loaded pipeline's image-to-image (or, with a mask,
  // inpainting) sibling on the same components (generate.py, from_pipe: no reload).
  app.post<{Body: A1111Request}>('/sdapi/v1/img2img', {schema: {body: a1111RequestSchema(o.caps, true)}}, async (req, reply) => {
    const mapped = a1111ToNative(req.body, true, await context());
    const previews = previewCount(options.settings, mapped.native.steps ?? 20);
    return nativeToA1111(await o.runSync(req, reply, mapped.native, previews), req.body, mapped);
  });

  // -- read ---------------------------------------------------------------------------------------------
  app.get('/sdapi/v1/samplers', async () => samplerList());
  app.get('/sdapi/v1/schedulers', async () => scheduleTypeList());
  app.get('/sdapi/v1/sd-models', async () => [(await model()).item]);
  app.get('/sdapi/v1/sd-vae', async () => vaeList(o.engine.plan));
  app.get('/sdapi/v1/loras', async () => loraList(o.engine.plan, o.env));
  app.get('/sdapi/v1/embeddings', async () => embeddingList(o.engine.plan));
  app.get('/sdapi/v1/upscalers', async () => upscalerList(o.upscaler ? {...o.upscaler, name: upscalerName(o.upscaler)} : null));
  app.get('/sdapi/v1/scripts', async () => scriptList());
  app.get('/sdapi/v1/cmd-flags', async (req) =>
    cmdFlags({host: req.socket.localAddress ?? '127.0.0.1', port: req.socket.localPort ?? 0, modelId: o.modelId, apiAuth: o.apiAuth, token: o.token, plan: o.engine.plan, modelDirs: []}),
  );
  // The hires fix's latent upscalers (enable_hr with hr_upscaler), as A1111 lists them.
  app.get('/sdapi/v1/latent-upscale-modes', async () => Object.keys(A1111_HIRES_UPSCALERS).filter((n) => n.startsWith('Latent')).map((name) => ({name})));
  // What this server has none of (no hypernetworks, face restorers, styles or extensions): empty lists, so front-ends
  // that probe them get A1111's shape rather than a 404; refreshes have nothing to re-read.
  for (const path of ['hypernetworks', 'face-restorers', 'realesrgan-models', 'prompt-styles', 'script-info', 'extensions']) {
    app.get(`/sdapi/v1/${path}`, async () => []);
  }
  for (const path of ['refresh-checkpoints', 'refresh-vae', 'refresh-loras']) {
    app.post(`/sdapi/v1/${path}`, async (_req, reply) => reply.type('application/json').send('null'));
  }
  app.get('/sdapi/v1/memory', async () => memoryStats(o.engine.hello));
  app.post<{Body: {image?: unknown}}>('/sdapi/v1/png-info', a1111(async (req) => {
    const image = typeof req.body?.image === 'string' ? req.body.image.trim() : '';
    if (!image) throw new A1111Refusal(422, 'image: a base64 PNG is required');
    let decoded;
    try {
      decoded = decodeInlineImage(image, 'image');
    } catch (err) {
      throw new A1111Refusal(400, `image: ${(err as Error).message.replace(/^image: /, '')}`);
    }
    try {
      return pngInfo(decoded.bytes, decoded.ext);
    } catch {
      throw new A1111Refusal(400, 'image: not a readable PNG');
    }
  }));
  const noUpscaler = 'upscaling (extras) needs an upscaler: start the server with `mgen serve MODEL --upscaler ID`';
  app.post<{Body: {image?: unknown; upscaler_1?: unknown; upscaling_resize?: unknown; resize_mode?: unknown}}>('/sdapi/v1/extra-single-image', a1111(async (req) => {
    const up = o.upscaler;
    if (!up) throw new A1111Refusal(501, noUpscaler);
    const b = req.body ?? {};
    const name = typeof b.upscaler_1 === 'string' ? b.upscaler_1 : upscalerName(up);
    if (name !== upscalerName(up) && name !== up.id) throw new A1111Refusal(404, `upscaler ${name} not found; this server has ${upscalerName(up)}`);
    if (b.resize_mode !== undefined && Number(b.resize_mode) !== 0) throw new A1111Refusal(422, 'resize_mode: only 0 (scale by upscaling_resize) is supported');
    const factor = b.upscaling_resize === undefined ? 2 : Number(b.upscaling_resize);
    if (!Number.isFinite(factor) || factor <= 0 || factor > 16) throw new A1111Refusal(422, 'upscaling_resize: a number in (0, 16]');
    try {
      const r = await upscaleInline(() => o.engine.worker, up, b.image, 'image', factor);
      return {html_info: '', image: r.png.toString('base64')};
    } catch (err) {
      if (err instanceof Error && 'status' in err && (err as {status: number}).status === 400) throw new A1111Refusal(422, err.message);
      throw err;
    }
  }));
  app.post('/sdapi/v1/extra-batch-images', a1111(async () => {
    throw new A1111Refusal(501, o.upscaler ? 'extra-batch-images is not supported; send each image to /sdapi/v1/extra-single-image' : noUpscaler);
  }));

  // -- control ------------------------------------------------------------------------------------------
  app.get('/sdapi/v1/options', async () => options.read((await model()).item, vaeName()));
  app.post('/sdapi/v1/options', a1111(async (req, reply) => {
    const m = await model();
    options.write(req.body, m.item, vaeName(), m.names);
    return reply.type('application/json').send('null');
  }));
  app.get<{Querystring: {skip_current_image?: string}}>('/sdapi/v1/progress', async (req) => progress.read(/^(true|1)$/i.test(req.query.skip_current_image ?? '')));
  app.post('/sdapi/v1/interrupt', async () => {
    progress.stop('interrupted');
    return {};
  });
  app.post('/sdapi/v1/skip', async (_req, reply) => {
    progress.stop('skipped');
    return reply.type('application/json').send('null');
  });
}
