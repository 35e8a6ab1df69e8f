// Helpers for transformer (DiT) family rules: the denoiser's keys wherever they live, class names from
// model_index / component configs, and GGUF `general.architecture`.
import type {Facts} from '../types.js';
import {component, componentView, configClass, diffusionView, KeyView, pipelineClass} from './keys.js';

const cache = new WeakMap<Facts, KeyView>();

/** The denoiser's keys: the main weights (prefix stripped), else the transformer/prior/decoder component. */
export function ditView(facts: Facts): KeyView {
  let v = cache.get(facts);
  if (!v) {
    v = diffusionView(facts).view;
    if (v.size === 0) {
      for (const name of ['transformer', 'prior', 'decoder', 'unet']) {
        const c = component(facts, name);
        if (c) {
          v = componentView(c);
          if (v.size > 0) break;
        }
      }
    }
    cache.set(facts, v);
  }
  return v;
}

/** Evidence line when the pipeline class, a denoiser component's class or the root config's class matches. */
export function classEvidence(facts: Facts, re: RegExp): string | null {
  const p = pipelineClass(facts);
  if (p && re.test(p)) return `model_index _class_name=${p}`;
  for (const c of facts.components) {
    const cls = c.className ?? configClass(c.config);
    if (cls && re.test(cls)) return `${c.name} class ${cls}`;
  }
  const root = configClass(facts.config);
  if (root && re.test(root)) return `config.json class ${root}`;
  return null;
}

/** The denoiser component's config (transformer/config.json) or the lone root config. */
export function ditConfig(facts: Facts): Record<string, unknown> | undefined {
  for (const name of ['transformer', 'prior', 'decoder']) {
    const c = component(facts, name);
    if (c?.config) return c.config;
  }
  return facts.config;
}

export function ggufArch(facts: Facts): string | undefined {
  const a = facts.metadata['general.architecture'];
  return typeof a === 'string' ? a.toLowerCase() : undefined;
}

/** Evidence for a GGUF architecture id, if it is one of `ids`. */
export function ggufEvidence(facts: Facts, ids: string[]): string | null {
  const a = ggufArch(facts);
  return a && ids.includes(a) ? `GGUF general.architecture=${a}` : null;
}

/** First key present among `names`, described with its shape. */
export function firstPresent(v: KeyView, names: string[]): string | undefined {
  return names.find((n) => v.has(n));
}
