// openSession: MODEL_ID (+ adapters) -> reports -> load plan -> a worker with the model loaded, ready to
// generate. Used by `mgen generate` (one request, then close) and `mgen serve` (kept warm).
import {randomInt} from 'node:crypto';
import {existsSync, readFileSync, statSync} from 'node:fs';
import {readPngInfo} from './png-metadata.js';
import {basename, join} from 'node:path';
import {GenerationError, InterruptedError, UsageError} from '../errors.js';
import {buildA1111Parameters, loraTagName} from './a1111-parameters.js';
import {loraShortHash, sha256File} from './file-hash.js';
import {modelSlug, resolveOutputPaths, writeImagesAtomically} from './output-paths.js';
import {memorySummary} from './memory-plan.js';
import {buildLoadPlan, checkBaseFamily, checkComplete, checkFirstFrame, checkGeneratable, type ModelRef, type PlanAesthetic, type PlanFlags} from './plan.js';
import {RequestLoraResolver, type RequestLora, type ResolvedLora} from './request-loras.js';
import {isBuiltinId} from './builtin.js';
import {resolveModelForLoad, type ResolvedModel, type ResolveOptions} from './resolve-model.js';
import {ensureRuntime, type RuntimeLocation} from './runtime/resolve.js';
import {startWorker} from './worker/start-worker.js';
import {compileCacheEnv} from './worker/worker-env.js';
import {mgenHome} from './paths.js';
import {A1111_FAMILIES, validateRequest} from './validation.js';
import {findPromptEmbeddings} from './prompt-tags.js';
import type {HiresRequest} from './hires.js';
import {prefetchTargets, prefetchWeights, type PrefetchResult} from './weights-prefetch.js';
import {FAMILIES} from '../detect/families.js';
import {AESTHETIC_CLIPS} from '../detect/rules/aesthetic.js';
import {ipAdapterPaths, type IpAdapterSpec} from './ip-adapter.js';
import type {Family, ModelReport} from '../detect/types.js';
import type {GenerateRequest, HelloResult, ImageFormat, LoadPlan, LoadResult, ProgressExtra, WorkerHandle, WorkerOutputFile} from './worker/types.js';
import {formatExtension, framesForSeconds, mediaKind, outputFormat} from './media-output.js';

/** The plan flags a caller sets; the session adds the worker's hello and collects the notes. */
type CallerPlanFlags = Pick<PlanFlags, 'task' | 'image' | 'mask' | 'dtype' | 'offload' | 'memory' | 'quantize' | 'device' | 'allowPickle' | 'trustRemoteCode' | 'compile' | 'video'>;

/** Aesthetic-gradient settings (`--aesthetic` and friends; the A1111 extension's defaults). */
export interface AestheticSpec {
  id: string;
  weight: number;
  steps: number;
  lr: number;
  slerp: boolean;
  /** The CLIP model (with projection) to tune; null: the one the builtin ships, else the family's. */
  clip: string | null;
}

export interface SessionOptions extends CallerPlanFlags {
  modelId: string;
  base?: string | null;
  loras?: Array<{id: string; scale: number}>;
  embeddings?: Array<{id: string; token?: string}>;
  controlnet?: string | null;
  vae?: string | null;
  /** A1111 hypernetworks (`--hypernetwork ID[:strength]`, `<hypernet:name:strength>`). */
  hypernetworks?: Array<{id: string; scale: number}>;
  aesthetic?: AestheticSpec | null;
  /** `--ip-adapter` with its reference image and scale. */
  ipAdapter?: IpAdapterSpec | null;
  /** `--t2i-adapter ID[:scale]`: each request brings its control image. */
  t2iAdapter?: {id: string; scale: number} | null;
  verbose?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Skip provisioning: use this interpreter. */
  python?: string;
  /** Spinner text for long steps (provisioning, building a builtin model, starting, loading). */
  onStage?: (text: string) => void;
  /** Decisions the user should hear about (automatic offload, ...), one line each. */
  onNote?: (text: string) => void;
  /** Overrides MODEL_ID resolution (tests). */
  resolve?: (id: string, opts: ResolveOptions) => Promise<ResolvedModel>;
  /** Aborting stops the worker and rejects with InterruptedError (Ctrl-C while loading). */
  signal?: AbortSignal;
  /** Use the caches only (`--offline`; also HF_HUB_OFFLINE=1): nothing is fetched, by us or by the worker. */
  offline?: boolean;
  /**
   * Checks the request against the model's family once the MODEL_ID has resolved, before the model loads (the CLI's
   * request validation for models whose family was not known up front). Throwing stops the open.
   */
  validate?: (family: Family, checkpoint: ModelReport) => void;
  /** Decide the plan but do not load it: `load` is what the plan says, the worker holds no model. */
  planOnly?: boolean;
}

export interface GenerateInput {
  prompt: string;
  negativePrompt?: string | null;
  width?: number;
  height?: number;
  steps?: number;
  guidance?: number;
  seed?: number;
  numImages?: number;
  scheduler?: string | null;
  /** Config overrides on `scheduler` (A1111 samplers / schedule types: use_karras_sigmas, algorithm_type, ...). */
  schedulerConfig?: Record<string, string | number | boolean> | null;
  image?: string | null;
  mask?: string | null;
  strength?: number | null;
  controlImage?: string | null;
  params?: Record<string, unknown>;
  /** LoRAs for this request only, on top of the loaded ones (MODEL_IDs, resolved like --lora). */
  loras?: RequestLora[];
  /** a1111 | plain; null: a1111 for families with CLIP-only text encoders (sd1, sd2, sdxl), else plain. */
  promptSyntax?: 'a1111' | 'plain' | null;
  /** Output file pattern with {seed} {n} {model} {timestamp}; default `mgen-{timestamp}-{seed}-{n}.png`. */
  out?: string;
  /** Video: frames and frames per second (default: the family's); audio: seconds (default: the model's). */
  frames?: number | null;
  fps?: number | null;
  duration?: number | null;
  /** Output format: png; mp4 (default), webm, gif, webp, png-frames for video; wav (default), flac for audio. */
  format?: string | null;
  /** Video length in seconds (OpenAI Videos' `seconds`): frames = the family's nearest valid count at fps. */
  seconds?: number | null;
  /**
   * Outputs read back at once and removed by the caller (serve's private folder): the images keep the worker's
   * names in `out`'s folder (no rename onto the pattern) and are not fsynced.
   */
  transient?: boolean;
  /** Partial images per image while denoising (serve's OpenAI partial_images); progress then carries their paths. */
  previews?: number;
  /** The hires fix (text-to-image): a second image-to-image pass at hires.width x hires.height. */
  hires?: HiresRequest | null;
  /** Output file format (serve's transient outputs only: the CLI writes PNG). */
  imageFormat?: ImageFormat | null;
}

export interface GenerateOutput {
  /** Every file made (images, or one video / audio file per seed), with its media type and, for media, its length. */
  images: Array<OutputFile>;
  /** encode_s: writing the files (PNG, or encoding the video/audio), as the worker timed it. */
  timings: {denoise_s: number; worker_total_s: number; total_s: number; steps: number; encode_s?: number; compile_cache?: import('./worker/types.js').CompileCacheCounters};
  model: string;
  seed: number;
  request: GenerateRequest;
  /** The request's own LoRAs as named (empty when none). */
  loras?: RequestLora[];
  /** The scheduler class that ran and its config overrides, as the worker reports them. */
  scheduler?: {class: string | null; config: Record<string, unknown>};
}

/** The loaded checkpoint as A1111 names it: one weight file (hashable) or a repo / folder (id and revision). */
export interface CheckpointInfo {
  /** The MODEL_ID as given and pinned (`org/name@commit`). */
  id: string;
  pinnedId: string;
  /** The checkpoint's own file when it is a single file, else null. */
  file: string | null;
  /** sha256 of that file (null for a repo or folder: no one file is the model). */
  sha256: string | null;
  /** Where the model is on disk (the file, or the snapshot folder). */
  path: string;
}

export type OutputFile = Omit<WorkerOutputFile, 'width' | 'height'> & {width: number; height: number; bytes?: number};

export interface Session {
  /** The loaded checkpoint for A1111's model list and the PNG's `Model hash` / `Model` fields. */
  checkpointInfo(): Promise<CheckpointInfo>;
  readonly worker: WorkerHandle;
  readonly hello: HelloResult;
  readonly plan: LoadPlan;
  readonly load: LoadResult;
  readonly model: ResolvedModel;
  readonly runtime: RuntimeLocation;
  /** Timings of opening: runtime lookup, worker start, resolve+detect, load (seconds). */
  readonly openTimings: Record<string, number>;
  schema(): Promise<Record<string, unknown>>;
  generate(input: GenerateInput, opts?: {onProgress?: (step: number, steps: number, extra?: ProgressExtra) => void; signal?: AbortSignal; timeoutMs?: number}): Promise<GenerateOutput>;
  close(): Promise<void>;
}

export async function openSession(opts: SessionOptions): Promise<Session> {
  const t0 = performance.now();
  const env = opts.offline ? {...(opts.env ?? process.env), HF_HUB_OFFLINE: '1'} : (opts.env ?? process.env);
  const stage = opts.onStage ?? (() => {});
  const resolveFn = opts.resolve ?? resolveModelForLoad;
  const timings: Record<string, number> = {};
  const lap = (name: string, since: number) => (timings[name] = round((performance.now() - since) / 1000));

  const runtime: RuntimeLocation = opts.python ? {python: opts.python, source: 'MGEN_PYTHON'} : await ensureRuntime({env, onProgress: stage});
  lap('runtime', t0);
  if (runtime.source === 'installed-now') opts.onNote?.(`runtime ready: ${runtime.stamp?.profile} venv (torch ${runtime.stamp?.versions.torch}, diffusers ${runtime.stamp?.versions.diffusers}) in ${runtime.seconds?.toFixed(0)} s`);

  // The worker imports torch and diffusers (seconds) while we resolve and inspect the model files.
  const tw = performance.now();
  stage('starting the Python worker');
  const workerEnv = opts.compile ? {...env, ...compileCacheEnv(env, mgenHome(env))} : env;
  const workerP = startWorker({python: runtime.python, env: workerEnv, verbose: opts.verbose}).then((w) => {
    lap('worker_start', tw);
    return w;
  });
  workerP.catch(() => {});
  // hello makes the worker import torch + diffusers; ask at once so that overlaps resolving the model.
  const helloP = workerP.then(async (w) => {
    const th = performance.now();
    const h = await w.hello();
    lap('hello', th);
    return h;
  });
  helloP.catch(() => {});
  let worker: WorkerHandle | undefined;
  const onAbort = () => void workerP.then((w) => w.kill(), () => {});
  opts.signal?.addEventListener('abort', onAbort, {once: true});
  const prefetchStop = new AbortController();
  try {
    if (opts.signal?.aborted) throw new InterruptedError('cancelled');
    const tr = performance.now();
    const ropts: ResolveOptions = {env, python: runtime.python, onProgress: stage, onNote: opts.onNote};
    const model = await resolveFn(opts.modelId, ropts);
    // Adapters and UNet/transformer-only files need a base pipeline: the one asked for, else the suggested one.
    const needsBase = model.report.kind !== 'checkpoint' || model.report.missing.length > 0;
    const baseId = opts.base ?? (needsBase ? model.baseId : null);
    // The base the adapter implies: say which one before fetching it (and before any network error about it).
    if (!opts.base && baseId && (await mustFetch(baseId, env))) opts.onNote?.(`fetching base ${baseId} for this ${adapterLabel(model.report)}`);
    const [base, loras, embeddings, controlnet, vae, hypernetworks, aestheticEmb, ipRef, t2iRef] = await Promise.all([
      baseId ? resolveFn(baseId, ropts) : null,
      Promise.all((opts.loras ?? []).map(async (l) => ({...refOf(await resolveFn(l.id, ropts)), scale: l.scale}))),
      Promise.all((opts.embeddings ?? []).map(async (e) => ({...refOf(await resolveFn(e.id, ropts)), token: e.token ?? (await builtinToken(e.id, ropts, resolveFn))}))),
      opts.controlnet ? resolveFn(opts.controlnet, ropts) : null,
      opts.vae ? resolveFn(opts.vae, ropts) : null,
      Promise.all((opts.hypernetworks ?? []).map(async (h) => ({...refOf(await resolveFn(h.id, ropts)), scale: h.scale}))),
      opts.aesthetic ? resolveFn(opts.aesthetic.id, ropts) : null,
      opts.ipAdapter ? resolveFn(opts.ipAdapter.id, ropts) : null,
      opts.t2iAdapter ? resolveFn(opts.t2iAdapter.id, ropts) : null,
    ]);
    // The IP-Adapter's image encoder: beside it, else the one its report names, pulled like the base (before loading).
    const ipAdapter = opts.ipAdapter && ipRef
      ? await ipAdapterPaths(opts.ipAdapter, ipRef, (base && model.report.kind !== 'checkpoint' ? base : model).report.family, async (id) => {
        if (await mustFetch(id, env)) opts.onNote?.(`fetching image encoder ${id} for this IP-Adapter`);
        return resolveFn(id, ropts);
      })
      : null;
    const aesthetic = opts.aesthetic && aestheticEmb
      ? await resolveAestheticClip(opts.aesthetic, aestheticEmb, (base && model.report.kind !== 'checkpoint' ? base : model).report.family, (id) => resolveFn(id, ropts))
      : null;
    lap('resolve', tr);
    // While the worker still imports torch + diffusers, read the weights into the page cache (weights-prefetch.ts).
    const prefetchP: Promise<PrefetchResult | null> = env.MGEN_PREFETCH === '0' || opts.planOnly
      ? Promise.resolve(null)
      : prefetchTargets([model, base, controlnet, vae, t2iRef].filter((m): m is ResolvedModel => m !== null).map((m) => m.path).concat(loras.map((l) => l.path)))
        .then((targets) => prefetchWeights(targets, {signal: prefetchStop.signal}))
        .catch(() => null);
    opts.validate?.(base && model.report.family === 'unknown' ? base.report.family : model.report.family,
      base && model.report.kind !== 'checkpoint' ? base.report : model.report);
    // A truncated or incomplete weight file, or a MODEL_ID that is no model to generate with, cannot load: say so
    // before waiting for the worker's imports.
    checkComplete(refOf(model));
    checkGeneratable(refOf(model));
    if (base) checkComplete(refOf(base));
    checkBaseFamily(refOf(model), base ? refOf(base) : null);
    // A builtin embedding given as the MODEL_ID carries its own token.
    const mainToken = model.builtin?.manifest.token;
    stage('starting the Python worker');
    worker = await workerP;
    const hello = await helloP;
    const notes: string[] = [];
    const flags: PlanFlags = {
      task: opts.task, image: opts.image, mask: opts.mask, dtype: opts.dtype, offload: opts.offload, device: opts.device,
      memory: opts.memory, quantize: opts.quantize, video: opts.video,
      hello, allowPickle: opts.allowPickle, trustRemoteCode: opts.trustRemoteCode, compile: opts.compile, notes,
    };
    const plan = buildLoadPlan(model.report, {
      main: model.path,
      base: base ? refOf(base) : null,
      configRepo: model.configRepo ?? base?.configRepo ?? null,
      loras,
      embeddings,
      controlnet: controlnet ? refOf(controlnet) : null,
      vae: vae ? refOf(vae) : null,
      hypernetworks,
      aesthetic,
      ipAdapter,
      t2iAdapter: opts.t2iAdapter && t2iRef ? {...refOf(t2iRef), scale: opts.t2iAdapter.scale} : null,
    }, flags);
    if (mainToken && model.report.kind === 'textual-inversion') plan.embeddings[0]!.token = mainToken;
    for (const n of notes) opts.onNote?.(n);
    stage(`loading ${opts.modelId}`);
    const tl = performance.now();
    const load: LoadResult = opts.planOnly
      ? {pipeline: plan.pipeline, device: hello.device, dtype: plan.dtype, offload: plan.offload, load_seconds: 0, components: {}}
      : await worker.load(plan);
    lap('load', tl);
    prefetchStop.abort();
    const warmed = await prefetchP;
    if (warmed) {
      timings.prefetch = round(warmed.seconds);
      timings.prefetch_mb = round(warmed.bytes / 1e6);
    }
    for (const n of load.notes ?? []) opts.onNote?.(n);
    const ckpt = base && model.report.kind !== 'checkpoint' ? base : model;
    const adapters: AdapterIds = {
      loras: (opts.loras ?? []).map((l) => ({id: l.id, scale: l.scale})),
      embeddings: (opts.embeddings ?? []).map((e) => ({id: e.id, token: e.token ?? null})),
      controlnet: opts.controlnet ?? null,
      vae: opts.vae ?? null,
      ...(opts.t2iAdapter ? {t2i_adapter: {id: opts.t2iAdapter.id, scale: opts.t2iAdapter.scale}} : {}),
    };
    const requestLoras = new RequestLoraResolver({
      resolve: resolveFn, ropts: {env, python: runtime.python}, family: ckpt.report.family,
      allowPickle: opts.allowPickle, trustRemoteCode: opts.trustRemoteCode,
    });
    return new OpenSession(worker, hello, plan, load, model, ckpt, runtime, {...timings, open_total: round((performance.now() - t0) / 1000)}, adapters, requestLoras, env);
  } catch (err) {
    prefetchStop.abort();
    const w = worker ?? (await workerP.catch(() => undefined));
    w?.kill();
    if (opts.signal?.aborted) throw new InterruptedError('cancelled while loading');
    throw err;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
}

/** The adapters as the user named them (recorded in the PNG so `--from` can load them again). */
export interface AdapterIds {
  loras: Array<{id: string; scale: number}>;
  embeddings: Array<{id: string; token: string | null}>;
  controlnet: string | null;
  vae: string | null;
  /** Only when loaded (older PNGs and other models keep their record as it was). */
  t2i_adapter?: {id: string; scale: number};
}

/** "FLUX.1 LoRA", "Stable Diffusion 1.x embedding": what needs the base, for the note naming it. */
function adapterLabel(r: ResolvedModel['report']): string {
  const kinds: Record<string, string> = {lora: 'LoRA', 'textual-inversion': 'embedding', controlnet: 'ControlNet', 't2i-adapter': 'T2I-Adapter', vae: 'VAE', checkpoint: 'partial checkpoint'};
  const fam = r.family !== 'unknown' ? `${FAMILIES[r.family]?.label ?? r.family} ` : '';
  return `${fam}${kinds[r.kind] ?? r.kind}`;
}

/** Whether resolving this MODEL_ID goes to the network: a remote id that is not in the cache yet. */
async function mustFetch(id: string, env: NodeJS.ProcessEnv): Promise<boolean> {
  if (isBuiltinId(id) || /^(\.{0,2}\/|~|\/)/.test(id) || existsSync(id)) return false;
  // Offline nothing is fetched: the cache miss names the base itself.
  if (['1', 'true', 'yes', 'on'].includes((env.HF_HUB_OFFLINE ?? '').toLowerCase())) return false;
  try {
    const {parseModelId} = await import('../sources/model-id.js');
    const ref = parseModelId(id, {env});
    if (ref.kind !== 'hf') return ref.kind === 'civitai' || ref.kind === 'url';
    const {HfRepoCache, hubCacheDir} = await import('../sources/cache/hf-cache.js');
    return !new HfRepoCache(hubCacheDir(env), ref.repo).resolveCommit(ref.revision ?? 'main');
  } catch {
    return false;
  }
}

/** The embedding and the CLIP model it is tuned with: --aesthetic-clip, the builtin's own, or the family's. */
async function resolveAestheticClip(spec: AestheticSpec, emb: ResolvedModel, family: Family, resolveFn: (id: string) => Promise<ResolvedModel>): Promise<PlanAesthetic> {
  // The kind first: a wrong file must not send us fetching a CLIP model.
  if (emb.report.kind !== 'aesthetic-embedding') {
    throw new UsageError(`--aesthetic ${spec.id} is ${emb.report.kind === 'unknown' ? 'not a model mgen recognizes' : `a ${emb.report.kind}`}, not an aesthetic-embedding`);
  }
  let clip: string;
  const shipped = emb.builtin?.manifest.clip;
  if (spec.clip) clip = (await resolveFn(spec.clip)).path;
  else if (typeof shipped === 'string') clip = join(emb.builtin!.dir, shipped);
  else {
    // The CLIP the embedding was made with, by the checkpoint's family (the extension: SD1 only).
    const id = Object.values(AESTHETIC_CLIPS).find((c) => c.family === family)?.clip;
    if (!id) throw new UsageError(`--aesthetic: aesthetic-gradient embeddings are made with SD1's CLIP; the model is ${family}`, {hint: 'pass --aesthetic-clip MODEL_ID (a CLIP model with projection matching the text encoder)'});
    clip = (await resolveFn(id)).path;
  }
  return {ref: refOf(emb), clip, weight: spec.weight, steps: spec.steps, lr: spec.lr, slerp: spec.slerp};
}

function refOf(m: ResolvedModel): ModelRef {
  return {path: m.path, report: m.report, id: m.id};
}

async function builtinToken(id: string, ropts: ResolveOptions, resolveFn: NonNullable<SessionOptions['resolve']>): Promise<string | undefined> {
  const m = await resolveFn(id, ropts);
  return m.builtin?.manifest.token;
}

class OpenSession implements Session {
  private cachedSchema?: Record<string, unknown>;
  private modelHash?: Promise<string | null>;
  constructor(
    readonly worker: WorkerHandle,
    readonly hello: HelloResult,
    readonly plan: LoadPlan,
    readonly load: LoadResult,
    readonly model: ResolvedModel,
    private readonly ckpt: ResolvedModel,
    readonly runtime: RuntimeLocation,
    readonly openTimings: Record<string, number>,
    readonly adapters: AdapterIds,
    private readonly requestLoras: RequestLoraResolver,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  async schema(): Promise<Record<string, unknown>> {
    this.cachedSchema ??= await this.worker.schema();
    return this.cachedSchema;
  }

  /** sha256 of the checkpoint's main weight file (the largest one). */
  private mainWeightHash(): Promise<string | null> {
    this.modelHash ??= (async () => {
      const file = mainWeightFile(this.ckpt);
      return file ? sha256File(file).catch(() => null) : null;
    })();
    return this.modelHash;
  }

  async checkpointInfo(): Promise<CheckpointInfo> {
    const file = singleCheckpointFile(this.ckpt);
    return {id: this.ckpt.id, pinnedId: this.ckpt.pinnedId, file, sha256: file ? await this.mainWeightHash() : null, path: this.ckpt.path};
  }

  async generate(
    input: GenerateInput,
    opts: {onProgress?: (step: number, steps: number, extra?: ProgressExtra) => void; signal?: AbortSignal; timeoutMs?: number} = {},
  ): Promise<GenerateOutput> {
    const t0 = performance.now();
    // The same checks as the CLI's up-front ones and serve's (one validator), against the loaded model's family.
    validateRequest(input, {family: this.ckpt.report.family});
    checkFirstFrame(this.model.id, this.plan.pipeline, Boolean(input.image));
    // A T2I-Adapter reads each request's control image: a request without one is refused here (CLI and serve).
    if (this.plan.t2i_adapter && !input.controlImage) {
      throw new UsageError('control_image: the loaded T2I-Adapter needs a control image', {field: 'control_image', hint: 'pass --control-image PATH'});
    }
    if (this.plan.task !== 'text-to-image' && !input.image) {
      throw new UsageError(`${this.model.id} is loaded for ${this.plan.task}: the request needs an input image`, {hint: 'pass --image PATH'});
    }
    // A1111's prompt language: cached textual inversions named in the prompts are applied for this request.
    const a1111 = input.promptSyntax === 'a1111' || (input.promptSyntax == null && A1111_FAMILIES.has(this.ckpt.report.family));
    const named = a1111 ? findPromptEmbeddings([input.prompt, input.negativePrompt ?? ''], this.env, this.ckpt.report.family) : {texts: [], embeddings: []};
    if (named.embeddings.length) input = {...input, prompt: named.texts[0]!, negativePrompt: input.negativePrompt == null ? input.negativePrompt : named.texts[1]!};
    if (input.params && Object.keys(input.params).length) validateParamNames(await this.schema(), input.params);
    const d = this.ckpt.report.defaults ?? {width: 512, height: 512, steps: 30, guidance_scale: 7.5};
    const seed = input.seed ?? randomInt(0, 2 ** 32 - 1);
    const numImages = input.numImages ?? 1;
    // Image-to-image / inpaint take their size from the input image unless asked otherwise.
    const fromImage = this.plan.task !== 'text-to-image' && input.image ? imageSize(input.image) : null;
    const kind = mediaKind(this.ckpt.report.family);
    const format = outputFormat(kind, input.format);
    const ext = formatExtension(format);
    // A video's size is the family's unless asked (image-to-video pipelines resize the first frame to it).
    const sized = this.plan.task === 'text-to-image' || kind === 'video';
    const width = kind === 'audio' ? null : input.width ?? (sized ? d.width : null);
    const height = kind === 'audio' ? null : input.height ?? (sized ? d.height : null);
    const fps = input.fps ?? d.fps ?? null;
    const frames = input.frames ?? (input.seconds && fps ? framesForSeconds(this.ckpt.report.family, input.seconds, fps) : d.frames ?? null);
    const media = kind === 'video'
      ? {frames, fps, format}
      : kind === 'audio' ? {duration: input.duration ?? null, format} : {};
    const steps = input.steps ?? d.steps;
    const guidance = input.guidance ?? d.guidance_scale;
    const targets = resolveOutputPaths(input.out, {seed, numImages, model: this.model.id, ext});
    const hash = await this.mainWeightHash();
    const scheduler = input.scheduler ?? this.load.components?.scheduler ?? null;
    const extraLoras: ResolvedLora[] = input.loras?.length ? await this.requestLoras.resolveAll(input.loras) : [];
    const allLoras = [...this.plan.loras.map((l) => ({path: l.path, scale: l.scale})), ...extraLoras.map((l) => ({path: l.path, scale: l.scale}))];
    const loraHashes = await Promise.all(allLoras.map(async (l) => ({
      name: basename(l.path).replace(/\.[^.]+$/, ''), hash: await loraShortHash(l.path),
    })));
    // A1111's prompt part carries a <lora:name:scale> tag per LoRA; names mgen resolves again (MODEL_IDs or file names).
    const loraTags = [
      ...this.adapters.loras.map((l) => ({name: loraTagName(l.id), scale: l.scale})),
      ...extraLoras.map((l) => ({name: loraTagName(l.id), scale: l.scale})),
    ];
    // Model hash only for a checkpoint that is one file (never a component's); else the repo id and revision.
    const info = await this.checkpointInfo();
    const prompts = `${input.prompt}\n${input.negativePrompt ?? ''}`;
    const tiHashes = await Promise.all([
      ...this.plan.embeddings.filter((e) => e.token && prompts.includes(e.token)).map((e) => ({token: e.token!, path: e.path})),
      ...named.embeddings,
    ].map(async (e) => ({name: e.token, hash: (await sha256File(e.path).catch(() => '')).slice(0, 12)})));
    const pngText = targets.map((_t, n) => {
      const s = seed + n;
      const req = {
        prompt: input.prompt, negative_prompt: input.negativePrompt ?? null, width, height, steps, guidance_scale: guidance,
        seed: s, scheduler: input.scheduler ?? null, ...(input.schedulerConfig ? {scheduler_config: input.schedulerConfig} : {}), strength: input.strength ?? null, image: input.image ?? null,
        mask: input.mask ?? null, control_image: input.controlImage ?? null, params: input.params ?? {}, ...media,
        ...(input.hires ? {hires: input.hires} : {}),
      };
      return {
        parameters: buildA1111Parameters({
          prompt: input.prompt, negativePrompt: input.negativePrompt, steps, scheduler, schedulerConfig: input.schedulerConfig ?? null,
          clipSkip: typeof input.params?.clip_skip === 'number' ? input.params.clip_skip : null, guidanceScale: guidance, seed: s,
          width: width ?? fromImage?.width ?? null, height: height ?? fromImage?.height ?? null,
          modelHash: info.sha256 ? info.sha256.slice(0, 10) : null, modelName: info.file ? modelSlug(this.ckpt.id) : this.ckpt.pinnedId,
          strength: input.strength, hires: input.hires ?? null, loras: loraHashes, loraTags, tiHashes: tiHashes.filter((t) => t.hash), version: 'mgen',
        }),
        mgen: JSON.stringify({
          schema: 1,
          model: this.model.pinnedId,
          base: this.model !== this.ckpt ? this.ckpt.pinnedId : null,
          adapters: extraLoras.length ? {...this.adapters, loras: [...this.adapters.loras, ...extraLoras.map((l) => ({id: l.id, scale: l.scale}))]} : this.adapters,
          request: req,
          plan: {
            dtype: this.plan.dtype, task: this.plan.task, pipeline: this.plan.pipeline,
            memory: memorySummary(this.plan, this.load),
            loras: allLoras,
            embeddings: this.plan.embeddings, controlnet: this.plan.controlnet?.path ?? null, vae: this.plan.vae?.path ?? null,
            ...(this.plan.t2i_adapter ? {t2i_adapter: this.plan.t2i_adapter.path} : {}),
          },
          files: {model: mainWeightFile(this.ckpt), model_sha256: hash},
          runtime: {python: this.hello.python, torch: this.hello.torch, diffusers: this.hello.diffusers, transformers: this.hello.transformers, device: this.hello.device},
        }),
      };
    });
    return writeImagesAtomically(targets, async (outDir, fileStem) => {
      const request: GenerateRequest = {
        prompt: input.prompt, negative_prompt: input.negativePrompt ?? null, width, height, steps, guidance_scale: guidance,
        seed, num_images: numImages, scheduler: input.scheduler ?? null, ...(input.schedulerConfig ? {scheduler_config: input.schedulerConfig} : {}), image: input.image ?? null, mask: input.mask ?? null,
        strength: input.strength ?? null, control_image: input.controlImage ?? null, params: input.params ?? {},
        out_dir: outDir, file_stem: fileStem, png_text: pngText, ...media, ...(input.transient ? {durable: false} : {}),
        ...(extraLoras.length ? {loras: extraLoras.map((l) => ({path: l.path, scale: l.scale}))} : {}),
        ...(input.previews ? {previews: input.previews} : {}),
        ...(input.promptSyntax ? {prompt_syntax: input.promptSyntax} : {}),
        ...(named.embeddings.length ? {embeddings: named.embeddings.map((e) => ({path: e.path, token: e.token}))} : {}),
        ...(input.hires ? {hires: input.hires} : {}),
        ...(input.imageFormat && input.transient ? {image_format: input.imageFormat} : {}),
      };
      const r = await this.worker.generate(request, opts);
      if (r.images.length !== numImages) throw new GenerationError(`the worker returned ${r.images.length} images, expected ${numImages}`);
      return {
        worker: r,
        finish: (paths: string[]): GenerateOutput => ({
          images: r.images.map((im, i) => ({...im, path: paths[i]!, width: im.width ?? 0, height: im.height ?? 0, bytes: fileBytes(paths[i]!)})),
          timings: {
            denoise_s: r.timings.denoise_s, worker_total_s: r.timings.total_s, total_s: round((performance.now() - t0) / 1000), steps: r.timings.steps,
            ...(r.timings.phases ? {encode_s: r.timings.phases.png_s} : {}),
            ...(r.timings.compile_cache ? {compile_cache: r.timings.compile_cache} : {}),
          },
          model: this.model.id,
          seed,
          request,
          loras: extraLoras.map((l) => ({id: l.id, scale: l.scale})),
          scheduler: {
            class: typeof r.metadata?.scheduler === 'string' ? r.metadata.scheduler : null,
            config: (r.metadata?.scheduler_config as Record<string, unknown> | undefined) ?? {},
          },
        }),
      };
    }, {rename: !input.transient, ext});
  }

  async close(): Promise<void> {
    await this.worker.shutdown();
  }
}

/** The size of a PNG input image (other formats: unknown until the worker opens them). */
function imageSize(path: string): {width: number; height: number} | null {
  try {
    const {width, height} = readPngInfo(readFileSync(path));
    return width && height ? {width, height} : null;
  } catch {
    return null;
  }
}

/** The checkpoint's path when it is one weight file (a single-file checkpoint), else null. */
function singleCheckpointFile(m: ResolvedModel): string | null {
  try {
    return statSync(m.path).isFile() ? m.path : null;
  } catch {
    return null;
  }
}

function fileBytes(path: string): number | undefined {
  try {
    const st = statSync(path);
    return st.isFile() ? st.size : undefined;
  } catch {
    return undefined;
  }
}

function mainWeightFile(m: ResolvedModel): string | null {
  try {
    if (statSync(m.path).isFile()) return m.path;
  } catch {
    return null;
  }
  const weights = m.report.files.filter((f) => /\.(safetensors|bin|ckpt|pt|pth|gguf)$/i.test(f.path)).sort((a, b) => b.size - a.size);
  return weights[0] ? join(m.path, weights[0].path) : null;
}

/** Unknown `--param` names -> exit 2 with the valid ones listed. */
export function validateParamNames(schema: Record<string, unknown>, params: Record<string, unknown>): void {
  const props = (schema.properties ?? {}) as Record<string, unknown>;
  const valid = Object.keys(props);
  const unknown = Object.keys(params).filter((k) => !(k in props));
  if (unknown.length) {
    throw new UsageError(`unknown parameter${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} for this pipeline`, {
      hint: `valid: ${valid.sort().join(', ')}`,
    });
  }
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
