// The model family a MODEL_ID has when that is knowable at once, without the runtime, the worker or the network:
// builtins by name, local files and folders by their headers (detection reads only headers). Remote ids: null
// (their family is checked after they resolve, still before the model loads).
import {existsSync} from 'node:fs';
import {homedir} from 'node:os';
import {resolve} from 'node:path';
import type {Family} from '../detect/types.js';
import {builtinName, isBuiltinId} from './builtin.js';

/** The tiny builtins keep their family's shapes: tiny-sdxl is SDXL, every other one (adapters included) SD 1.x. */
export function builtinFamily(id: string): Family {
  return builtinName(id).startsWith('tiny-sdxl') ? 'sdxl' : 'sd1';
}

export async function familyWithoutWorker(id: string): Promise<Family | null> {
  const trimmed = id.trim();
  if (isBuiltinId(trimmed)) return builtinFamily(trimmed);
  const local = resolve(trimmed === '~' || trimmed.startsWith('~/') ? homedir() + trimmed.slice(1) : trimmed);
  if (!existsSync(local)) return null;
  try {
    const {detectLocalModel} = await import('./detect-local.js');
    const f = (await detectLocalModel(local)).family;
    return f === 'unknown' ? null : f;
  } catch {
    return null; // an unreadable file gets its own error when it loads
  }
}
