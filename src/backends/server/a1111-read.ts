// The AUTOMATIC1111 read endpoints front-ends probe, in A1111's shapes (modules/api/models.py): the loaded model
// (/sd-models), LoRAs, embeddings, VAEs, upscalers, scripts, command-line flags, and /png-info's parse of an
// infotext. One server holds one model, so the lists say what this server has, not what a disk could hold.
import {totalmem} from 'node:os';
import {basename} from 'node:path';
import {parseA1111Parameters} from '../a1111-parameters.js';
import {readPngInfo} from '../png-metadata.js';
import {listCached} from '../../sources/cache/inventory.js';
import {LocalFileSource} from '../../detect/readers/byte-source.js';
import {readSafetensorsHeader} from '../../detect/readers/safetensors.js';
import type {LoadPlan} from '../worker/types.js';
import type {CheckpointInfo} from './session-port.js';

const WEIGHT_EXT = /\.(safetensors|ckpt|pt|pth|bin|gguf)$/i;
const stem = (p: string): string => basename(p).replace(WEIGHT_EXT, '');

export interface SdModelItem {
  title: string;
  model_name: string;
  hash: string | null;
  sha256: string | null;
  filename: string;
  config: string | null;
}

/**
 * The loaded checkpoint as A1111 lists it: a single file as `name.safetensors [short hash]`; a repo or folder (no one
 * file to hash) by its MODEL_ID, hash null.
 */
export function sdModelItem(modelId: string, info: CheckpointInfo | null): SdModelItem {
  if (info?.file && info.sha256) {
    const hash = info.sha256.slice(0, 10);
    return {title: `${basename(info.file)} [${hash}]`, model_name: stem(info.file), hash, sha256: info.sha256, filename: info.file, config: null};
  }
  return {title: modelId, model_name: modelId, hash: null, sha256: null, filename: info?.path ?? modelId, config: null};
}

/** Whether `name` (a title, file name, model name, MODEL_ID or hash, as clients send them) means the loaded model. */
export function namesLoadedModel(name: string, item: SdModelItem, info: CheckpointInfo | null): boolean {
  const n = name.trim().toLowerCase();
  const names = [item.title, item.model_name, item.hash, item.sha256, info?.id, info?.pinnedId, info?.file ? basename(info.file) : null];
  return names.some((x) => x != null && x.toLowerCase() === n);
}

/** GET /sdapi/v1/loras: the LoRAs a `<lora:name:...>` tag can name (cached ones by their tag name) and the loaded ones. */
export function loraList(plan: LoadPlan, env: NodeJS.ProcessEnv): Array<{name: string; alias: string; path: string; metadata: Record<string, unknown>}> {
  const out = new Map<string, {name: string; alias: string; path: string; metadata: Record<string, unknown>}>();
  for (const l of plan.loras ?? []) out.set(l.path, {name: l.name || stem(l.path), alias: l.name || stem(l.path), path: l.path, metadata: {}});
  let cached: ReturnType<typeof listCached> = [];
  try {
    cached = listCached(env).filter((m) => m.kind === 'lora');
  } catch {
    /* an unreadable cache lists nothing */
  }
  for (const m of cached) {
    // The name a bare tag resolves by: the file name for CivitAI / URL files, the repo id for hub repos.
    const name = m.source === 'huggingface' ? m.id : stem(m.path);
    if (!out.has(m.path)) out.set(m.path, {name, alias: name, path: m.path, metadata: {}});
  }
  return [...out.values()];
}

interface EmbeddingItem {
  step: number | null;
  sd_checkpoint: string | null;
  sd_checkpoint_name: string | null;
  shape: number;
  vectors: number;
}

/** Vectors and width of a safetensors embedding (its first tensor), from the header alone; 0 when unknown. */
async function embeddingShape(path: string): Promise<{vectors: number; shape: number}> {
  try {
    const facts = await readSafetensorsHeader(new LocalFileSource(path));
    const t = facts.tensors.find((x) => x.shape.length === 2 || x.shape.length === 1);
    if (t) return t.shape.length === 2 ? {vectors: t.shape[0]!, shape: t.shape[1]!} : {vectors: 1, shape: t.shape[0]!};
  } catch {
    /* not a safetensors file (a .pt embedding) */
  }
  return {vectors: 0, shape: 0};
}

/** GET /sdapi/v1/embeddings: the loaded textual inversions by token. */
export async function embeddingList(plan: LoadPlan): Promise<{loaded: Record<string, EmbeddingItem>; skipped: Record<string, EmbeddingItem>}> {
  const loaded: Record<string, EmbeddingItem> = {};
  for (const e of plan.embeddings ?? []) {
    loaded[e.token || stem(e.path)] = {step: null, sd_checkpoint: null, sd_checkpoint_name: null, ...(await embeddingShape(e.path))};
  }
  return {loaded, skipped: {}};
}

/** GET /sdapi/v1/sd-vae: the VAE loaded in place of the checkpoint's own, if any. */
export function vaeList(plan: LoadPlan): Array<{model_name: string; filename: string}> {
  return plan.vae ? [{model_name: stem(plan.vae.path), filename: plan.vae.path}] : [];
}

/** GET /sdapi/v1/upscalers: A1111's plain resizes (hr_upscaler takes these and the Latent modes), and the `--upscaler`
 * model when the server has one (extra-single-image runs it). */
export function upscalerList(up: {name: string; path: string; architecture?: string; scale?: number} | null = null): Array<{name: string; model_name: string | null; model_path: string | null; model_url: string | null; scale: number}> {
  const resizes = ['None', 'Lanczos', 'Nearest'].map((name) => ({name, model_name: null, model_path: null, model_url: null, scale: 4}));
  if (!up) return resizes;
  // A1111's model_name is the upscaler class's name (ESRGAN, SwinIR, DAT, HAT, ...).
  const modelName = up.architecture ? (A1111_UPSCALER_NAMES[up.architecture] ?? up.architecture) : 'ESRGAN';
  return [...resizes, {name: up.name, model_name: modelName, model_path: up.path, model_url: null, scale: up.scale ?? 4}];
}

const A1111_UPSCALER_NAMES: Record<string, string> = {esrgan: 'ESRGAN', swinir: 'SwinIR', swin2sr: 'Swin2SR', hat: 'HAT', dat: 'DAT'};

/** GET /sdapi/v1/scripts: no A1111 scripts or extensions run here. */
export function scriptList(): {txt2img: string[]; img2img: string[]} {
  return {txt2img: [], img2img: []};
}

/** GET /sdapi/v1/cmd-flags: A1111's flag names with what this server does (secrets never shown). */
export function cmdFlags(o: {host: string; port: number; modelId: string; apiAuth: boolean; token: boolean; plan: LoadPlan; modelDirs: string[]}): Record<string, unknown> {
  const listen = o.host !== '127.0.0.1' && o.host !== 'localhost' && o.host !== '::1';
  return {
    api: true,
    nowebui: true,
    api_log: false,
    api_auth: o.apiAuth ? '(set)' : null,
    api_server_stop: false,
    listen,
    server_name: o.host,
    port: o.port,
    ckpt: o.modelId,
    ckpt_dir: null,
    vae_path: o.plan.vae?.path ?? null,
    lora_dir: o.modelDirs[0] ?? null,
    embeddings_dir: null,
    no_half: o.plan.dtype === 'float32',
    no_half_vae: o.plan.dtype === 'float32',
    precision: o.plan.dtype === 'float32' ? 'full' : 'autocast',
    use_cpu: o.plan.device === 'cpu' ? ['all'] : [],
    device_id: null,
    xformers: false,
    medvram: Boolean(o.plan.offload && o.plan.offload !== 'none'),
    lowvram: o.plan.offload === 'sequential',
    enable_insecure_extension_access: false,
    disable_safe_unpickle: false,
    hide_ui_dir_config: true,
    skip_version_check: true,
    mgen_token_auth: o.token,
  };
}

/** GET /sdapi/v1/memory: this process's RAM and, on CUDA, the device's free / total (as the worker last said). */
export function memoryStats(hello: {device?: string; free_memory_bytes?: number; total_memory_bytes?: number}): {ram: Record<string, number>; cuda: Record<string, unknown>} {
  const total = totalmem();
  const used = process.memoryUsage().rss;
  const ram = {free: total - used, used, total};
  if (hello.device !== 'cuda' || hello.total_memory_bytes === undefined) return {ram, cuda: {error: 'unavailable'}};
  const free = hello.free_memory_bytes ?? 0;
  return {ram, cuda: {system: {free, used: hello.total_memory_bytes - free, total: hello.total_memory_bytes}}};
}

/** A1111's parse of an infotext (parse_generation_parameters): Prompt, Negative prompt, each field, Size-1/Size-2. */
export function parseGenerationParameters(text: string): Record<string, string> {
  if (!text.trim()) return {};
  const p = parseA1111Parameters(text);
  const out: Record<string, string> = {Prompt: p.prompt, 'Negative prompt': p.negativePrompt ?? ''};
  for (const [k, v] of Object.entries(p.fields)) {
    const size = /^(\d+)x(\d+)$/.exec(v);
    if (size) {
      out[`${k}-1`] = size[1]!;
      out[`${k}-2`] = size[2]!;
    } else {
      out[k] = v;
    }
  }
  // A missing clip skip means 1 (A1111's default), as its parser says.
  out['Clip skip'] ??= '1';
  return out;
}

/** POST /sdapi/v1/png-info: the `parameters` text, the other text chunks, and the parsed fields. */
export function pngInfo(bytes: Buffer, ext: string): {info: string; items: Record<string, string>; parameters: Record<string, string>} {
  if (ext !== 'png') return {info: '', items: {}, parameters: {}};
  const {text} = readPngInfo(bytes, 'image');
  const {parameters: info = '', ...items} = text;
  return {info, items, parameters: parseGenerationParameters(info)};
}
