// What a load needs, from a repo listing: for a diffusers repo the components model_index.json names, one
// weight set per component (the --variant falling back to the default, safetensors over .bin), their configs
// and tokenizer files, never the flax/onnx/ckpt/ema/openvino duplicates; for a single-file or adapter repo the
// one weight file (several candidates: the caller asks or fails). --all, --include/--exclude globs.

export interface ListedFile {
  path: string;
  size: number;
}

export interface SelectOptions {
  all?: boolean;
  include?: string[];
  exclude?: string[];
  variant?: string;
  /** A file (or folder) the MODEL_ID or --file named. */
  file?: string;
}

export interface Selection {
  files: string[];
  /** Set when a single weight file must be chosen among several; `files` then holds the shared extras. */
  choices?: string[];
  why: string;
}

/** fnmatch-style glob (as huggingface_hub's allow/ignore patterns): * and ? also cross '/'. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        let body = glob.slice(i + 1, end);
        if (body.startsWith('!')) body = '^' + body.slice(1);
        re += `[${body.replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

export function matchesAny(path: string, globs: string[] | undefined): boolean {
  return (globs ?? []).some((g) => globToRegExp(g).test(path) || (g.endsWith('/') && path.startsWith(g)));
}

const WEIGHT_EXT = /\.(safetensors|sft|bin|ckpt|pt|pth|gguf)$/i;
const NEVER = /(^|\/)(flax_model|diffusion_flax_model)[^/]*$|\.(msgpack|onnx|onnx_data|pb|h5|ot|tflite|mlmodel|xml)$|(^|\/)(onnx|openvino|flax|coreml|tf)(\/|$)|openvino/i;
const EMA = /(^|[._/-])ema([._-]|only|$)/i;
const SUPPORT = /\.(json|txt|model|tiktoken|py|yaml|jinja)$/i;
const SHARD = /-\d{5}-of-\d{5}$/;

interface WeightName {
  name: string;
  base: string;
  variant?: string;
  format: 'safetensors' | 'bin' | 'other';
}

/** Splits `diffusion_pytorch_model.fp16-00001-of-00002.safetensors` into base/variant/format. */
function parseWeight(name: string): WeightName {
  const ext = /\.([a-z]+)$/i.exec(name)![1]!.toLowerCase();
  const stem = name.slice(0, -(ext.length + 1)).replace(SHARD, '');
  const dot = stem.lastIndexOf('.');
  const base = dot > 0 ? stem.slice(0, dot) : stem;
  const variant = dot > 0 ? stem.slice(dot + 1) : undefined;
  const format = ext === 'safetensors' || ext === 'sft' ? 'safetensors' : ext === 'bin' ? 'bin' : 'other';
  return {name, base, ...(variant ? {variant} : {}), format};
}

/** Index files: `<base>.safetensors.index[.variant].json`. */
function parseIndex(name: string): {format: string; variant?: string} | undefined {
  const m = /^.+\.(safetensors|bin)\.index(?:\.([^.]+))?\.json$/.exec(name);
  return m ? {format: m[1] === 'bin' ? 'bin' : 'safetensors', ...(m[2] ? {variant: m[2]} : {})} : undefined;
}

/** One folder's files (direct children): its weights for the variant, safetensors first, plus support files. */
export function pickComponentFiles(folder: string, names: string[], variant?: string): string[] {
  const prefix = folder ? folder + '/' : '';
  const weights = names.filter((n) => WEIGHT_EXT.test(n) && !NEVER.test(prefix + n) && !EMA.test(n) && !/\.(ckpt|pt|pth)$/i.test(n)).map(parseWeight);
  const pickFrom = (ws: WeightName[]) => {
    const st = ws.filter((w) => w.format === 'safetensors');
    return st.length > 0 ? st : ws.filter((w) => w.format === 'bin');
  };
  let chosen: WeightName[] = [];
  if (variant) chosen = pickFrom(weights.filter((w) => w.variant === variant));
  if (chosen.length === 0) chosen = pickFrom(weights.filter((w) => w.variant === undefined));
  if (chosen.length === 0) chosen = pickFrom(weights);
  const chosenFormat = chosen[0]?.format;
  const chosenVariant = chosen[0]?.variant;
  const out = chosen.map((w) => w.name);
  for (const n of names) {
    if (WEIGHT_EXT.test(n) || NEVER.test(prefix + n) || !SUPPORT.test(n)) continue;
    const idx = parseIndex(n);
    if (idx && (idx.format !== chosenFormat || idx.variant !== chosenVariant)) continue;
    out.push(n);
  }
  return out.map((n) => prefix + n).sort();
}

function childrenOf(files: ListedFile[], folder: string): string[] {
  const prefix = folder ? folder + '/' : '';
  return files.filter((f) => f.path.startsWith(prefix) && !f.path.slice(prefix.length).includes('/')).map((f) => f.path.slice(prefix.length));
}

/** Components named in model_index.json, skipping [null, null] and metadata keys. */
export function componentsOf(modelIndex: Record<string, unknown>): string[] {
  return Object.entries(modelIndex)
    .filter(([k, v]) => !k.startsWith('_') && Array.isArray(v) && v.length === 2 && v[0] !== null && v[1] !== null)
    .map(([k]) => k);
}

/** Weight files a single-file/adapter repo offers as "the model" (duplicates and ema copies set aside). */
export function singleFileCandidates(files: ListedFile[], variant?: string): string[] {
  let c = files.map((f) => f.path).filter((p) => WEIGHT_EXT.test(p) && !NEVER.test(p) && !/(^|\/)training_args\.bin$|optimizer|scheduler\.(pt|bin)$/i.test(p));
  const st = c.filter((p) => /\.(safetensors|sft|gguf)$/i.test(p));
  if (st.length > 0) c = st;
  const noEma = c.filter((p) => !EMA.test(p.split('/').pop()!));
  if (noEma.length > 0) c = noEma;
  if (variant) {
    const v = c.filter((p) => p.toLowerCase().includes(variant.toLowerCase()));
    if (v.length > 0) c = v;
  }
  return c.sort();
}

export function selectFiles(files: ListedFile[], modelIndex: Record<string, unknown> | undefined, opts: SelectOptions = {}): Selection {
  const finish = (paths: string[], why: string, choices?: string[]): Selection => {
    const keep = paths.filter((p) => !matchesAny(p, opts.exclude));
    return {files: [...new Set(keep)].sort(), why, ...(choices ? {choices} : {})};
  };
  if (opts.all) return finish(files.map((f) => f.path), 'all files (--all)');
  if (opts.include && opts.include.length > 0) return finish(files.filter((f) => matchesAny(f.path, opts.include)).map((f) => f.path), 'files matching --include');
  if (opts.file) {
    const f = opts.file.replace(/\/+$/, '');
    if (files.some((x) => x.path === f)) return finish([f], `the file ${f}`);
    const inFolder = files.filter((x) => x.path.startsWith(f + '/'));
    if (inFolder.length > 0) {
      const sub = selectFiles(inFolder.map((x) => ({...x, path: x.path.slice(f.length + 1)})), undefined, {...opts, file: undefined});
      const up = (p: string) => `${f}/${p}`;
      return {files: sub.files.map(up), why: `${sub.why} in ${f}`, ...(sub.choices ? {choices: sub.choices.map(up)} : {})};
    }
    return finish([], `no file ${f}`);
  }
  if (modelIndex) {
    const out = ['model_index.json'];
    for (const comp of componentsOf(modelIndex)) out.push(...pickComponentFiles(comp, childrenOf(files, comp), opts.variant));
    return finish(out, `diffusers pipeline: model_index.json and its ${componentsOf(modelIndex).length} components${opts.variant ? ` (variant ${opts.variant} where present)` : ''}`);
  }
  const rootNames = childrenOf(files, '');
  if (rootNames.includes('config.json') && rootNames.some((n) => /^(diffusion_pytorch_model|model|pytorch_model)[.-]/.test(n))) {
    return finish(pickComponentFiles('', rootNames, opts.variant), 'a single component (config.json + weights)');
  }
  const candidates = singleFileCandidates(files, opts.variant);
  const extras = rootNames.filter((n) => /\.(json|yaml)$/i.test(n) && !/^(\.|README)/.test(n) && n !== 'config.json');
  if (candidates.length === 1) return finish([candidates[0]!, ...extras.filter((e) => e.endsWith('.yaml'))], `the one weight file ${candidates[0]}`);
  if (candidates.length === 0) return finish([], 'no weight files');
  return {...finish([], 'several weight files: one must be chosen'), choices: candidates};
}
