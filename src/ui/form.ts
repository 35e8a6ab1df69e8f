// The generation form, built from the served model: limits from GET /v1/schema, defaults and size presets from
// GET /v1/model (the inspect report), and the pipeline's own parameters under "Advanced", typed and checked the
// way the API's JSON Schema validation checks them (same messages: `field: must be ...`).
import {$} from './api.js';

type Schema = Record<string, any>;

/** GET /v1/serving: how the model runs (the load plan and the worker's hello). */
export interface Serving {
  task?: string;
  pipeline?: string;
  device?: string;
  gpu_name?: string | null;
  dtype?: string;
  offload?: string;
  controlnet?: boolean;
  /** A T2I-Adapter is loaded: it reads the control image too. */
  t2i_adapter?: boolean;
  total_memory_bytes?: number | null;
}

export interface ModelInfo {
  source?: {id?: string};
  id?: string;
  family?: string;
  kind?: string;
  task?: string;
  pipeline?: string;
  variants?: string[];
  components?: Record<string, {present?: boolean}>;
  defaults?: {width?: number; height?: number; steps?: number; guidance_scale?: number};
}

interface FieldType {
  kind: 'integer' | 'number' | 'boolean' | 'string' | 'enum' | 'json';
  nullable: boolean;
  min?: number;
  max?: number;
  values?: unknown[];
  pattern?: string;
  description?: string;
  default?: unknown;
}

const MAIN_NUMBERS = ['width', 'height', 'steps', 'guidance_scale', 'num_images', 'seed'] as const;

/** Size presets per family (the resolutions each was trained around), then the model's own default. */
const PRESETS: Record<string, Array<[number, number]>> = {
  sd1: [[512, 512], [512, 768], [768, 512], [640, 640]],
  sd2: [[768, 768], [512, 512], [768, 1024], [1024, 768]],
  sdxl: [[1024, 1024], [896, 1152], [1152, 896], [832, 1216], [1216, 832], [768, 1344], [1344, 768]],
};
const MEGAPIXEL = [[1024, 1024], [896, 1152], [1152, 896], [832, 1216], [1216, 832]] as Array<[number, number]>;
/** CLIP's window; T5-based families read much longer prompts. */
const CLIP_FAMILIES = new Set(['sd1', 'sd2', 'sdxl', 'sdxl-refiner', 'cascade', 'kolors']);

export function fieldType(s: Schema): FieldType {
  let base = s;
  let nullable = false;
  const alts = (s.anyOf ?? s.oneOf) as Schema[] | undefined;
  if (alts) {
    const real = alts.filter((a) => a.type !== 'null');
    nullable = real.length < alts.length;
    if (real.length !== 1) return {kind: 'json', nullable, description: s.description, default: s.default};
    base = {...real[0], description: s.description, default: s.default};
  }
  let t = base.type as string | string[] | undefined;
  if (Array.isArray(t)) {
    nullable = nullable || t.includes('null');
    const rest = t.filter((x) => x !== 'null');
    t = rest.length === 1 ? rest[0] : undefined;
  }
  const common = {nullable, description: base.description as string | undefined, default: base.default};
  if (Array.isArray(base.enum)) return {...common, kind: 'enum', values: base.enum as unknown[]};
  if (t === 'integer' || t === 'number') return {...common, kind: t, min: base.minimum, max: base.maximum};
  if (t === 'boolean') return {...common, kind: 'boolean'};
  if (t === 'string') return {...common, kind: 'string', pattern: base.pattern};
  return {...common, kind: 'json'};
}

/** The value of one text box for a field of this type, or an error in the API's words; undefined: leave it out. */
export function parseValue(name: string, raw: string, t: FieldType): {value?: unknown; error?: string} {
  const v = raw.trim();
  if (v === '') return {};
  if (v === 'null' && t.nullable) return {value: null};
  if (t.kind === 'integer' || t.kind === 'number') {
    const n = Number(v);
    if (!Number.isFinite(n)) return {error: `${name}: must be ${t.kind}`};
    if (t.kind === 'integer' && !Number.isInteger(n)) return {error: `${name}: must be integer`};
    if (t.min !== undefined && n < t.min) return {error: `${name}: must be >= ${t.min}`};
    if (t.max !== undefined && n > t.max) return {error: `${name}: must be <= ${t.max}`};
    return {value: n};
  }
  if (t.kind === 'boolean') return v === 'true' ? {value: true} : v === 'false' ? {value: false} : {error: `${name}: must be boolean`};
  if (t.kind === 'enum') {
    const hit = t.values?.find((x) => String(x) === v);
    return hit === undefined ? {error: `${name}: must be one of ${JSON.stringify(t.values)}`} : {value: hit};
  }
  if (t.kind === 'string') {
    if (t.pattern && !new RegExp(t.pattern, 'u').test(v)) return {error: `${name}: must match pattern "${t.pattern}"`};
    return {value: v};
  }
  try {
    return {value: JSON.parse(v)};
  } catch {
    return {error: `${name}: not valid JSON`};
  }
}

export class GenForm {
  readonly el = $<HTMLFormElement>('gen-form');
  private advanced = new Map<string, {input: HTMLInputElement | HTMLSelectElement; type: FieldType; wire: string}>();
  private family = 'unknown';
  private limits: Record<string, FieldType> = {};
  model: ModelInfo = {};

  setup(model: ModelInfo, schema: Schema): void {
    this.model = model;
    this.family = model.family ?? 'unknown';
    const props = (schema.properties ?? {}) as Record<string, Schema>;
    for (const name of MAIN_NUMBERS) {
      const input = $<HTMLInputElement>(`f-${name}`);
      const t = props[name] ? fieldType(props[name]) : {kind: 'number' as const, nullable: false};
      this.limits[name] = t;
      if (t.min !== undefined) input.min = String(t.min);
      if (t.max !== undefined) input.max = String(t.max);
      if (!props[name]) input.closest('.field')?.setAttribute('hidden', '');
    }
    const d = model.defaults ?? {};
    const setIfEmpty = (name: string, v: number | undefined): void => {
      const input = $<HTMLInputElement>(`f-${name}`);
      if (v !== undefined) input.placeholder = String(v);
      if (input.value === '' && v !== undefined) input.value = String(v);
    };
    setIfEmpty('width', d.width);
    setIfEmpty('height', d.height);
    setIfEmpty('steps', d.steps);
    setIfEmpty('guidance_scale', d.guidance_scale);
    this.buildPresets(d.width, d.height);
    this.buildAdvanced(props);
    for (const id of ['f-prompt', 'f-negative_prompt']) {
      const ta = $<HTMLTextAreaElement>(id);
      ta.addEventListener('input', () => this.count(ta));
      this.count(ta);
    }
  }

  private buildPresets(w?: number, h?: number): void {
    const sel = $<HTMLSelectElement>('f-size');
    const list: Array<[number, number]> = [...(PRESETS[this.family] ?? (this.family === 'unknown' ? [] : MEGAPIXEL))];
    if (w && h && !list.some(([a, b]) => a === w && b === h)) list.unshift([w, h]);
    sel.replaceChildren(new Option('custom', ''), ...list.map(([a, b]) => new Option(`${a} × ${b}${a === w && b === h ? ' (default)' : ''}`, `${a}x${b}`)));
    const sync = (): void => {
      const v = `${$<HTMLInputElement>('f-width').value}x${$<HTMLInputElement>('f-height').value}`;
      sel.value = [...sel.options].some((o) => o.value === v) ? v : '';
    };
    sel.addEventListener('change', () => {
      const [a, b] = sel.value.split('x');
      if (!a || !b) return;
      $<HTMLInputElement>('f-width').value = a;
      $<HTMLInputElement>('f-height').value = b;
    });
    $('f-width').addEventListener('input', sync);
    $('f-height').addEventListener('input', sync);
    sync();
  }

  private buildAdvanced(props: Record<string, Schema>): void {
    const box = $('advanced-fields');
    box.replaceChildren();
    const pipelineParams = ((props.params?.properties ?? {}) as Record<string, Schema>);
    const entries: Array<[string, Schema, string]> = [];
    if (props.scheduler) entries.push(['scheduler', props.scheduler, 'scheduler']);
    for (const [k, s] of Object.entries(pipelineParams)) entries.push([k, s, `params.${k}`]);
    for (const [name, s, wire] of entries) {
      const t = fieldType(s);
      const field = document.createElement('div');
      field.className = 'field';
      const label = document.createElement('label');
      label.htmlFor = `adv-${name}`;
      label.textContent = name;
      let input: HTMLInputElement | HTMLSelectElement;
      if (t.kind === 'boolean' || t.kind === 'enum') {
        const sel = document.createElement('select');
        const values = t.kind === 'boolean' ? [true, false] : (t.values ?? []);
        sel.append(new Option(t.default !== undefined ? `default (${JSON.stringify(t.default)})` : 'default', ''), ...values.map((v) => new Option(String(v), String(v))));
        input = sel;
      } else {
        const inp = document.createElement('input');
        inp.type = t.kind === 'integer' || t.kind === 'number' ? 'number' : 'text';
        if (inp.type === 'number') {
          inp.step = t.kind === 'integer' ? '1' : 'any';
          if (t.min !== undefined) inp.min = String(t.min);
          if (t.max !== undefined) inp.max = String(t.max);
        }
        inp.placeholder = t.default !== undefined && t.default !== null ? JSON.stringify(t.default) : t.kind === 'json' ? 'JSON' : '';
        input = inp;
      }
      input.id = `adv-${name}`;
      input.dataset.wire = wire;
      if (t.description) input.title = t.description;
      field.append(label, input);
      box.append(field);
      this.advanced.set(name, {input, type: t, wire});
    }
    $('advanced').hidden = entries.length === 0;
  }

  private count(ta: HTMLTextAreaElement): void {
    const out = $(`${ta.id}-count`);
    // An estimate (words and punctuation; CLIP's BPE splits rare words further): the page ships no tokenizer.
    const n = (ta.value.match(/[\p{L}\p{N}]+|[^\s\p{L}\p{N}]/gu) ?? []).length;
    const limit = CLIP_FAMILIES.has(this.family) ? 75 : null;
    out.textContent = limit ? `≈${n} / ${limit} tokens` : `≈${n} tokens`;
    out.classList.toggle('over', limit !== null && n > limit);
  }

  /** The native request the form describes, or the first error in the API's words. */
  read(): {request?: Record<string, unknown>; error?: string; focus?: HTMLElement} {
    const prompt = $<HTMLTextAreaElement>('f-prompt');
    if (!prompt.value.trim()) return {error: 'prompt: required', focus: prompt};
    const req: Record<string, unknown> = {prompt: prompt.value};
    const neg = $<HTMLTextAreaElement>('f-negative_prompt').value;
    if (neg.trim()) req.negative_prompt = neg;
    for (const name of MAIN_NUMBERS) {
      const input = $<HTMLInputElement>(`f-${name}`);
      if (input.closest('.field')?.hasAttribute('hidden')) continue;
      const r = parseValue(name, input.value, this.limits[name] ?? {kind: 'number', nullable: false});
      if (r.error) return {error: r.error, focus: input};
      if (r.value !== undefined) req[name] = r.value;
    }
    for (const n of ['width', 'height']) {
      if (typeof req[n] === 'number' && (req[n] as number) % 8 !== 0) return {error: `${n}: must be multiple of 8`, focus: $(`f-${n}`)};
    }
    const params: Record<string, unknown> = {};
    for (const [name, {input, type, wire}] of this.advanced) {
      const r = parseValue(wire, input.value, type);
      if (r.error) {
        ($('advanced') as HTMLDetailsElement).open = true;
        return {error: r.error, focus: input};
      }
      if (r.value === undefined) continue;
      if (wire.startsWith('params.')) params[name] = r.value;
      else req[wire] = r.value;
    }
    if (Object.keys(params).length) req.params = params;
    return {request: req};
  }

  /** Puts a request's values into the form (PNG info, a gallery entry's parameters). */
  fill(req: Record<string, unknown>): void {
    const set = (id: string, v: unknown): void => {
      const el = $<HTMLInputElement | HTMLTextAreaElement>(id);
      el.value = v === undefined || v === null ? '' : String(v);
      el.dispatchEvent(new Event('input', {bubbles: true}));
    };
    set('f-prompt', req.prompt ?? '');
    set('f-negative_prompt', req.negative_prompt ?? '');
    for (const name of MAIN_NUMBERS) if (req[name] !== undefined) set(`f-${name}`, req[name]);
    if (req.seed === undefined) set('f-seed', '');
    const params = (req.params ?? {}) as Record<string, unknown>;
    for (const [name, {input, wire}] of this.advanced) {
      const v = wire.startsWith('params.') ? params[name] : req[wire];
      input.value = v === undefined ? '' : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
    }
  }
}
