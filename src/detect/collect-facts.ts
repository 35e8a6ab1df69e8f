// collectFacts: decides a tree's layout (single file, sharded, diffusers pipeline, component folder,
// plain folder) and reads only what that layout needs: weight headers, model_index.json, configs.
import {posix} from 'node:path';
import type {ComponentFacts, Facts, FileFacts, ModelTree, TreeEntry} from './types.js';
import {InvalidModelError, NotFoundError} from '../errors.js';
import {readWeightFile, isWeightFileName} from './readers/weight-file.js';
import {isIndexJsonName, parseShardIndex, type ShardIndex} from './readers/index-json.js';
import {hasOwnKey, record} from './own.js';

/** JSON configs larger than this are refused. */
export const MAX_JSON_BYTES = 8 * 1024 * 1024;
/** A plain folder with more weight files than this has only the first ones read. */
export const MAX_FOLDER_WEIGHT_FILES = 32;

export async function collectFacts(tree: ModelTree): Promise<Facts> {
  const entries = await tree.list();
  const facts: Facts = {layout: 'file', name: rootName(tree.name), files: [], tensors: new Map(), metadata: record<string>(), components: [], warnings: []};
  if ((tree as {truncated?: boolean}).truncated) facts.warnings.push(`${tree.name}: folder listing stopped early (too many files)`);
  if (tree.singleFile) {
    const entry = entries[0] ?? {path: '', size: 0};
    if (isIndexJsonName(tree.name)) {
      facts.layout = 'sharded';
      await readSharded(tree, '', entryMap(entries), facts.warnings, facts, facts);
    } else {
      const file = await readFileFacts(tree, entry.path, displayName(tree, entry.path), true);
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
    const files = await readWeightsIn(tree, '', byPath, facts.warnings);
    addMain(facts, files.files);
    if (files.indexKeys) facts.indexKeys = files.indexKeys;
    return finish(facts);
  }
  const rootIndex = entries.find((e) => !e.path.includes('/') && isIndexJsonName(e.path));
  if (rootIndex) {
    facts.layout = 'sharded';
    await readSharded(tree, rootIndex.path, byPath, facts.warnings, facts, facts);
    return finish(facts);
  }
  facts.layout = 'folder';
  const weights = entries.filter((e) => isWeightFileName(e.path));
  if (weights.length > MAX_FOLDER_WEIGHT_FILES) {
    facts.warnings.push(`${tree.name}: ${weights.length} weight files; only the first ${MAX_FOLDER_WEIGHT_FILES} were read`);
  }
  const files: FileFacts[] = [];
  files.push(...(await mapLimit(weights.slice(0, MAX_FOLDER_WEIGHT_FILES), READ_CONCURRENCY, (w) => readFileFacts(tree, w.path, w.path))));
  addMain(facts, files);
  return finish(facts);
}

/** Files read at once: HTTP sources gain from overlapping requests; results keep their order. */
export const READ_CONCURRENCY = 8;

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({length: Math.min(limit, items.length)}, worker));
  return out;
}

/** Opens, reads and closes one weight file. */
async function readFileFacts(tree: ModelTree, path: string, shown: string, wholeModel = false): Promise<FileFacts> {
  const src = tree.open(path);
  try {
    return await readWeightFile(src, shown, {quoteContent: tree.quoteContent === true, emptyIsError: wholeModel});
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
    for (const [k, v] of Object.entries(f.metadata)) if (!hasOwnKey(facts.metadata, k)) facts.metadata[k] = v;
  }
}

/**
 * JSON as Python's json module writes it: diffusers saves float('-inf') and NaN config values bare (`-Infinity`,
 * `NaN`; DPMSolverMultistepScheduler's lambda_min_clipped in PixArt and SANA repos), which JSON.parse refuses. Those
 * tokens outside strings read as null; anything else malformed still throws.
 */
export function parsePythonJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const relaxed = text.replace(/"(?:[^"\\]|\\.)*"|-?\bInfinity\b|\bNaN\b/g, (m) => (m.startsWith('"') ? m : 'null'));
    if (relaxed === text) throw err;
    return JSON.parse(relaxed);
  }
}

/** Reads a JSON object file with a size cap; malformed JSON is an InvalidModelError naming the file. */
export async function readJson(tree: ModelTree, path: string): Promise<Record<string, unknown>> {
  const text = await tree.readText(path);
  if (text.length > MAX_JSON_BYTES) throw new InvalidModelError(`${path}: JSON file too large (${text.length} bytes)`);
  let parsed: unknown;
  try {
    parsed = parsePythonJson(text);
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
  tree: ModelTree, indexPath: string, byPath: Map<string, TreeEntry>, warnings: string[], target: {files: FileFacts[]; indexKeys?: string[]},
  main?: Facts,
): Promise<ShardIndex> {
  const shownIndex = indexPath === '' ? rootName(tree.name) : indexPath;
  const text = await tree.readText(indexPath);
  const index = parseShardIndex(text, shownIndex);
  target.files.push({path: shownIndex, size: Buffer.byteLength(text), format: 'index', tensors: [], metadata: index.metadata, warnings: []});
  const dir = indexPath === '' ? '' : posix.dirname(indexPath);
  let missing = 0;
  const read = await mapLimit(index.shards, READ_CONCURRENCY, async (shard) => {
    const rel = dir === '.' || dir === '' ? shard : `${dir}/${shard}`;
    if (!tree.singleFile && !byPath.has(rel)) return undefined;
    try {
      return await readFileFacts(tree, rel, rel);
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  });
  const shardFiles: FileFacts[] = [];
  for (const f of read) {
    if (f) shardFiles.push(f);
    else missing++;
  }
  if (missing > 0) {
    warnings.push(`${shownIndex}: ${missing} of ${index.shards.length} shards are not present; tensor names come from the index`);
    target.indexKeys = index.keys;
  }
  if (main) addMain(main, shardFiles);
  else target.files.push(...shardFiles);
  return index;
}

const CONFIG_NAMES = ['config.json', 'scheduler_config.json'];

async function readComponents(tree: ModelTree, modelIndex: Record<string, unknown>, byPath: Map<string, TreeEntry>, facts: Facts): Promise<ComponentFacts[]> {
  const listed = Object.entries(modelIndex).filter(([name, value]) => !name.startsWith('_') && Array.isArray(value) && value.length === 2);
  const results = await mapLimit(listed, READ_CONCURRENCY, async ([name, value]) => {
    const warnings: string[] = [];
    const [lib, cls] = value as unknown[];
    const library = typeof lib === 'string' ? lib : null;
    const className = typeof cls === 'string' ? cls : null;
    const comp: ComponentFacts = {name, library, className, files: [], present: false};
    if (library === null && className === null) return {comp, warnings}; // optional component, not part of this pipeline
    if (name.includes('/') || name.includes('\\') || name === '..' || name === '.') return {comp, warnings};
    const prefix = `${name}/`;
    if (![...byPath.keys()].some((p) => p.startsWith(prefix))) {
      warnings.push(`component ${name} (${className ?? '?'}) is listed in model_index.json but its folder is missing`);
      return {comp, warnings};
    }
    comp.present = true;
    const configName = CONFIG_NAMES.find((c) => byPath.has(prefix + c));
    if (configName) comp.config = await readJson(tree, prefix + configName);
    const weights = await readWeightsIn(tree, name, byPath, warnings);
    comp.files = weights.files;
    if (weights.indexKeys) comp.indexKeys = weights.indexKeys;
    return {comp, warnings};
  });
  for (const r of results) facts.warnings.push(...r.warnings);
  return results.map((r) => r.comp);
}

/**
 * Reads the weights of one component folder ('' = root): a sharded index when present, else the
 * preferred single weight file (non-variant safetensors first, then variants like .fp16, then pickles).
 */
async function readWeightsIn(tree: ModelTree, dir: string, byPath: Map<string, TreeEntry>, warnings: string[]): Promise<{files: FileFacts[]; indexKeys?: string[]}> {
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
  // Ties go to the first path in code-unit order: any fixed order will do, and localeCompare would build ICU's collator
  // on its first call (tens of millions of instructions, a noticeable part of `mgen inspect` on a folder).
  const pick = (list: TreeEntry[]) => [...list].sort((a, b) => rank(a) - rank(b) || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))[0];
  // A sharded index wins only if at least one shard is present or no single weight file exists.
  const idx = pick(indexes);
  const single = pick(safetensors.filter((e) => !e.path.includes('-of-'))) ?? pick(gguf) ?? pick(pickles.filter((e) => !e.path.includes('-of-')));
  if (idx && (!single || here.some((e) => e.path.includes('-of-')))) {
    await readSharded(tree, idx.path, byPath, warnings, target);
    return target;
  }
  if (single) {
    target.files.push(await readFileFacts(tree, single.path, single.path));
    return target;
  }
  return target;
}

