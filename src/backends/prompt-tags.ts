// A1111 prompt tags for extra networks: `<lora:name:weight>` and `<lyco:name:weight>` are taken out of the text
// the encoder sees and become request LoRAs; `<hypernet:name:strength>` becomes a hypernetwork. A name is a MODEL_ID when it has a scheme or a slash (builtin:x,
// civitai:1@2, org/name); otherwise it is looked up in the cache (`mgen list`) by file name or CivitAI model
// name, then in the server's model folders. Nothing here admits a model: the ids go through the same
// RequestModelPolicy check and resolver as the native `loras` field.
import {basename} from 'node:path';
import {UsageError} from '../errors.js';
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
  throw new UsageError(`${field}: <${what}:${name}> is not a cached ${hypernet ? 'hypernetwork' : 'LoRA'} (by file name or CivitAI name) or a file in the model folders`, {field});
}
