// Human output of `mgen inspect`: a summary a person reads in five seconds, and the --keys table.
import type {ModelReport, TensorInfo} from '../detect/types.js';
import {FAMILIES} from '../detect/families.js';
import {ADDS_TO_BASE} from '../detect/memory.js';
import {escapeControl as esc} from './escape-control.js';

export interface Style {
  bold(s: string): string;
  dim(s: string): string;
  warn(s: string): string;
}

export function makeStyle(color: boolean): Style {
  const wrap = (a: number, b: number) => (s: string) => (color ? `\u001b[${a}m${s}\u001b[${b}m` : s);
  return {bold: wrap(1, 22), dim: wrap(2, 22), warn: wrap(33, 39)};
}

/** Colour only on a TTY and never with NO_COLOR set. */
export function colorEnabled(stream: NodeJS.WriteStream = process.stdout): boolean {
  return Boolean(stream.isTTY) && !('NO_COLOR' in process.env && process.env.NO_COLOR !== undefined);
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  do {
    v /= 1000;
    i++;
  } while (v >= 1000 && i < units.length - 1);
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(v >= 10 ? 1 : 2)} ${units[i]}`;
}

export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} K`;
  return String(n);
}

const KIND_WORDS: Record<string, string> = {
  checkpoint: 'checkpoint', lora: 'LoRA', 'textual-inversion': 'textual-inversion embedding', controlnet: 'ControlNet',
  vae: 'VAE', 'ip-adapter': 'IP-Adapter', 't2i-adapter': 'T2I-Adapter', 'text-encoder': 'text encoder',
  'clip-vision': 'image encoder', upscaler: 'upscaler', hypernetwork: 'hypernetwork', 'aesthetic-embedding': 'aesthetic-gradient embedding', unknown: 'model',
};

const article = (word: string) => (/^[aeiou]/i.test(word) && !/^(uni|eu)/i.test(word) ? 'An' : 'A');

/** One sentence: what it is. */
export function describe(r: ModelReport): string {
  if (r.kind === 'unknown') return 'Not recognized as any supported model kind.';
  const fam = r.family === 'unknown' ? '' : FAMILIES[r.family].label;
  const v = r.variants.length ? ` (${r.variants.join(', ')})` : '';
  const what = KIND_WORDS[r.kind] ?? r.kind;
  if (r.kind === 'checkpoint') {
    // "complete" only when every part is there and weights were read: an index or configs alone are not a model.
    const present = Object.entries(r.components).filter(([, c]) => c.present).map(([n]) => n);
    const unread = r.warnings.find((w) => w.startsWith('no weight files read for: '))?.slice('no weight files read for: '.length).replace(/ \(configs only\)$/, '');
    const scope = r.parameters === 0 ? 'but no weights were read (configs or index only)'
      : r.missing.length > 0 ? `${present.join(' + ') || 'partial'} only`
      : unread ? `all parts listed, but no weights read for ${unread}` : 'complete';
    return `${article(fam)} ${fam}${v} ${what}, ${scope}.`;
  }
  const fmt = r.adapter_format ? ` in ${r.adapter_format} format` : '';
  if (r.family === 'unknown') return `${article(what)} ${what}${v}${fmt}${r.kind === 'lora' ? ' for an unrecognized base model' : ''}.`;
  return `${article(what)} ${what}${v}${fmt} for ${fam}.`;
}

function vram(r: ModelReport): string {
  const m = r.memory.estimated_peak_vram_bytes;
  if (ADDS_TO_BASE.includes(r.kind)) return `adds ~${formatBytes(m.fp16)} fp16/bf16, ~${formatBytes(m.fp32)} fp32 to the base model's`;
  const at = r.defaults && r.kind === 'checkpoint' ? ` at ${r.defaults.width}x${r.defaults.height}` : r.kind === 'checkpoint' ? '' : ' (this file alone)';
  return `~${formatBytes(m.fp16)} fp16/bf16, ~${formatBytes(m.fp32)} fp32${at}`;
}

export function renderInspect(r: ModelReport, style: Style): string {
  const rows: Array<[string, string]> = [];
  rows.push(['kind', `${r.kind}${r.adapter_format ? ` (${r.adapter_format})` : ''}`]);
  rows.push(['family', `${r.family}${r.variants.length ? `  [${r.variants.join(', ')}]` : ''}`]);
  rows.push(['format', r.format]);
  const size = r.files.reduce((s, f) => s + f.size, 0);
  rows.push(['precision', r.precision]);
  if (r.parameters > 0) rows.push(['size', `${formatBytes(r.memory.weights_bytes)} of weights, ${formatCount(r.parameters)} parameters`]);
  else rows.push(['size', `no weight data read (${r.files.length} file(s), ${formatBytes(size)} on disk)`]);
  if (r.kind !== 'unknown') rows.push(['VRAM', r.parameters > 0 ? vram(r) : 'unknown (no weights read)']);
  if (r.pipeline) rows.push(['pipeline', `${r.pipeline} (${r.task})`]);
  if (r.prediction && r.prediction !== 'flow') rows.push(['prediction', r.prediction]);
  if (r.defaults) rows.push(['defaults', `${r.defaults.width}x${r.defaults.height}, ${r.defaults.steps} steps, guidance ${r.defaults.guidance_scale}`]);
  if (r.missing.length) rows.push(['missing', r.missing.join(', ')]);
  if (r.base) rows.push(['base', `${r.base.family}${r.base.suggested ? ` (e.g. ${r.base.suggested})` : ''}`]);
  for (const q of r.requires ?? []) rows.push(['needs', `${q.role.replace('-', ' ')} ${q.id}: ${q.what}`]);
  const sec: string[] = [];
  if (r.security.pickle) sec.push(r.security.unsafe_globals.length ? `pickle with unsafe globals: ${r.security.unsafe_globals.join(', ')}` : r.kind === 'hypernetwork' || r.kind === 'aesthetic-embedding' ? 'pickle (plain data: loaded with torch\'s weights-only loader)' : 'pickle (loaded only with --allow-pickle, weights-only)');
  if (r.security.trust_remote_code_needed) sec.push('needs trust_remote_code (custom code)');
  if (sec.length) rows.push(['security', sec.join('; ')]);
  const width = Math.max(...rows.map(([k]) => k.length));
  // Everything below may carry text from the files (names, class names, paths): control characters are escaped
  // before styling, so a file cannot retitle or clear the terminal.
  const lines = [style.bold(esc(r.source.id)), `  ${esc(describe(r))}`];
  for (const [k, v] of rows) lines.push(`  ${style.dim(k.padEnd(width))}  ${k === 'security' ? style.warn(esc(v)) : esc(v)}`);
  if (r.kind === 'unknown') for (const e of r.evidence.filter((x) => x.rule === 'none')) for (const f of e.facts) lines.push(`  ${style.dim('found'.padEnd(width))}  ${esc(f)}`);
  for (const w of r.warnings.slice(0, 8)) lines.push(`  ${style.warn('warning'.padEnd(width))}  ${esc(w)}`);
  if (r.warnings.length > 8) lines.push(`  ${' '.repeat(width)}  (${r.warnings.length - 8} more with --json)`);
  return lines.join('\n') + '\n';
}

/** `--filter` glob: `*` any run, `?` one character; matched against the whole tensor name. */
export function globToRegExp(glob: string): RegExp {
  const esc = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${esc}$`);
}

export interface KeyRow {
  component?: string;
  tensor: TensorInfo;
}

/** Rows whose full name (component/name) or bare tensor name matches the glob. */
export function filterKeys(rows: KeyRow[], filter?: string): KeyRow[] {
  if (!filter) return rows;
  const re = globToRegExp(filter);
  return rows.filter(({component, tensor}) => re.test(tensor.name) || (component !== undefined && re.test(`${component}/${tensor.name}`)));
}

export function renderKeys(rows: KeyRow[]): string {
  const named = rows.map(({component, tensor}) => ({name: esc(component ? `${component}/${tensor.name}` : tensor.name), dtype: esc(tensor.dtype), t: tensor}));
  const w = Math.max(4, ...named.map((x) => x.name.length));
  const d = Math.max(5, ...named.map((x) => x.dtype.length));
  const out = [`${'name'.padEnd(w)}  ${'dtype'.padEnd(d)}  shape`];
  for (const x of named) out.push(`${x.name.padEnd(w)}  ${x.dtype.padEnd(d)}  [${x.t.shape.join(', ')}]`);
  out.push(`${named.length} tensor(s)`);
  return out.join('\n') + '\n';
}
