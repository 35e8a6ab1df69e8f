// Which pipeline components a model has and lacks: diffusers folders from model_index.json, single files
// from the family's key prefixes (the denoiser is what the rule matched on).
import type {Facts, Family, Kind, ModelReport} from './types.js';
import {FAMILIES} from './families.js';
import {rootView} from './analyze/keys.js';
import {record} from './own.js';

export interface ComponentSummary {
  components: ModelReport['components'];
  missing: string[];
  warnings: string[];
}

export function componentsOf(facts: Facts, kind: Kind, family: Family): ComponentSummary {
  const components: ModelReport['components'] = record();
  const missing: string[] = [];
  const warnings: string[] = [];
  if (facts.modelIndex) {
    const noWeights: string[] = [];
    for (const c of facts.components) {
      components[c.name] = {class: c.className, library: c.library, present: c.present};
      if (c.className && !c.present) missing.push(c.name);
      const weighted = /^(unet|transformer|transformer_2|vae|text_encoder(_\d)?|prior|decoder|vqgan|image_encoder|controlnet)$/.test(c.name);
      if (c.className && c.present && weighted && c.files.every((f) => f.tensors.length === 0) && !c.indexKeys?.length) noWeights.push(c.name);
    }
    if (noWeights.length) warnings.push(`no weight files read for: ${noWeights.join(', ')} (configs only)`);
    return {components, missing, warnings};
  }
  if (facts.components.length > 0) {
    // Components inferred from subfolders (no model_index.json): what is there, nothing known to be missing.
    for (const c of facts.components) components[c.name] = {class: c.className, library: c.library, present: c.present};
    return {components, missing, warnings};
  }
  if (kind !== 'checkpoint' || family === 'unknown') return {components, missing, warnings};
  const info = FAMILIES[family];
  const root = rootView(facts);
  components[info.denoiser] = {class: null, library: 'diffusers', present: true};
  for (const [name, prefixes] of Object.entries(info.parts)) {
    const present = prefixes.some((p) => root.hasPrefix(p));
    components[name] = {class: null, library: name === 'vae' ? 'diffusers' : 'transformers', present};
    if (!present) missing.push(name);
  }
  return {components, missing, warnings};
}
