// Read-only views over tensor names and shapes, with the wrapper prefixes of REFERENCE §0 stripped.
// Shared by the rules; memoized per Facts object so 30 rules do not rebuild the same maps.
import type {ComponentFacts, Facts, TensorInfo} from '../types.js';

export class KeyView {
  readonly names: string[];
  private readonly byName: Map<string, TensorInfo | undefined>;

  constructor(entries: Iterable<[string, TensorInfo | undefined]>) {
    this.byName = new Map(entries);
    this.names = [...this.byName.keys()];
  }

  get size(): number {
    return this.names.length;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  shape(name: string): number[] | undefined {
    const t = this.byName.get(name);
    return t && t.shape.length > 0 ? t.shape : undefined;
  }

  tensor(name: string): TensorInfo | undefined {
    return this.byName.get(name);
  }

  /** Dimension `dim` of a tensor's shape (PyTorch order), negative counts from the end. */
  dim(name: string, dim: number): number | undefined {
    const s = this.shape(name);
    if (!s) return undefined;
    return s[dim < 0 ? s.length + dim : dim];
  }

  hasPrefix(prefix: string): boolean {
    return this.names.some((n) => n.startsWith(prefix));
  }

  countPrefix(prefix: string): number {
    let c = 0;
    for (const n of this.names) if (n.startsWith(prefix)) c++;
    return c;
  }

  find(re: RegExp): string | undefined {
    return this.names.find((n) => re.test(n));
  }

  filter(re: RegExp): string[] {
    return this.names.filter((n) => re.test(n));
  }

  count(re: RegExp): number {
    let c = 0;
    for (const n of this.names) if (re.test(n)) c++;
    return c;
  }

  /** Largest N in names matching `<prefix>N.` (block counts), or -1. */
  maxIndex(prefix: string): number {
    let max = -1;
    for (const n of this.names) {
      if (!n.startsWith(prefix)) continue;
      const m = /^(\d+)\./.exec(n.slice(prefix.length));
      if (m) max = Math.max(max, Number(m[1]));
    }
    return max;
  }

  /** Names under `prefix`, with the prefix removed. */
  sub(prefix: string): KeyView {
    const out: Array<[string, TensorInfo | undefined]> = [];
    for (const n of this.names) if (n.startsWith(prefix)) out.push([n.slice(prefix.length), this.byName.get(n)]);
    return new KeyView(out);
  }

  /** "name [a, b]" for evidence lines. */
  describe(name: string): string {
    const s = this.shape(name);
    return s ? `${name} ${JSON.stringify(s)}` : name;
  }
}

/** Prefixes that wrap the UNet/DiT in single-file checkpoints, most specific first. */
export const DIFFUSION_PREFIXES = ['model.diffusion_model.', 'diffusion_model.', 'model.model.', 'net.', 'unet.', 'transformer.'];

const rootViews = new WeakMap<Facts, KeyView>();
const dmViews = new WeakMap<Facts, {view: KeyView; prefix: string}>();
const compViews = new WeakMap<ComponentFacts, KeyView>();

/** Every tensor of the model's main weight files (single file or shards). */
export function rootView(facts: Facts): KeyView {
  let v = rootViews.get(facts);
  if (!v) {
    const entries: Array<[string, TensorInfo | undefined]> = [...facts.tensors.entries()];
    // Sharded files whose shards are absent: names from the index weight_map, shapes unknown.
    if (entries.length === 0 && facts.indexKeys) for (const k of facts.indexKeys) entries.push([k, undefined]);
    v = new KeyView(entries);
    rootViews.set(facts, v);
  }
  return v;
}

/** The diffusion model's tensors with its wrapper prefix stripped (bare files: the whole set). */
export function diffusionView(facts: Facts): {view: KeyView; prefix: string} {
  let d = dmViews.get(facts);
  if (!d) {
    const root = rootView(facts);
    d = {view: root, prefix: ''};
    for (const p of DIFFUSION_PREFIXES) {
      const c = root.countPrefix(p);
      // The prefix must cover a real share of the file, not one stray key.
      if (c > 0 && c >= Math.min(4, root.size)) {
        d = {view: root.sub(p), prefix: p};
        break;
      }
    }
    dmViews.set(facts, d);
  }
  return d;
}

/** Tensors of one diffusers component (weights read, else index weight_map names without shapes). */
export function componentView(comp: ComponentFacts | undefined): KeyView {
  if (!comp) return new KeyView([]);
  let v = compViews.get(comp);
  if (!v) {
    const entries: Array<[string, TensorInfo | undefined]> = [];
    for (const f of comp.files) for (const t of f.tensors) entries.push([t.name, t]);
    if (entries.length === 0 && comp.indexKeys) for (const k of comp.indexKeys) entries.push([k, undefined]);
    v = new KeyView(entries);
    compViews.set(comp, v);
  }
  return v;
}

export function component(facts: Facts, name: string): ComponentFacts | undefined {
  return facts.components.find((c) => c.name === name);
}

/** model_index.json `_class_name`, or the lone config's `_class_name` / first `architectures` entry. */
export function pipelineClass(facts: Facts): string | undefined {
  const c = facts.modelIndex?._class_name;
  return typeof c === 'string' ? c : undefined;
}

export function configClass(config: Record<string, unknown> | undefined): string | undefined {
  if (!config) return undefined;
  if (typeof config._class_name === 'string') return config._class_name;
  const a = config.architectures;
  if (Array.isArray(a) && typeof a[0] === 'string') return a[0];
  return undefined;
}

/** Class name of a component: model_index entry, else its config. */
export function componentClass(facts: Facts, name: string): string | undefined {
  const c = component(facts, name);
  return c?.className ?? configClass(c?.config) ?? undefined;
}

export function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** Lower-cased metadata value or ''. */
export function meta(facts: Facts, key: string): string {
  const v = Object.prototype.hasOwnProperty.call(facts.metadata, key) ? facts.metadata[key] : undefined;
  return typeof v === 'string' ? v.toLowerCase() : '';
}
