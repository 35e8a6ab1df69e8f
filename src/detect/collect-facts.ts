// collectFacts: decides a tree's layout (single file, sharded, diffusers pipeline, component folder,
// plain folder) and reads only what that layout needs: weight headers, model_index.json, configs.
import {posix} from 'node:path';
import type {ComponentFacts, Facts, FileFacts, ModelTree, TreeEntry} from './types.js';
import {InvalidModelError, NotFoundError} from '../errors.js';
import {readWeightFile, isWeightFileName} from './readers/weight-file.js';
import {parseShardIndex, type ShardIndex} from './readers/index-json.js';

/** JSON configs larger than this are refused. */
export const MAX_JSON_BYTES = 8 * 1024 * 1024;
/** A plain folder with more weight files than this has only the first ones read. */
export const MAX_FOLDER_WEIGHT_FILES = 32;

export async function collectFacts(tree: ModelTree): Promise<Facts> {
  const entries = await tree.list();
  const facts: Facts = {layout: 'file', name: rootName(tree.name), files: [], tensors: new Map(), metadata: {}, components: [], warnings: []};
  if (tree.singleFile) {
    const entry = entries[0] ?? {path: '', size: 0};
    if (/\.index\.json$/i.test(tree.name)) {
      facts.layout = 'sharded';
      await readSharded(tree, '', entryMap(entries), facts, facts);
    } else {
      const file = await readFileFacts(tree, entry.path, displayName(tree, entry.path));
      addMain(facts, [file]);
    }
    return finish(facts);
  }
  const byPath = entryMap(entries);
  if (byPath.has('model_index.json')) {
    facts.layout = 'diffusers';
    facts.modelIndex = await readJson(tree, 'model_index.json');
    facts.components = await readComponents(tree, facts.modelIndex, byPath, facts);
    return finish(facts);
  }
  if (byPath.has('config.json')) {
    facts.layout = 'component-folder';
    facts.config = await readJson(tree, 'config.json');
    const files = await readWeightsIn(tree, '', byPath, facts);
    addMain(facts, files.files);
    if (files.indexKeys) facts.indexKeys = files.indexKeys;
    return finish(facts);
  }
  const rootIndex = entries.find((e) => !e.path.includes('/') && /\.index\.json$/i.test(e.path));
  if (rootIndex) {
    facts.layout = 'sharded';
    await readSharded(tree, rootIndex.path, byPath, facts, facts);
    return finish(facts);
  }
  facts.layout = 'folder';
  const weights = entries.filter((e) => isWeightFileName(e.path));
  if (weights.length > MAX_FOLDER_WEIGHT_FILES) {
    facts.warnings.push(`${tree.name}: ${weights.length} weight files; only the first ${MAX_FOLDER_WEIGHT_FILES} were read`);
  }
  const files: FileFacts[] = [];
  for (const w of weights.slice(0, MAX_FOLDER_WEIGHT_FILES)) files.push(await readFileFacts(tree, w.path, w.path));
  addMain(facts, files);
  return finish(facts);
}

/** Opens, reads and closes one weight file. */
async function readFileFacts(tree: ModelTree, path: string, shown: string): Promise<FileFacts> {
  const src = tree.open(path);
  try {
    return await readWeightFile(src, shown);
  } finally {
    await src.close?.();
  }
}

function finish(facts: Facts): Facts {
  for (const f of facts.files) facts.warnings.push(...f.warnings);
  for (const c of facts.components) for (const f of c.files) facts.warnings.push(...f.warnings);
  return facts;
}

function rootName(name: string): string {
  const trimmed = name.replace(/[\\/]+$/, '');
  const parts = trimmed.split(/[\\/]/);
  return parts[parts.length - 1] || name;
}

function displayName(tree: ModelTree, path: string): string {
  return path === '' ? rootName(tree.name) : path;
}

function entryMap(entries: TreeEntry[]): Map<string, TreeEntry> {
  return new Map(entries.map((e) => [e.path, e]));
}

/** Adds files as the model's main weights: tensors merged by name, metadata merged. */
function addMain(facts: Facts, files: FileFacts[]): void {
  for (const f of files) {
    facts.files.push(f);
    for (const t of f.tensors) if (!facts.tensors.has(t.name)) facts.tensors.set(t.name, t);
    for (const [k, v] of Object.entries(f.metadata)) if (!(k in facts.metadata)) facts.metadata[k] = v;
  }
}

/** Reads a JSON object file with a size cap; malformed JSON is an InvalidModelError naming the file. */
export async function readJson(tree: ModelTree, path: string): Promise<Record<string, unknown>> {
  const text = await tree.readText(path);
  if (text.length > MAX_JSON_BYTES) throw new InvalidModelError(`${path}: JSON file too large (${text.length} bytes)`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new InvalidModelError(`${path}: invalid JSON (${(err as Error).message.split('\n')[0]})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new InvalidModelError(`${path}: expected a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

/** Reads an index json and its shards (those present); returns the index. */
async function readSharded(
  tree: ModelTree, indexPath: string, byPath: Map<string, TreeEntry>, facts: Facts, target: {files: FileFacts[]; indexKeys?: string[]},
): Promise<ShardIndex> {
  const shownIndex = indexPath === '' ? rootName(tree.name) : indexPath;
  const text = await tree.readText(indexPath);
  const index = parseShardIndex(text, shownIndex);
  target.files.push({path: shownIndex, size: text.length, format: 'index', tensors: [], metadata: index.metadata, warnings: []});
  const dir = indexPath === '' ? '' : posix.dirname(indexPath);
  const shardFiles: FileFacts[] = [];
  let missing = 0;
  for (const shard of index.shards) {
    const rel = dir === '.' || dir === '' ? shard : `${dir}/${shard}`;
    if (!tree.singleFile && !byPath.has(rel)) {
      missing++;
      continue;
    }
    try {
      const f = await readFileFacts(tree, rel, rel);
      shardFiles.push(f);
    } catch (err) {
      if (err instanceof NotFoundError) {
        missing++;
        continue;
      }
      throw err;
    }
  }
  if (missing > 0) {
    facts.warnings.push(`${shownIndex}: ${missing} of ${index.shards.length} shards are not present; tensor names come from the index`);
    target.indexKeys = index.keys;
  }
  if (target === facts) addMain(facts, shardFiles);
  else target.files.push(...shardFiles);
  return index;
}

const CONFIG_NAMES = ['config.json', 'scheduler_config.json'];

async function readComponents(tree: ModelTree, modelIndex: Record<string, unknown>, byPath: Map<string, TreeEntry>, facts: Facts): Promise<ComponentFacts[]> {
  const out: ComponentFacts[] = [];
  for (const [name, value] of Object.entries(modelIndex)) {
    if (name.startsWith('_') || !Array.isArray(value) || value.length !== 2) continue;
    const [lib, cls] = value as unknown[];
    const library = typeof lib === 'string' ? lib : null;
    const className = typeof cls === 'string' ? cls : null;
    const comp: ComponentFacts = {name, library, className, files: [], present: false};
    out.push(comp);
    if (library === null && className === null) continue; // optional component, not part of this pipeline
    if (name.includes('/') || name.includes('..')) continue;
    const prefix = `${name}/`;
    const inComp = [...byPath.keys()].filter((p) => p.startsWith(prefix));
    if (inComp.length === 0) {
      facts.warnings.push(`component ${name} (${className ?? '?'}) is listed in model_index.json but its folder is missing`);
      continue;
    }
    comp.present = true;
    const configName = CONFIG_NAMES.find((c) => byPath.has(prefix + c));
    if (configName) comp.config = await readJson(tree, prefix + configName);
    const weights = await readWeightsIn(tree, name, byPath, facts);
    comp.files = weights.files;
    if (weights.indexKeys) comp.indexKeys = weights.indexKeys;
  }
  return out;
}

/**
 * Reads the weights of one component folder ('' = root): a sharded index when present, else the
 * preferred single weight file (non-variant safetensors first, then variants like .fp16, then pickles).
 */
async function readWeightsIn(tree: ModelTree, dir: string, byPath: Map<string, TreeEntry>, facts: Facts): Promise<{files: FileFacts[]; indexKeys?: string[]}> {
  const prefix = dir === '' ? '' : `${dir}/`;
  const here = [...byPath.values()].filter((e) => e.path.startsWith(prefix) && !e.path.slice(prefix.length).includes('/'));
  const base = (e: TreeEntry) => e.path.slice(prefix.length);
  const target: {files: FileFacts[]; indexKeys?: string[]} = {files: []};
  const indexes = here.filter((e) => /\.safetensors\.index\.json$/i.test(e.path)).concat(here.filter((e) => /\.bin\.index\.json$/i.test(e.path)));
  const safetensors = here.filter((e) => /\.(safetensors|sft)$/i.test(e.path));
  const pickles = here.filter((e) => /\.(bin|pt|pth|ckpt)$/i.test(e.path));
  const gguf = here.filter((e) => /\.gguf$/i.test(e.path));
  const rank = (e: TreeEntry) => {
    const b = base(e).toLowerCase();
    const standard = /^(diffusion_pytorch_model|model|pytorch_model)\.(safetensors|bin)$/.test(b) ? 0 : 1;
    const variant = /\.(fp16|bf16|fp32|fp8)\./.test(b) ? 1 : 0;
    return standard * 2 + variant;
  };
  const pick = (list: TreeEntry[]) => [...list].sort((a, b) => rank(a) - rank(b) || a.path.localeCompare(b.path))[0];
  // A sharded index wins only if at least one shard is present or no single weight file exists.
  const idx = pick(indexes);
  const single = pick(safetensors.filter((e) => !e.path.includes('-of-'))) ?? pick(gguf) ?? pick(pickles.filter((e) => !e.path.includes('-of-')));
  if (idx && (!single || here.some((e) => e.path.includes('-of-')))) {
    await readSharded(tree, idx.path, byPath, facts, target);
    return target;
  }
  if (single) {
    target.files.push(await readFileFacts(tree, single.path, single.path));
    return target;
  }
  return target;
}

