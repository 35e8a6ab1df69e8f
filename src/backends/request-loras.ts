// Per-request LoRAs: each MODEL_ID (local path, HF repo/file, civitai:, builtin:) resolved and pulled the way
// any MODEL_ID is, then checked by its ModelReport to be a LoRA for the loaded model's family. Resolutions are
// cached for the session (a second request with the same name does not detect again); failures are not.
import {statSync} from 'node:fs';
import {isAbsolute, resolve} from 'node:path';
import type {Family} from '../detect/types.js';
import {MgenError, NetworkError, UsageError} from '../errors.js';
import {checkSafety} from './plan.js';
import {describeModelError, ModelNotAllowedError, RequestModelPolicy} from './request-model-policy.js';
import type {ResolvedModel, ResolveOptions} from './resolve-model.js';

export interface RequestLora {
  /** The MODEL_ID as the request named it. */
  id: string;
  scale: number;
}

export interface ResolvedLora extends RequestLora {
  /** Absolute local file or folder the worker loads. */
  path: string;
}

export interface RequestLoraOptions {
  resolve: (id: string, opts: ResolveOptions) => Promise<ResolvedModel>;
  ropts: ResolveOptions;
  /** The loaded checkpoint's family. */
  family: Family;
  allowPickle?: boolean;
  trustRemoteCode?: boolean;
  /** How an entry is named in errors (default `loras[i].name`, the request field). */
  field?: (index: number) => string;
}

/** A local path keys by what is on disk now (a replaced file is detected again); other ids by themselves. */
function cacheKey(id: string): string {
  const t = id.trim();
  if (/^[a-z][a-z0-9+-]*:/i.test(t) && !/^[a-z]:[\\/]/i.test(t)) return t;
  try {
    const abs = resolve(t);
    const st = statSync(abs);
    return `${abs}\0${st.mtimeMs}\0${st.size}`;
  } catch {
    return t;
  }
}

/** Resolutions remembered (oldest forgotten first): plenty for the LoRAs one server sees, bounded all the same. */
const MAX_REMEMBERED = 256;

export class RequestLoraResolver {
  private readonly cache = new Map<string, Promise<ResolvedModel>>();

  constructor(private readonly o: RequestLoraOptions) {}

  /** How many distinct LoRA ids have been resolved (tests, metrics). */
  get size(): number {
    return this.cache.size;
  }

  async resolveAll(loras: RequestLora[]): Promise<ResolvedLora[]> {
    const out = await Promise.all(loras.map((l, i) => this.resolveOne(l, i)));
    out.forEach((l, i) => {
      const first = out.findIndex((o) => o.path === l.path);
      const field = this.o.field?.(i) ?? `loras[${i}].name`;
      if (first !== i) throw new UsageError(`${field}: the same LoRA as loras[${first}]; give it once with the scale you want`, {field});
    });
    return out;
  }

  private async resolveOne(l: RequestLora, index: number): Promise<ResolvedLora> {
    const field = this.o.field?.(index) ?? `loras[${index}].name`;
    const fail = (msg: string): never => {
      throw new UsageError(`${field}: ${msg}`, {field});
    };
    if (!Number.isFinite(l.scale)) fail('scale must be a number');
    const key = cacheKey(l.id);
    let pending = this.cache.get(key);
    if (!pending) {
      pending = this.o.resolve(l.id, this.o.ropts);
      this.cache.set(key, pending);
      if (this.cache.size > MAX_REMEMBERED) this.cache.delete(this.cache.keys().next().value!);
      pending.catch(() => this.cache.delete(key));
    }
    let model: ResolvedModel;
    try {
      model = await pending;
    } catch (err) {
      // The words, never the error's own text: that may quote the file or what a URL answered.
      if (err instanceof ModelNotAllowedError) throw err;
      const refused = RequestModelPolicy.refusalMessage(err);
      if (refused) throw new ModelNotAllowedError(`${field}: ${refused}`, {field});
      const builtin = /^builtin:/i.test(l.id.trim()) && err instanceof MgenError;
      const local = !/^[a-z][a-z0-9+.-]*:/i.test(l.id.trim()) && (isAbsolute(l.id.trim()) || /^\.{0,2}\//.test(l.id.trim()));
      const msg = builtin ? err.message + (err.hint ? ` (${err.hint})` : '') : describeModelError(err, {local});
      // A registry that cannot be reached is not the request's fault: keep its type (and status).
      if (err instanceof NetworkError) throw new NetworkError(`${field}: ${l.id}: ${msg}`, {field});
      return fail(`cannot use ${l.id}: ${msg}`);
    }
    const r = model.report;
    if (r.kind !== 'lora') fail(`${l.id} is ${r.kind === 'unknown' ? 'not a model mgen recognizes' : `a ${r.kind}`}, not a LoRA`);
    try {
      checkSafety({path: model.path, report: r, id: l.id}, {allowPickle: this.o.allowPickle, trustRemoteCode: this.o.trustRemoteCode});
    } catch {
      // In words: the scan's findings (global names) come from the file.
      fail(r.security.trust_remote_code_needed && !(r.security.pickle || r.format === 'pickle')
        ? `${l.id} needs custom code from its repository; this server does not run it`
        : `${l.id} is a pickle file; this server does not load pickles (the operator can allow it with --allow-pickle)`);
    }
    const need = r.base?.family ?? r.family;
    if (need && need !== 'unknown' && this.o.family !== 'unknown' && need !== this.o.family) {
      fail(`${l.id} is a LoRA for ${need} but the loaded model is ${this.o.family}`);
    }
    return {id: l.id, scale: l.scale, path: resolve(model.path)};
  }
}
