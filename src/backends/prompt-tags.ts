// A1111 prompt tags for extra networks: `<lora:name:weight>` and `<lyco:name:weight>` are taken out of the text
// the encoder sees and become request LoRAs; `<hypernet:name:strength>` becomes a hypernetwork. A name is a MODEL_ID when it has a scheme or a slash (builtin:x,
// civitai:1@2, org/name); otherwise it is looked up in the cache (`mgen list`) by file name or CivitAI model
// name, then in the server's model folders. Nothing here admits a model: the ids go through the same
// RequestModelPolicy check and resolver as the native `loras` field.
import {basename} from 'node:path';
import {NotFoundError, UsageError} from '../errors.js';
import {listCached, type CachedModel} from '../sources/cache/inventory.js';
import {allFileMetas} from '../sources/cache/mgen-home.js';
import type {RequestModelPolicy} from './request-model-policy.js';

export interface PromptLoraTag {
  /** lora (also `<lyco:...>`) or hypernet. */
  kind?: 'lora' | 'hypernet';
  /** The name as written in the tag. */
  name: string;
  scale: number;
  /** The field it came from (prompt / negative_prompt). */
  field: string;
}

export interface ParsedPrompt {
  /** The text without the tags (what the encoder sees). */
  text: string;
  tags: PromptLoraTag[];
}

const TAG = /<(lora|lyco|hypernet):([^<>]*)>/gi;

/** Takes `<lora:...>` / `<lyco:...>` / `<hypernet:...>` tags out of `text`; a tag it cannot apply is a UsageError naming it. */
export function parsePromptTags(text: string, field: string, only?: 'hypernet'): ParsedPrompt {
  const tags: PromptLoraTag[] = [];
  const out = text.replace(TAG, (whole, kind: string, body: string) => {
    const hypernet = kind.toLowerCase() === 'hypernet';
    if (only && !hypernet) return whole;
    const parts = body.split(':');
    const numeric = (s: string | undefined): boolean => s !== undefined && /^\s*[-+]?(\d+\.?\d*|\.\d+)\s*$/.test(s);
    if (parts.some((p) => /^\s*(te|unet|dyn)\s*=/i.test(p))) {
      throw new UsageError(`${field}: ${whole}: separate text-encoder / unet weights are not supported; give one weight`, {field});
    }
    let scale = 1;
    if (parts.length > 1 && numeric(parts.at(-1))) {
      if (parts.length > 2 && numeric(parts.at(-2)) && !/^(civitai|builtin|hf|urn|air)$/i.test(parts.slice(0, -2).join(':'))) {
        throw new UsageError(`${field}: ${whole}: separate text-encoder / unet weights are not supported; give one weight`, {field});
      }
      scale = Number(parts.pop());
    }
    const name = parts.join(':').trim();
    if (!name) throw new UsageError(`${field}: ${whole}: names no ${hypernet ? 'hypernetwork' : 'LoRA'}`, {field});
    if (!Number.isFinite(scale) || Math.abs(scale) > 10) throw new UsageError(`${field}: ${whole}: weight must be between -10 and 10`, {field});
    tags.push({kind: hypernet ? 'hypernet' : 'lora', name, scale, field});
    return '';
  });
  return {text: tags.length ? out.replace(/[ \t]{2,}/g, ' ').trim() : text, tags};
}

const stem = (f: string): string => basename(f).replace(/\.(safetensors|ckpt|pt|pth|bin)$/i, '').toLowerCase();

/** `<hypernet:...>` tags only (generate: the hypernetworks to load); other tags stay in the text. */
export function takeHypernetTags(text: string, field: string): ParsedPrompt {
  return parsePromptTags(text, field, 'hypernet');
}

/** Cached models a bare tag name may mean: file name (without extension), CivitAI model name, or repo name. */
function cacheMatches(name: string, env: NodeJS.ProcessEnv, kind: 'lora' | 'hypernetwork' = 'lora'): CachedModel[] {
  const n = name.toLowerCase();
  const all = listCached(env).filter((m) => m.kind === kind || m.kind === '-');
  const byFile = all.filter((m) => m.source !== 'huggingface' && stem(m.path) === n);
  if (byFile.length) return byFile;
  const byRepo = all.filter((m) => m.source === 'huggingface' && (m.id.toLowerCase() === n || m.id.split('/').pop()!.toLowerCase() === n));
  if (byRepo.length) return byRepo;
  const civitaiIds = new Set(allFileMetas(env).filter((f) => f.civitai?.modelName?.trim().toLowerCase() === n).map((f) => f.id));
  return all.filter((m) => m.source === 'civitai' && civitaiIds.has(m.id));
}

/**
 * The MODEL_ID a tag name stands for. Names with a scheme or a slash are MODEL_IDs already; bare names are
 * looked up in the cache, then in the model folders (via the policy). Unresolved or ambiguous: UsageError.
 */
export function resolvePromptLora(tag: PromptLoraTag, o: {env: NodeJS.ProcessEnv; policy?: RequestModelPolicy}): string {
  const {name, field} = tag;
  const hypernet = tag.kind === 'hypernet';
  const what = hypernet ? 'hypernet' : 'lora';
  // Checked here too (the field then names the prompt); the request's loras are checked again on submit.
  if (/^[a-z][a-z0-9+.-]*:/i.test(name) || name.includes('/')) return o.policy ? o.policy.check(name, field) : name;
  const found = [...new Map(cacheMatches(name, o.env, hypernet ? 'hypernetwork' : 'lora').map((m) => [m.id, m])).values()];
  if (found.length === 1) return found[0]!.id;
  if (found.length > 1) {
    throw new UsageError(`${field}: <${what}:${name}> matches ${found.length} cached models (${found.map((m) => m.id).join(', ')}); name one of them`, {field});
  }
  if (o.policy) {
    for (const candidate of hypernet ? [name, `${name}.pt`] : [name, `${name}.safetensors`]) {
      try {
        return o.policy.check(candidate, field);
      } catch {
        /* not in a model folder (or no model folders): next */
      }
    }
  }
  throw new NotFoundError(`${field}: <${what}:${name}> is not a cached ${hypernet ? 'hypernetwork' : 'LoRA'} (by file name or CivitAI name) or a file in the model folders`, {field});
}

// -- A1111 prompt syntax: request LoRAs from tags, textual inversions from names ----------------------------

/** A native request with its prompt's `<lora:>` / `<lyco:>` tags taken out into `loras` (a1111 syntax only). */
export function withPromptLoraTags<T extends {prompt: string; negative_prompt?: string | null; loras?: Array<{name: string; scale?: number}>; prompt_syntax?: string | null}>(
  n: T,
  o: {env: NodeJS.ProcessEnv; policy?: RequestModelPolicy},
): T {
  if (n.prompt_syntax === 'plain') return n;
  const prompt = parsePromptTags(n.prompt, 'prompt');
  const negative = parsePromptTags(n.negative_prompt ?? '', 'negative_prompt');
  if (!prompt.tags.length && !negative.tags.length) return n;
  const loras = [...(n.loras ?? [])];
  for (const tag of [...prompt.tags, ...negative.tags]) {
    if (tag.kind === 'hypernet') throw new UsageError(`${tag.field}: <hypernet:${tag.name}>: per-request hypernetworks are not supported; start the server with --hypernetwork`, {field: tag.field});
    loras.push({name: resolvePromptLora(tag, o), scale: tag.scale});
  }
  return {...n, prompt: prompt.text, ...(n.negative_prompt != null ? {negative_prompt: negative.text} : {}), loras};
}

export interface PromptEmbedding {
  /** The name as the prompt writes it (the worker finds its tokens there). */
  token: string;
  /** The cached model (`mgen list` id) and its file. */
  id: string;
  path: string;
}

const EMBEDDING_FILE = /\.(safetensors|pt|bin)$/i;
const EXPLICIT = /\bembedding:([^\s,()[\]<>:]+)/gi;
const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function cachedEmbeddings(env: NodeJS.ProcessEnv): Array<{model: CachedModel; names: string[]; civitai: string | null; sha: string | null}> {
  const metas = new Map(allFileMetas(env).map((f) => [f.id, f]));
  return listCached(env)
    .filter((m) => m.kind === 'textual-inversion' && EMBEDDING_FILE.test(m.path))
    .map((m) => {
      const meta = metas.get(m.id);
      return {model: m, names: [stem(m.path)], civitai: meta?.civitai?.modelName?.trim().toLowerCase() ?? null, sha: meta?.sha256?.toLowerCase() ?? null};
    });
}

/**
 * The cached textual inversions a prompt names, as A1111 users write them: the file name (without extension) as a
 * word, or `embedding:NAME` where NAME is the file name, the CivitAI model name or the A1111 short hash (the
 * sha256's first 12 hex digits). `embedding:NAME` becomes NAME in the returned texts; a NAME that resolves to no
 * cached embedding is a NotFoundError naming it (a bare word that names none is just a word).
 */
export function findPromptEmbeddings(texts: string[], env: NodeJS.ProcessEnv, family?: string): {texts: string[]; embeddings: PromptEmbedding[]} {
  if (!texts.some((t) => /\S/.test(t))) return {texts, embeddings: []};
  // Another family's embedding does not fit the model's text encoders: a bare word naming one stays a word.
  const fits = (m: CachedModel): boolean => !family || m.family === '-' || m.family === family || (family === 'sdxl-refiner' && m.family === 'sdxl');
  const all = cachedEmbeddings(env);
  const found = new Map<string, PromptEmbedding>();
  const out = texts.map((text) => text.replace(EXPLICIT, (_whole, raw: string) => {
    const n = raw.toLowerCase();
    const hits = all.filter((e) => e.names.includes(n) || e.civitai === n || (n.length >= 10 && /^[0-9a-f]+$/.test(n) && e.sha?.startsWith(n)));
    const ids = [...new Set(hits.map((h) => h.model.id))];
    if (!ids.length) throw new NotFoundError(`embedding:${raw} is not a cached textual inversion (by file name, CivitAI name or short hash; see mgen list)`, {field: 'prompt'});
    if (ids.length > 1) throw new UsageError(`embedding:${raw} matches ${ids.length} cached embeddings (${ids.join(', ')}); name one by its file name`, {field: 'prompt'});
    if (!fits(hits[0]!.model)) throw new UsageError(`embedding:${raw} is a ${hits[0]!.model.family} embedding; the model is ${family}`, {field: 'prompt'});
    found.set(`${hits[0]!.model.id}\0${raw.toLowerCase()}`, {token: raw, id: hits[0]!.model.id, path: hits[0]!.model.path});
    return raw;
  }));
  for (const e of all.filter((x) => fits(x.model))) {
    for (const name of e.names) {
      if (!/^[\w.+-]+$/.test(name)) continue;
      const word = new RegExp(`(?<![\\w])${escapeRe(name)}(?![\\w])`, 'i');
      if (out.some((t) => word.test(t))) found.set(`${e.model.id}\0${name}`, {token: name, id: e.model.id, path: e.model.path});
    }
  }
  return {texts: out, embeddings: [...found.values()]};
}
