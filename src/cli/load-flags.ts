// Flags shared by the commands that load a model into the worker (generate, schema, serve), and
// turning them into openSession options.
import {Flags} from '@oclif/core';
import {existsSync} from 'node:fs';
import {resolve as resolvePath} from 'node:path';
import {NotFoundError, UsageError} from '../errors.js';
import type {AestheticSpec, SessionOptions} from '../backends/session.js';

export const loadFlags = {
  lora: Flags.string({description: 'a LoRA on top: MODEL_ID[:scale] (repeatable)', multiple: true, helpGroup: 'MODEL'}),
  embedding: Flags.string({description: 'a textual-inversion embedding: MODEL_ID[:token] (repeatable)', multiple: true, helpGroup: 'MODEL'}),
  controlnet: Flags.string({description: 'a ControlNet MODEL_ID (with --control-image)', helpGroup: 'MODEL'}),
  't2i-adapter': Flags.string({description: 'a T2I-Adapter for SD1/SDXL: MODEL_ID[:scale] (with --control-image; scale 0-2, default 1)', helpGroup: 'MODEL'}),
  vae: Flags.string({description: 'a VAE MODEL_ID to use instead of the model\'s own', helpGroup: 'MODEL'}),
  base: Flags.string({description: 'the base model for an adapter, a component-only file or a single-file checkpoint\'s configs', helpGroup: 'MODEL'}),
  dtype: Flags.string({description: 'precision (auto: fp16/bf16 on CUDA per family, fp32 on CPU)', options: ['auto', 'float32', 'float16', 'bfloat16'], helpGroup: 'RUNTIME'}),
  offload: Flags.string({description: 'CPU offload (default: automatic when the model does not fit the GPU)', options: ['auto', 'none', 'model', 'sequential'], helpGroup: 'RUNTIME'}),
  memory: Flags.string({description: 'memory plan (auto: the fastest that fits the free GPU memory; see README)', options: ['auto', 'gpu', 'fp8-cast', 'model-offload', 'group-offload', 'sequential'], helpGroup: 'RUNTIME'}),
  quantize: Flags.string({description: 'quantize the transformer/UNet at load time (nf4: CUDA only; int8/fp8: CUDA or CPU)', options: ['none', 'nf4', 'int8', 'fp8'], helpGroup: 'RUNTIME'}),
  device: Flags.string({description: 'where to run', options: ['auto', 'cpu', 'cuda'], helpGroup: 'RUNTIME'}),
  'allow-pickle': Flags.boolean({description: 'load pickle checkpoints (with torch\'s weights-only loader)', helpGroup: 'RUNTIME'}),
  'trust-remote-code': Flags.boolean({description: 'allow a repository\'s custom Python code', helpGroup: 'RUNTIME'}),
  compile: Flags.boolean({description: 'torch.compile the denoiser (slow first image, faster after)', helpGroup: 'RUNTIME'}),
  offline: Flags.boolean({description: 'use the cache only, for every MODEL_ID (also HF_HUB_OFFLINE=1)', helpGroup: 'MODEL'}),
  hypernetwork: Flags.string({description: 'an A1111 hypernetwork: MODEL_ID[:strength] (repeatable)', multiple: true, helpGroup: 'MODEL'}),
  aesthetic: Flags.string({description: 'an aesthetic-gradient embedding (A1111 extension .pt) MODEL_ID', helpGroup: 'AESTHETIC'}),
  'aesthetic-weight': Flags.string({description: 'how much of the tuned conditioning to use, 0-1 (default 0.9)', helpGroup: 'AESTHETIC'}),
  'aesthetic-steps': Flags.integer({description: 'gradient steps on the CLIP text encoder (default 5)', helpGroup: 'AESTHETIC'}),
  'aesthetic-lr': Flags.string({description: 'learning rate of those steps (default 0.0001)', helpGroup: 'AESTHETIC'}),
  'aesthetic-slerp': Flags.boolean({description: 'blend by spherical interpolation instead of linearly', helpGroup: 'AESTHETIC'}),
  'ip-adapter': Flags.string({description: 'an IP-Adapter MODEL_ID (SD1, SDXL, FLUX.1; its image encoder beside it or pulled)', helpGroup: 'IP-ADAPTER'}),
  'ip-image': Flags.string({description: 'the IP-Adapter reference image', helpGroup: 'IP-ADAPTER'}),
  'ip-scale': Flags.string({description: 'how strongly the reference image steers, 0-2 (default 1; 0 = no effect)', helpGroup: 'IP-ADAPTER'}),
  'aesthetic-clip': Flags.string({description: 'the CLIP model with projection to tune (default: the family\'s, e.g. openai/clip-vit-large-patch14 for SD1)', helpGroup: 'AESTHETIC'}),
};

export function parseAesthetic(f: LoadFlagValues): AestheticSpec | null {
  const given = ['aesthetic-weight', 'aesthetic-steps', 'aesthetic-lr', 'aesthetic-slerp', 'aesthetic-clip'].filter((k) => f[k as keyof LoadFlagValues] !== undefined && f[k as keyof LoadFlagValues] !== false);
  if (!f.aesthetic) {
    if (given.length) throw new UsageError(`--${given[0]} needs --aesthetic (the embedding)`);
    return null;
  }
  const num = (name: string, v: string | undefined, dflt: number, ok: (n: number) => boolean, want: string): number => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || !ok(n)) throw new UsageError(`--${name} must be ${want}, got ${v}`);
    return n;
  };
  const steps = f['aesthetic-steps'] ?? 5;
  if (!Number.isInteger(steps) || steps < 0 || steps > 100) throw new UsageError(`--aesthetic-steps must be a whole number from 0 to 100, got ${steps}`);
  return {
    id: f.aesthetic,
    weight: num('aesthetic-weight', f['aesthetic-weight'], 0.9, (n) => n >= 0 && n <= 1, 'between 0 and 1'),
    steps,
    lr: num('aesthetic-lr', f['aesthetic-lr'], 0.0001, (n) => n >= 0 && n <= 1, 'between 0 and 1'),
    slerp: Boolean(f['aesthetic-slerp']),
    clip: f['aesthetic-clip'] ?? null,
  };
}

const SCHEMES = new Set(['builtin', 'hf', 'huggingface', 'civitai', 'http', 'https', 'file', 'urn']);

/** Splits `MODEL_ID[:suffix]`: the suffix is whatever follows the last ':' unless that ':' belongs to a scheme. */
export function splitSuffix(spec: string): {id: string; suffix: string | null} {
  const i = spec.lastIndexOf(':');
  if (i <= 0) return {id: spec, suffix: null};
  const head = spec.slice(0, i);
  if (!head.includes(':') && SCHEMES.has(head.toLowerCase())) return {id: spec, suffix: null};
  if (spec.slice(i + 1).startsWith('//')) return {id: spec, suffix: null};
  return {id: head, suffix: spec.slice(i + 1)};
}

export function parseLoraSpec(spec: string): {id: string; scale: number} {
  return parseScaleSpec(spec, '--lora');
}

/** `MODEL_ID[:scale]` (--lora, --hypernetwork). */
export function parseScaleSpec(spec: string, flag: string): {id: string; scale: number} {
  const {id, suffix} = splitSuffix(spec);
  if (suffix === null) return {id, scale: 1};
  const scale = Number(suffix);
  if (suffix.trim() === '' || !Number.isFinite(scale)) {
    // A colon that is part of the id (e.g. civitai:123 with no scale): keep it whole.
    if (/^[0-9.+-eE]*$/.test(suffix)) throw new UsageError(`bad ${flag === '--lora' ? 'LoRA scale' : flag === '--t2i-adapter' ? 'scale' : 'strength'} in ${flag} ${spec}`, {hint: 'use MODEL_ID:0.8'});
    return {id: spec, scale: 1};
  }
  return {id, scale};
}

export function parseEmbeddingSpec(spec: string): {id: string; token?: string} {
  const {id, suffix} = splitSuffix(spec);
  return suffix ? {id, token: suffix} : {id};
}

export interface LoadFlagValues {
  lora?: string[];
  embedding?: string[];
  controlnet?: string;
  't2i-adapter'?: string;
  vae?: string;
  base?: string;
  dtype?: string;
  offload?: string;
  memory?: string;
  quantize?: string;
  device?: string;
  'allow-pickle'?: boolean;
  'trust-remote-code'?: boolean;
  compile?: boolean;
  offline?: boolean;
  hypernetwork?: string[];
  aesthetic?: string;
  'aesthetic-weight'?: string;
  'aesthetic-steps'?: number;
  'aesthetic-lr'?: string;
  'aesthetic-slerp'?: boolean;
  'aesthetic-clip'?: string;
  'ip-adapter'?: string;
  'ip-image'?: string;
  'ip-scale'?: string;
}

export function sessionOptionsFromFlags(modelId: string, f: LoadFlagValues): SessionOptions {
  return {
    modelId,
    base: f.base ?? null,
    loras: (f.lora ?? []).map(parseLoraSpec),
    embeddings: (f.embedding ?? []).map(parseEmbeddingSpec),
    controlnet: f.controlnet ?? null,
    vae: f.vae ?? null,
    dtype: (f.dtype ?? 'auto') as SessionOptions['dtype'],
    offload: (f.offload ?? 'auto') as SessionOptions['offload'],
    ...(f.memory && f.memory !== 'auto' ? {memory: f.memory as SessionOptions['memory']} : {}),
    ...(f.quantize && f.quantize !== 'none' ? {quantize: f.quantize as SessionOptions['quantize']} : {}),
    device: (f.device ?? 'auto') as SessionOptions['device'],
    allowPickle: Boolean(f['allow-pickle']),
    trustRemoteCode: Boolean(f['trust-remote-code']),
    compile: Boolean(f.compile),
    ...(f.offline ? {offline: true} : {}),
    ...(f.hypernetwork?.length ? {hypernetworks: f.hypernetwork.map((h) => parseScaleSpec(h, '--hypernetwork'))} : {}),
    ...(f.aesthetic || Object.keys(f).some((k) => k.startsWith('aesthetic-')) ? {aesthetic: parseAesthetic(f)} : {}),
    ...(f['ip-adapter'] || f['ip-image'] || f['ip-scale'] ? {ipAdapter: parseIpAdapter(f)} : {}),
    ...(f['t2i-adapter'] ? {t2iAdapter: parseT2iAdapter(f['t2i-adapter'])} : {}),
  };
}

/** MODEL_ID from the argument, else $MODEL_ID. */
export function modelIdFrom(arg: string | undefined, fallback?: string | null): string {
  const id = arg ?? process.env.MODEL_ID ?? fallback ?? '';
  if (!id) throw new UsageError('no MODEL_ID given', {hint: 'pass MODEL_ID as an argument or set $MODEL_ID'});
  return id;
}

/** `--ip-adapter ID --ip-image PATH [--ip-scale S]`: both needed together; the image must exist. */
export function parseIpAdapter(f: LoadFlagValues): {id: string; image: string; scale: number} {
  if (!f['ip-adapter']) throw new UsageError(`--${f['ip-image'] ? 'ip-image' : 'ip-scale'} needs --ip-adapter MODEL_ID`);
  if (!f['ip-image']) throw new UsageError('--ip-adapter needs --ip-image PATH (the reference image)');
  const image = resolvePath(f['ip-image']);
  if (!existsSync(image)) throw new NotFoundError(`--ip-image not found: ${f['ip-image']}`);
  const scale = f['ip-scale'] === undefined ? 1 : Number(f['ip-scale']);
  if (!Number.isFinite(scale) || scale < 0 || scale > 2 || (f['ip-scale'] !== undefined && !f['ip-scale'].trim())) throw new UsageError(`--ip-scale must be a number from 0 to 2, got ${f['ip-scale']}`);
  return {id: f['ip-adapter'], image, scale};
}

/** `--t2i-adapter MODEL_ID[:scale]`: the scale (adapter_conditioning_scale) is 0 to 2, default 1. */
export function parseT2iAdapter(spec: string): {id: string; scale: number} {
  const parsed = parseScaleSpec(spec, '--t2i-adapter');
  if (parsed.scale < 0 || parsed.scale > 2) throw new UsageError(`--t2i-adapter scale must be from 0 to 2, got ${parsed.scale}`, {hint: 'use MODEL_ID:0.8'});
  return parsed;
}
