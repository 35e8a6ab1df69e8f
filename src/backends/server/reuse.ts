// The client side of serve reuse: `mgen generate` asks for a running serve of the same model + plan on this
// machine and, when there is one, sends its request to POST /v1/generate instead of starting a worker.
import {mkdir, rename, writeFile} from 'node:fs/promises';
import {dirname} from 'node:path';
import type {LoadPlan} from '../worker/types.js';
import {readLiveState, type ServeState} from './state.js';
import type {NativeRequest, NativeResponse} from './types.js';

export interface ReuseTarget {
  state: ServeState;
  url: string;
}

/** A running serve of this model + plan whose /readyz answers, or null (cold start instead). */
export async function findRunningServe(opts: {home: string; modelId: string; plan: LoadPlan; token?: string; timeoutMs?: number}): Promise<ReuseTarget | null> {
  const state = readLiveState(opts.home, opts.modelId, opts.plan);
  if (!state) return null;
  if (state.auth && !opts.token) return null;
  try {
    const res = await fetch(`${state.url}/readyz`, {
      headers: authHeaders(opts.token),
      signal: AbortSignal.timeout(opts.timeoutMs ?? 2000),
    });
    await res.arrayBuffer();
    return res.ok ? {state, url: state.url} : null;
  } catch {
    return null;
  }
}

export class ServeRequestError extends Error {
  constructor(readonly status: number, message: string, readonly type?: string) {
    super(message);
  }
}

/** POST /v1/generate on a running serve; aborting the signal drops the connection, which cancels the job. */
export async function generateViaServe(opts: {
  url: string;
  request: NativeRequest;
  token?: string;
  signal?: AbortSignal;
}): Promise<NativeResponse> {
  const res = await fetch(`${opts.url}/v1/generate`, {
    method: 'POST',
    headers: {'content-type': 'application/json', ...authHeaders(opts.token)},
    body: JSON.stringify({...opts.request, response_format: 'b64_json'}),
    signal: opts.signal,
  });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ServeRequestError(res.status, `serve answered ${res.status} with a non-JSON body`);
  }
  if (!res.ok) {
    const e = (body as {error?: {message?: string; type?: string}}).error;
    throw new ServeRequestError(res.status, e?.message ?? `serve answered ${res.status}`, e?.type);
  }
  return body as NativeResponse;
}

/** Writes each returned image to its path (temp + rename), in order. */
export async function writeServeImages(res: NativeResponse, paths: string[]): Promise<void> {
  if (res.images.length < paths.length) throw new Error(`serve returned ${res.images.length} images, expected ${paths.length}`);
  for (const [i, path] of paths.entries()) {
    const b64 = res.images[i]!.b64_json;
    if (!b64) throw new Error('serve returned an image without data');
    await mkdir(dirname(path), {recursive: true});
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, Buffer.from(b64, 'base64'));
    await rename(tmp, path);
  }
}

function authHeaders(token?: string): Record<string, string> {
  return token ? {authorization: `Bearer ${token}`} : {};
}
