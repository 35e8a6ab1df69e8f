// The model family a MODEL_ID has when that is knowable at once, without the runtime, the worker or the network:
// builtins by name, local files and folders by their headers (detection reads only headers). Remote ids: null
// (their family is checked after they resolve, still before the model loads).
import {existsSync} from 'node:fs';
import {homedir} from 'node:os';
import {resolve} from 'node:path';
import type {Family} from '../detect/types.js';

/**
 * The tiny builtins keep their family's shapes: tiny-sdxl is SDXL, every other one (adapters included) SD 1.x; an
 * unknown name: null (resolving it says so). Not imported from builtin.ts, whose runtime modules cost ~70 ms on
 * generate's serve-reuse path.
 */
export function builtinFamily(id: string): Family | null {
  const name = id.slice('builtin:'.length);
  return name.startsWith('tiny-sdxl') ? 'sdxl' : name.startsWith('tiny-sd') ? 'sd1' : null;
}

export async function familyWithoutWorker(id: string): Promise<Family | null> {
  const trimmed = id.trim();
  if (trimmed.startsWith('builtin:')) return builtinFamily(trimmed);
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
