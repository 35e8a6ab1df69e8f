// Security summary: pickle files and the globals they reference outside the allow-list (found by the pickle
// reader, never by unpickling), and whether loading would need trust_remote_code.
import type {Facts, ModelReport} from './types.js';

/** diffusers pipeline sub-packages that model_index.json may name as a component's library. */
const DIFFUSERS_MODULES = new Set([
  'diffusers', 'transformers', 'stable_diffusion', 'stable_diffusion_xl', 'kolors', 'wuerstchen', 'stable_cascade',
  'deepfloyd_if', 'kandinsky', 'kandinsky2_2', 'pixart_alpha', 'hunyuandit', 'latent_diffusion', 'paint_by_example',
  'stable_diffusion_safe', 'alt_diffusion', 'audioldm2', 'stable_audio', 'unclip', 'versatile_diffusion', 'onnxruntime', 'flax',
]);

export function securityOf(facts: Facts): ModelReport['security'] {
  const files = [...facts.files, ...facts.components.flatMap((c) => c.files)];
  const pickle = files.some((f) => f.format === 'pickle');
  const unsafe = [...new Set(files.flatMap((f) => f.pickle?.findings.map((x) => x.global) ?? []))];
  let remote = false;
  const idx = facts.modelIndex;
  if (idx) {
    if (Array.isArray(idx._class_name)) remote = true;
    for (const [k, v] of Object.entries(idx)) {
      if (k.startsWith('_') || !Array.isArray(v) || typeof v[0] !== 'string') continue;
      if (!DIFFUSERS_MODULES.has(v[0])) remote = true;
    }
  }
  // `auto_map` sends transformers to repo code; a component that diffusers loads from one of its own
  // pipeline modules (e.g. Kolors' ChatGLM under library "kolors") does not need it.
  if (facts.config && 'auto_map' in facts.config) remote = true;
  for (const c of facts.components) if (c.config && 'auto_map' in c.config && (c.library === 'transformers' || c.library === null)) remote = true;
  return {pickle, unsafe_globals: unsafe, trust_remote_code_needed: remote};
}
