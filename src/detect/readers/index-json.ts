// Sharded-checkpoint index files (`*.safetensors.index.json`, `pytorch_model.bin.index.json`):
// the weight_map (tensor name -> shard file) and the list of shards.
import {InvalidModelError} from '../../errors.js';
import {record} from '../own.js';

export interface ShardIndex {
  /** Tensor names in the order of the weight_map. */
  keys: string[];
  /** Shard file names (relative to the index), in first-seen order. */
  shards: string[];
  weightMap: Record<string, string>;
  metadata: Record<string, string>;
}

/** `model.safetensors.index.json`, `pytorch_model.bin.index.json`, `diffusion_pytorch_model.fp16.safetensors.index.json`, ... */
export function isIndexJsonName(path: string): boolean {
  return /\.index\.json$/i.test(path);
}

export function parseShardIndex(text: string, name: string): ShardIndex {
  const fail = (reason: string): never => {
    throw new InvalidModelError(`${name}: invalid index file: ${reason}`);
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return fail(`not valid JSON (${(err as Error).message.split('\n')[0]})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return fail('not a JSON object');
  const wm = (parsed as Record<string, unknown>).weight_map;
  if (wm === null || typeof wm !== 'object' || Array.isArray(wm)) return fail('weight_map is missing or not an object');
  const weightMap = record<string>();
  const shards: string[] = [];
  const seen = new Set<string>();
  for (const [k, v] of Object.entries(wm as Record<string, unknown>)) {
    if (typeof v !== 'string') return fail(`weight_map entry "${k.slice(0, 80)}" is not a file name`);
    if (v.startsWith('/') || v.split('/').includes('..')) return fail(`shard "${v.slice(0, 80)}" points outside the model folder`);
    weightMap[k] = v;
    if (!seen.has(v)) {
      seen.add(v);
      shards.push(v);
    }
  }
  const metadata = record<string>();
  const md = (parsed as Record<string, unknown>).metadata;
  if (md && typeof md === 'object' && !Array.isArray(md)) {
    for (const [k, v] of Object.entries(md as Record<string, unknown>)) {
      if (v !== null && typeof v !== 'object') metadata[k] = String(v);
    }
  }
  return {keys: Object.keys(weightMap), shards, weightMap, metadata};
}
