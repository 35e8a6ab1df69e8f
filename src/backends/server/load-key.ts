// The load options a serve is keyed by, from the same SessionOptions `generate` and `serve` build from their
// flags, so both sides compute the same key.
import {existsSync} from 'node:fs';
import {resolve} from 'node:path';
import type {SessionOptions} from '../session.js';
import type {LoadKey} from './state.js';

export type LoadOptionsLike = Pick<
  SessionOptions,
  'modelId' | 'base' | 'loras' | 'embeddings' | 'controlnet' | 'vae' | 'dtype' | 'offload' | 'memory' | 'quantize' | 'device' | 'allowPickle' | 'trustRemoteCode' | 'compile'
  | 'hypernetworks' | 'aesthetic' | 'ipAdapter' | 't2iAdapter'
>;

/** A local path means the same model however it is written (./m, /abs/m). */
function canonicalId(id: string | null | undefined): string | null {
  if (!id) return null;
  const t = id.trim();
  if (/^[a-z]+:/i.test(t) && !/^[a-z]:[\\/]/i.test(t)) return t;
  return existsSync(t) ? resolve(t) : t;
}

export function loadKeyFor(o: LoadOptionsLike): LoadKey {
  return {
    modelId: canonicalId(o.modelId)!,
    base: canonicalId(o.base),
    loras: (o.loras ?? []).map((l) => ({id: canonicalId(l.id), scale: l.scale})),
    embeddings: (o.embeddings ?? []).map((e) => ({id: canonicalId(e.id), token: e.token ?? null})),
    controlnet: canonicalId(o.controlnet),
    vae: canonicalId(o.vae),
    dtype: o.dtype ?? 'auto',
    offload: o.offload ?? 'auto',
    memory: o.memory ?? 'auto',
    quantize: o.quantize ?? 'none',
    device: o.device ?? 'auto',
    allowPickle: Boolean(o.allowPickle),
    trustRemoteCode: Boolean(o.trustRemoteCode),
    compile: Boolean(o.compile),
    // Only when given, so the keys of serves without them stay what they were.
    ...(o.hypernetworks?.length ? {hypernetworks: o.hypernetworks.map((h) => ({id: canonicalId(h.id), scale: h.scale}))} : {}),
    ...(o.aesthetic ? {aesthetic: {...o.aesthetic, id: canonicalId(o.aesthetic.id), clip: canonicalId(o.aesthetic.clip)}} : {}),
    ...(o.ipAdapter ? {ipAdapter: {...o.ipAdapter, id: canonicalId(o.ipAdapter.id)}} : {}),
    ...(o.t2iAdapter ? {t2iAdapter: {id: canonicalId(o.t2iAdapter.id), scale: o.t2iAdapter.scale}} : {}),
  };
}
