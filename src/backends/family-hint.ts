// The model family a MODEL_ID has when that is knowable at once, without the runtime, the worker or the network:
// builtins by name, local files and folders by their headers (detection reads only headers). Remote ids: null
// (their family is checked after they resolve, still before the model loads).
import {existsSync} from 'node:fs';
import {resolve} from 'node:path';
import type {Family} from '../detect/types.js';
import {InvalidModelError} from '../errors.js';
import type {BuiltinName} from './builtin.js';
import {expandHome} from './paths.js';

/**
 * The family each tiny builtin keeps the shapes of (adapters: their base's). Typed against BUILTIN_NAMES so a new
 * builtin cannot be left out; only a type import from builtin.ts, whose runtime modules cost ~70 ms on generate's
 * serve-reuse path.
 */
const BUILTIN_FAMILIES: Record<BuiltinName, Family> = {
  'tiny-sd': 'sd1',
  'tiny-sd-single': 'sd1',
  'tiny-sdxl': 'sdxl',
  'tiny-sd-lora-kohya': 'sd1',
  'tiny-sd-lora-peft': 'sd1',
  'tiny-sd-ti': 'sd1',
  'tiny-sd-controlnet': 'sd1',
  'tiny-sd-controlnet-single': 'sd1',
  'tiny-flux': 'flux',
  'tiny-sd3': 'sd3',
  'tiny-sd-hypernetwork': 'sd1',
  'tiny-sd-aesthetic': 'sd1',
  'tiny-wan': 'wan',
  'tiny-wan22': 'wan',
  'tiny-ltxv-i2v': 'ltxv',
  'tiny-cogvideox': 'cogvideox',
  'tiny-ltxv': 'ltxv',
  'tiny-hunyuanvideo': 'hunyuanvideo',
  'tiny-stable-audio': 'stable-audio',
  'tiny-wan-i2v': 'wan',
  'tiny-cogvideox-i2v': 'cogvideox',
  'tiny-hunyuanvideo-i2v': 'hunyuanvideo',
  'tiny-sd2': 'sd2',
  'tiny-sdxl-refiner': 'sdxl-refiner',
  'tiny-flux2': 'flux2',
  'tiny-chroma': 'chroma',
  'tiny-pixart': 'pixart',
  'tiny-auraflow': 'auraflow',
  'tiny-hunyuandit': 'hunyuandit',
  'tiny-sana': 'sana',
  'tiny-lumina2': 'lumina2',
  'tiny-qwen-image': 'qwen-image',
  'tiny-cascade': 'cascade',
  'tiny-sd3-single': 'sd3',
  'tiny-flux-single': 'flux',
  'tiny-chroma-single': 'chroma',
  'tiny-kolors': 'kolors',
  'tiny-wan-single': 'wan',
  'tiny-esrgan': 'unknown',
  'tiny-sd-ip-adapter': 'sd1',
  'tiny-swinir': 'unknown',
  'tiny-dat': 'unknown',
  'tiny-hat': 'unknown',
  'tiny-flux-ip-adapter': 'flux',
  'tiny-sd-t2i-adapter': 'sd1',
  'tiny-sdxl-t2i-adapter': 'sdxl',
};

/** A builtin's family by name; an unknown name: null (resolving it says so). */
export function builtinFamily(id: string): Family | null {
  const name = id.slice('builtin:'.length);
  return Object.hasOwn(BUILTIN_FAMILIES, name) ? BUILTIN_FAMILIES[name as BuiltinName] : null;
}

/** The family a MODEL_ID's name or local file tells before any worker runs (null: not known yet). */
export async function familyWithoutWorker(id: string): Promise<Family | null> {
  return (await modelWithoutWorker(id)).family; // an unreadable file gets its own error when it loads
}

/**
 * familyWithoutWorker for the CLI's MODEL_ID, with the refusals its report already holds (exit 6), to run once the
 * request itself is checked, still before the runtime is looked up or a worker starts: a header the readers refuse,
 * a partial download, an incomplete NF4/FP4 file, a GGUF or other file that is no model to generate with.
 */
export async function modelWithoutWorker(id: string): Promise<{family: Family | null; refuse: () => void}> {
  const none = () => {};
  const trimmed = id.trim();
  if (trimmed.startsWith('builtin:')) return {family: builtinFamily(trimmed), refuse: none};
  const local = resolve(expandHome(trimmed));
  if (!existsSync(local)) return {family: null, refuse: none};
  try {
    const {detectLocalModel} = await import('./detect-local.js');
    const report = await detectLocalModel(local, {quoteContent: true}); // the user's own file, as the session reads it
    const {checkComplete, checkGeneratable} = await import('./plan.js');
    const ref = {path: local, report, id: trimmed};
    return {family: report.family === 'unknown' ? null : report.family, refuse: () => (checkComplete(ref), checkGeneratable(ref))};
  } catch (err) {
    if (err instanceof InvalidModelError) return {family: null, refuse: () => { throw err; }};
    return {family: null, refuse: none}; // its own error comes when it loads
  }
}
