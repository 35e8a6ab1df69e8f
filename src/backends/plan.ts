// buildLoadPlan: the load plan the worker executes, chosen from ModelReports (the main model's and each
// adapter's), the user's flags and what the worker said about its device. Nothing here guesses: a decision
// the reports cannot support is an error that names what is missing.
import {basename, resolve} from 'node:path';
import type {Family, ModelReport} from '../detect/types.js';
import {InvalidModelError, UsageError} from '../errors.js';
import {familyInfo, pipelineFor, type PlanTask} from './pipelines.js';
import {decideMemory, memoryNeeds, WORKER_MEMORY, type MemoryMode, type Quantize} from './memory-plan.js';
import {validateQuantize} from './validation.js';
import {mediaKind} from './media-output.js';
import {INCOMPLETE_4BIT} from '../detect/quant-checks.js';
import type {Dtype, HelloResult, LoadPlan, Offload} from './worker/types.js';

export interface ModelRef {
  /** Absolute (or resolvable) path of the file or folder the report describes. */
  path: string;
  report: ModelReport;
  /** The MODEL_ID as the user wrote it, for messages. */
  id?: string;
}

export interface PlanPaths {
  /** Where the main MODEL_ID lives locally. */
  main: string;
  /** `--base`, or the base an adapter / component-only file was resolved to. */
  base?: ModelRef | null;
  /** A local diffusers folder with the family's configs, for single-file checkpoints. */
  configRepo?: string | null;
  loras?: Array<ModelRef & {scale: number}>;
  embeddings?: Array<ModelRef & {token?: string}>;
  controlnet?: ModelRef | null;
  vae?: ModelRef | null;
  hypernetworks?: Array<ModelRef & {scale: number}>;
  aesthetic?: PlanAesthetic | null;
  ipAdapter?: {ref: ModelRef; imageEncoder: string; image: string; scale: number} | null;
  /** `--t2i-adapter`: put on the text-to-image pipeline (SD1/SD2/SDXL), its residuals scaled by `scale`. */
  t2iAdapter?: (ModelRef & {scale: number}) | null;
}

/** An aesthetic-gradient embedding with the CLIP folder it tunes and the extension's settings. */
export interface PlanAesthetic {
  ref: ModelRef;
  clip: string;
  weight: number;
  steps: number;
  lr: number;
  slerp: boolean;
}

export interface PlanFlags {
  task?: PlanTask;
  image?: boolean;
  mask?: boolean;
  dtype?: Dtype | 'auto';
  offload?: Offload | 'auto';
  /** `--memory`: the memory plan, or auto (memory-plan.ts). */
  memory?: MemoryMode;
  /** `--quantize`: quantize the denoiser at load time. */
  quantize?: Quantize;
  device?: 'cpu' | 'cuda' | 'auto';
  /** The worker's hello: its device and free GPU memory. */
  hello?: Pick<HelloResult, 'device' | 'free_memory_bytes'>;
  allowPickle?: boolean;
  trustRemoteCode?: boolean;
  compile?: boolean;
  /** Decisions worth telling the user (automatic offload, ...) are pushed here. */
  notes?: string[];
  /** Video: the clip asked for (frames x size decides the VAE decode's memory; default the family's clip). */
  video?: {width?: number; height?: number; frames?: number};
  /** Set by buildLoadPlan: the memory decision (for --json, the PNG and /v1/model). */
  decision?: import('./memory-plan.js').MemoryDecision;
}

/** Families whose pipelines take IP-Adapters (diffusers' IPAdapterMixin / FluxIPAdapterMixin). */
const IP_ADAPTER_FAMILIES = new Set<Family>(['sd1', 'sdxl', 'flux']);
const ADAPTER_KINDS = new Set(['lora', 'textual-inversion', 'controlnet', 'vae', 'hypernetwork']);
const WEIGHT_RE = /\.(safetensors|bin|ckpt|pt|pth|gguf)$/i;

/** Refuses pickles (unless allowed) and remote code (unless trusted), naming the report's findings. */
export function checkSafety(ref: ModelRef, flags: Pick<PlanFlags, 'allowPickle' | 'trustRemoteCode'>, o: {weightsOnly?: boolean} = {}): void {
  const name = ref.id ?? ref.path;
  const r = ref.report;
  // Hypernetworks and aesthetic embeddings only come as pickles: one whose scan found nothing but plain data is read
  // with torch's weights-only loader (which refuses anything else) without --allow-pickle.
  if ((o.weightsOnly || r.kind === 'hypernetwork') && !r.security.unsafe_globals.length && !r.security.trust_remote_code_needed) return;
  if ((r.security.pickle || r.format === 'pickle') && !flags.allowPickle) {
    const pickles = r.files.filter((f) => f.format === 'pickle').map((f) => f.path);
    const found = r.security.unsafe_globals.length ? `; unsafe globals: ${r.security.unsafe_globals.join(', ')}` : '; no unsafe globals found by the scan';
    throw new InvalidModelError(`${name} is a pickle checkpoint (${pickles.join(', ') || 'pickle data'})${found}; refusing to load it`, {
      hint: 'pass --allow-pickle to load it with torch\'s weights-only loader, or use a .safetensors file',
    });
  }
  if (r.security.trust_remote_code_needed && !flags.trustRemoteCode) {
    throw new InvalidModelError(`${name} needs custom Python code from its repository to load; refusing to run it`, {
      hint: 'pass --trust-remote-code if you trust the repository',
    });
  }
}

/**
 * A weight file shorter than its header promises (a partial download), or a bitsandbytes 4-bit file whose packed
 * weights lack their quant_state/absmax tensors (src/detect/quant-checks.ts), cannot load: exit 6 before the worker
 * tries.
 */
export function checkComplete(ref: ModelRef): void {
  const short = ref.report.warnings.find((w) => /bytes shorter than the header promises/.test(w));
  if (short) {
    const bytes = /(\d+) bytes shorter/.exec(short)?.[1];
    throw new InvalidModelError(`${ref.id ?? ref.path} is truncated: its tensor data is ${bytes} bytes shorter than its header promises`, {hint: 'download it again (mgen pull resumes and checks sizes)'});
  }
  const fourBit = ref.report.warnings.find((w) => w.includes(INCOMPLETE_4BIT));
  if (fourBit) {
    const n = /: (\d+) 4-bit/.exec(fourBit)?.[1] ?? 'its';
    throw new InvalidModelError(`${ref.id ?? ref.path} is an incomplete NF4/FP4 file: ${n} packed 4-bit weights have no quant_state/absmax tensors to dequantize them with`, {
      hint: 'download it again, or use a file saved with its quantization state',
    });
  }
}

/**
 * The MODEL_ID must be a checkpoint or an adapter (which goes on a base): anything else is refused from its report
 * alone (exit 6), before any worker is waited for. A GGUF file that is neither (a language model's, or an
 * architecture no rule knows) says which architecture its header names.
 */
export function checkGeneratable(ref: ModelRef): void {
  if (ref.report.kind !== 'checkpoint' && !ADAPTER_KINDS.has(ref.report.kind)) notGeneratable(ref);
}

function notGeneratable(ref: ModelRef): never {
  const r = ref.report;
  const name = ref.id ?? ref.path;
  if (r.format === 'gguf') {
    const arch = r.metadata['general.architecture'];
    const of = !arch ? ' with no architecture in its header' : /^[A-Za-z0-9_.-]{1,40}$/.test(arch) ? ` of architecture ${arch}` : ' of an architecture mgen does not know';
    const what = r.kind === 'unknown' ? 'its tensors match no image or video model' : `a ${r.kind}, not a diffusion model`;
    throw new InvalidModelError(`${name} is a GGUF file${of} (${what}); mgen cannot generate with it`, {
      hint: 'mgen loads GGUF transformers of FLUX, SD3/SD3.5, Qwen-Image and Wan, with --base for the rest',
    });
  }
  throw new InvalidModelError(`${name} is a ${r.kind === 'unknown' ? 'model of unknown kind' : r.kind}; mgen can only generate with checkpoints and their adapters`);
}

/**
 * A transformer/UNet-only file goes on a base of its own family: anything else is an impossible request (exit 2),
 * refused from the two reports before the worker loads either (an SD3 GGUF on a FLUX base cannot load).
 */
export function checkBaseFamily(main: ModelRef, base: ModelRef | null | undefined): void {
  const r = main.report;
  if (!base || r.kind !== 'checkpoint' || r.missing.length === 0) return;
  const want = r.family;
  const have = base.report.family;
  if (want !== 'unknown' && have !== 'unknown' && want !== have) {
    const part = r.missing.some((m) => m.toLowerCase() === 'transformer') ? 'UNet' : (familyInfo(want)?.denoiser ?? 'denoiser');
    throw new UsageError(`${main.id ?? main.path} holds a ${want} ${part}, but the base ${base.id ?? base.path} is a ${have} model`, {hint: `pass --base with a ${want} model`});
  }
}

function checkFamily(adapter: ModelRef, what: string, family: Family): void {
  checkAdapterFamily(adapter.report.base?.family ?? adapter.report.family, family, what, adapter.id ?? adapter.path);
}

/** An adapter for another family than the model's: one line, exit 6 (`generate` also asks before a worker starts). */
export function checkAdapterFamily(need: Family | undefined, family: Family, what: string, id: string): void {
  if (need && need !== 'unknown' && family !== 'unknown' && need !== family) {
    throw new InvalidModelError(`${what} ${id} is for ${need} but the model is ${family}`);
  }
}

export function buildLoadPlan(report: ModelReport, paths: PlanPaths, flags: PlanFlags = {}): LoadPlan {
  const main: ModelRef = {path: paths.main, report, id: report.source?.id};
  const adapters = {
    loras: [...(paths.loras ?? [])],
    embeddings: [...(paths.embeddings ?? [])],
    controlnet: paths.controlnet ?? null,
    vae: paths.vae ?? null,
    hypernetworks: [...(paths.hypernetworks ?? [])],
  };

  // Unsafe content is refused before anything else is concluded from it.
  checkSafety(main, flags);
  // An adapter given as the MODEL_ID goes on top of its base.
  let ckpt: ModelRef;
  if (report.kind === 'checkpoint') {
    ckpt = main;
  } else if (ADAPTER_KINDS.has(report.kind)) {
    if (!paths.base) {
      const suggested = report.base?.suggested;
      throw new UsageError(`${main.id ?? main.path} is a ${report.kind}, not a full model: it needs a base model`, {
        hint: suggested ? `pass --base ${suggested}` : `pass --base MODEL_ID (a ${report.base?.family ?? report.family} checkpoint)`,
      });
    }
    ckpt = paths.base;
    if (report.kind === 'lora') adapters.loras.unshift({...main, scale: 1});
    else if (report.kind === 'textual-inversion') adapters.embeddings.unshift({...main});
    else if (report.kind === 'controlnet') adapters.controlnet = main;
    else if (report.kind === 'hypernetwork') adapters.hypernetworks.unshift({...main, scale: 1});
    else adapters.vae = main;
  } else {
    notGeneratable(main);
  }
  if (ckpt.report.kind !== 'checkpoint') {
    throw new InvalidModelError(`the base ${ckpt.id ?? ckpt.path} is a ${ckpt.report.kind}, not a checkpoint`);
  }
  for (const ref of [main, ckpt, ...adapters.loras, ...adapters.embeddings, adapters.controlnet, adapters.vae, ...adapters.hypernetworks]) {
    if (ref) checkSafety(ref, flags);
  }
  if (paths.aesthetic) checkSafety(paths.aesthetic.ref, flags, {weightsOnly: true});
  // Each adapter flag takes its own kind.
  const wantKind = (refs: ModelRef[], kind: string, flag: string): void => {
    for (const r of refs) {
      if (r.report.kind !== kind) throw new UsageError(`${flag} ${r.id ?? r.path} is ${r.report.kind === 'unknown' ? 'not a model mgen recognizes' : `a ${r.report.kind}`}, not ${/^[aeiou]/.test(kind) ? 'an' : 'a'} ${kind}`);
    }
  };
  wantKind(adapters.loras, 'lora', '--lora');
  wantKind(adapters.hypernetworks, 'hypernetwork', '--hypernetwork');
  if (paths.aesthetic) wantKind([paths.aesthetic.ref], 'aesthetic-embedding', '--aesthetic');
  checkComplete(main);
  checkComplete(ckpt);
  if (paths.ipAdapter) {
    wantKind([paths.ipAdapter.ref], 'ip-adapter', '--ip-adapter');
    checkSafety(paths.ipAdapter.ref, flags);
  }
  if (paths.t2iAdapter) {
    wantKind([paths.t2iAdapter], 't2i-adapter', '--t2i-adapter');
    checkSafety(paths.t2iAdapter, flags);
    checkComplete(paths.t2iAdapter);
  }

  const family = ckpt.report.family;
  for (const l of adapters.loras) checkFamily(l, 'LoRA', family);
  for (const e of adapters.embeddings) checkFamily(e, 'embedding', family);
  if (adapters.controlnet) checkFamily(adapters.controlnet, 'ControlNet', family);
  if (adapters.vae) checkFamily(adapters.vae, 'VAE', family);
  for (const h of adapters.hypernetworks) checkFamily(h, 'hypernetwork', family);
  if (paths.ipAdapter) {
    checkFamily(paths.ipAdapter.ref, 'IP-Adapter', family);
    if (!IP_ADAPTER_FAMILIES.has(family)) throw new UsageError(`--ip-adapter works with SD1, SDXL and FLUX.1 models; the model is ${family}`);
  }

  // A family with no text-to-image pipeline (the SDXL refiner) loads for image-to-image: each request brings its image.
  const tasks = familyInfo(family)?.pipelines;
  const defaultTask: PlanTask = tasks && !tasks['text-to-image'] && tasks['image-to-image'] ? 'image-to-image' : 'text-to-image';
  const task: PlanTask = flags.task ?? (flags.mask ? 'inpaint' : flags.image ? 'image-to-image' : defaultTask);
  if (task === 'inpaint' && !flags.mask) throw new UsageError('inpainting needs --image and --mask');
  if (task === 'inpaint' && !flags.image) throw new UsageError('--mask needs --image (the picture to inpaint)');
  if (paths.t2iAdapter) checkT2iAdapter(paths.t2iAdapter, family, {controlnet: adapters.controlnet !== null, ipAdapter: Boolean(paths.ipAdapter), image: task !== 'text-to-image'});
  // The class to load the checkpoint with; the runtime puts a ControlNet on top of it (from_pipe).
  const pipeline = mediaPipeline(ckpt, family, Boolean(flags.image)) ?? pipelineFor(family, ckpt.report.pipeline, task, false);
  if (!pipeline) {
    throw new InvalidModelError(`cannot tell which diffusers pipeline loads ${ckpt.id ?? ckpt.path} (family ${family}) for ${task}`);
  }

  // Strategy from the checkpoint's layout.
  let strategy: LoadPlan['strategy'];
  let component: LoadPlan['component'] = null;
  let configRepo: string | null = null;
  let basePath: string | null = ckpt === main ? (paths.base ? resolve(paths.base.path) : null) : null;
  const denoiser = familyInfo(family)?.denoiser ?? (ckpt.report.components.transformer ? 'transformer' : 'unet');
  const fmt = ckpt.report.format;
  if (fmt === 'diffusers') {
    strategy = 'diffusers-folder';
  } else if (fmt === 'single-file' || fmt === 'sharded' || fmt === 'pickle' || fmt === 'gguf') {
    const missing = new Set(ckpt.report.missing.map((m) => m.toLowerCase()));
    const lacksRest = missing.has('vae') || [...missing].some((m) => m.startsWith('text_encoder') || m.startsWith('text-encoder'));
    const hasDenoiser = !missing.has('unet') && !missing.has('transformer');
    if (lacksRest && hasDenoiser) {
      strategy = 'component-file';
      component = missing.has('transformer') ? 'unet' : denoiser;
      if (!basePath) {
        throw new UsageError(`${ckpt.id ?? ckpt.path} holds only the ${component} (it lacks ${[...missing].join(', ')}); it needs a base pipeline`, {
          hint: `pass --base MODEL_ID (a ${family} diffusers model)`,
        });
      }
    } else {
      strategy = 'single-file';
      configRepo = paths.configRepo ? resolve(paths.configRepo) : basePath;
    }
  } else {
    throw new InvalidModelError(`${ckpt.id ?? ckpt.path} is a folder mgen cannot load (no model_index.json and no single weight file)`);
  }
  if (ckpt !== main) basePath = resolve(ckpt.path);
  if (strategy === 'component-file' && ckpt === main) checkBaseFamily(main, paths.base);

  // Device and precision.
  const device = flags.device ?? 'auto';
  const effective = device === 'auto' ? (flags.hello?.device ?? 'cpu') : device;
  let dtype: Dtype;
  if (flags.dtype && flags.dtype !== 'auto') dtype = flags.dtype;
  else if (effective === 'cuda') dtype = familyInfo(family)?.cudaDtype ?? (ckpt.report.precision === 'bf16' ? 'bfloat16' : 'float16');
  else if (effective === 'mps') dtype = 'float16';
  else dtype = 'float32';

  const variant = strategy === 'diffusers-folder' ? chooseVariant(ckpt.report, dtype) : null;

  // Memory: the fastest plan that fits the free GPU memory (memory-plan.ts); --offload is the older spelling.
  const quantize = flags.quantize ?? 'none';
  validateQuantize(quantize, effective, ckpt.report.precision);
  let requested: MemoryMode = flags.memory ?? 'auto';
  if (flags.offload && flags.offload !== 'auto') {
    const asMemory: MemoryMode = flags.offload === 'none' ? 'gpu' : flags.offload === 'model' ? 'model-offload' : 'sequential';
    if (requested !== 'auto' && requested !== asMemory) throw new UsageError(`--offload ${flags.offload} and --memory ${requested} disagree`, {hint: 'pass only --memory'});
    requested = asMemory;
  }
  const needs = memoryNeeds(ckpt.report, dtype, {quantize, base: strategy === 'component-file' && paths.base ? paths.base.report : null, video: flags.video});
  const decision = decideMemory({needs, device: effective, free: flags.hello?.free_memory_bytes ?? null, requested, dtype, quantize});
  const memory = WORKER_MEMORY[decision.plan];
  const offload: Offload = memory === 'model' ? 'model' : memory === 'sequential' ? 'sequential' : 'none';
  if (effective === 'cuda' && decision.plan !== 'gpu' && requested === 'auto') flags.notes?.push(`memory plan ${decision.plan}: ${decision.reason} (override with --memory)`);
  flags.decision = decision;

  return {
    strategy,
    path: resolve(ckpt.path),
    pipeline,
    task,
    config_repo: configRepo,
    component,
    base_path: strategy === 'diffusers-folder' && ckpt === main ? null : basePath,
    variant,
    dtype,
    device,
    offload,
    vae_tiling: decision.vae_tiling,
    vae_slicing: decision.vae_slicing,
    memory,
    memory_plan: decision.plan,
    memory_reason: decision.reason,
    memory_next: decision.next,
    quantize,
    allow_pickle: Boolean(flags.allowPickle),
    trust_remote_code: Boolean(flags.trustRemoteCode),
    compile: Boolean(flags.compile),
    loras: adapters.loras.map((l, i) => ({path: resolve(l.path), scale: l.scale, name: `l${i}`})),
    embeddings: adapters.embeddings.map((e) => ({path: resolve(e.path), token: e.token ?? defaultToken(e)})),
    controlnet: adapters.controlnet ? {path: resolve(adapters.controlnet.path), single_file: adapters.controlnet.report.format !== 'diffusers'} : null,
    vae: adapters.vae ? {path: resolve(adapters.vae.path), single_file: adapters.vae.report.format !== 'diffusers'} : null,
    hypernetworks: adapters.hypernetworks.map((h) => ({path: resolve(h.path), scale: h.scale})),
    aesthetic: paths.aesthetic
      ? {path: resolve(paths.aesthetic.ref.path), clip_path: resolve(paths.aesthetic.clip), weight: paths.aesthetic.weight, steps: paths.aesthetic.steps, lr: paths.aesthetic.lr, slerp: paths.aesthetic.slerp}
      : null,
    ip_adapter: paths.ipAdapter
      ? {path: resolve(paths.ipAdapter.ref.path), image_encoder: resolve(paths.ipAdapter.imageEncoder), image: resolve(paths.ipAdapter.image), scale: paths.ipAdapter.scale}
      : null,
    ...(paths.t2iAdapter
      ? {t2i_adapter: {path: resolve(paths.t2iAdapter.path), single_file: paths.t2iAdapter.report.format !== 'diffusers', scale: paths.t2iAdapter.scale}}
      : {}),
  };
}

/**
 * A T2I-Adapter goes on diffusers' StableDiffusion(XL)AdapterPipeline: text-to-image only, SD1/SD2/SDXL, and not
 * with a ControlNet (no pipeline takes both) or, on SD1/SD2 (whose adapter pipeline has no IP-Adapter input), an
 * IP-Adapter. Its family must be the model's (the check LoRAs have).
 */
function checkT2iAdapter(ref: ModelRef, family: Family, o: {controlnet: boolean; ipAdapter: boolean; image: boolean}): void {
  checkT2iFamily(ref.report.base?.family ?? ref.report.family, family, ref.id ?? ref.path);
  if (family !== 'sd1' && family !== 'sd2' && family !== 'sdxl') throw new UsageError(`--t2i-adapter works with SD1, SD2 and SDXL models; the model is ${family}`);
  if (o.controlnet) throw new UsageError('--controlnet and --t2i-adapter cannot be combined: pass one of them');
  if (o.image) throw new UsageError('--t2i-adapter works for text-to-image only: diffusers has no image-to-image or inpaint T2I-Adapter pipeline', {hint: 'leave out --image / --mask'});
  if (o.ipAdapter && family !== 'sdxl') throw new UsageError(`--t2i-adapter and --ip-adapter combine on SDXL only; the model is ${family}`);
}

/**
 * The family check LoRAs have, for a T2I-Adapter (also run by `generate` before a worker starts, when both families
 * are known without one). SD1 and SD2 adapters have the same shapes (detection reads them as sd1): either fits SD2.
 */
export function checkT2iFamily(need: Family, family: Family, id: string): void {
  if (!(family === 'sd2' && need === 'sd1')) checkAdapterFamily(need, family, 'T2I-Adapter', id);
}

/** `fp16` when the folder ships `*.fp16.*` weights and either has nothing else or we load in float16. */
export function chooseVariant(report: ModelReport, dtype: Dtype): string | null {
  const weights = report.files.filter((f) => WEIGHT_RE.test(f.path));
  const fp16 = weights.filter((f) => /\.fp16\.[a-z]+$/i.test(f.path));
  if (fp16.length === 0) return null;
  const plain = weights.filter((f) => !/\.(fp16|bf16|fp32|non_ema|ema)\.[a-z]+$/i.test(f.path));
  return plain.length === 0 || dtype === 'float16' ? 'fp16' : null;
}

function defaultToken(e: ModelRef): string {
  const stem = basename(e.path).replace(/\.[^.]+$/, '');
  return `<${stem}>`;
}

function gib(n: number): string {
  return (n / 2 ** 30).toFixed(1);
}

/** Image-to-video pipelines (Wan, CogVideoX, LTX-Video, HunyuanVideo I2V) start from a first frame. */
export function takesFirstFrame(pipeline: string | null | undefined): boolean {
  return pipeline != null && /ImageToVideo|I2V|Image2Video/.test(pipeline);
}

/**
 * A request for an image-to-video model without its first frame: exit 2 (serve: HTTP 400 on `image`) before the
 * model loads on the CLI, and before the pipeline runs in serve.
 */
export function checkFirstFrame(id: string, pipeline: string | null | undefined, image: boolean): void {
  if (image || !takesFirstFrame(pipeline)) return;
  throw new UsageError(`${id} is an image-to-video model (${pipeline}): the request needs a first frame`, {hint: 'pass --image PATH', field: 'image'});
}

/**
 * Video and audio models load with their own pipeline class (the report's): text-to-video and image-to-video are
 * different checkpoints, not one model driven two ways. An input image needs an image-to-video pipeline: exit 2.
 */
function mediaPipeline(ckpt: ModelRef, family: Family, image: boolean): string | null {
  const kind = mediaKind(family);
  if (kind === 'image') return null;
  const own = ckpt.report.pipeline;
  const takesImage = own !== null && /ImageToVideo|I2V|Image2Video|VideoToVideo/.test(own);
  if (image && !takesImage) {
    throw new UsageError(`--image needs an image-to-video model; ${ckpt.id ?? ckpt.path} is ${kind === 'audio' ? 'text-to-audio' : 'text-to-video'}${own ? ` (${own})` : ''}`, {field: 'image'});
  }
  return own;
}
