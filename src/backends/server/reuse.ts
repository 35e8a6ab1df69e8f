// The client side of serve reuse: `mgen generate` looks for a running serve of the same model and load options
// on this machine and, when there is one, sends its request to POST /v1/generate instead of starting a worker,
// then writes the returned PNGs (metadata chunks included) to the requested paths.
import {MEDIA_TYPES} from '../media-output.js';
import {readFile, mkdir, rename, writeFile} from 'node:fs/promises';
import {Agent, request as httpRequest} from 'node:http';
import {dirname} from 'node:path';
import {GenerationError, InterruptedError, UsageError} from '../../errors.js';
import {loadKeyFor, type LoadOptionsLike} from './load-key.js';
import type {SessionGenerateInput} from './session-port.js';
import {readLiveState, type ServeState} from './state.js';
import {NATIVE_INPUT_FIELDS, type NativeRequest, type NativeResponse} from './types.js';

export interface ReuseTarget {
  state: ServeState;
  url: string;
}

/** A running serve for these load options whose /readyz answers 200, or null (cold start instead). */
export async function findRunningServe(opts: {home: string; load: LoadOptionsLike; token?: string; timeoutMs?: number}): Promise<ReuseTarget | null> {
  const state = readLiveState(opts.home, loadKeyFor(opts.load));
  if (!state) return null;
  if (state.auth && !opts.token) return null;
  try {
    const res = await httpCall(`${state.url}/readyz`, {headers: authHeaders(opts.token), signal: AbortSignal.timeout(opts.timeoutMs ?? 2000)});
    return res.status === 200 ? {state, url: state.url} : null;
  } catch {
    return null;
  }
}

// node:http rather than fetch: a CLI makes two requests per run, and fetch's first call costs ~60 ms more
// (undici is compiled on first use) and each one ~7 ms more (bench/RESULTS.md "## serve"). One kept-alive
// connection carries both requests.
const agent = new Agent({keepAlive: true, maxSockets: 1});

function httpCall(url: string, o: {method?: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal}): Promise<{status: number; text: string}> {
  return new Promise((resolve, reject) => {
    const body = o.body === undefined ? undefined : Buffer.from(o.body);
    const req = httpRequest(
      url,
      {method: o.method ?? 'GET', agent, signal: o.signal, headers: {...o.headers, ...(body ? {'content-length': String(body.length)} : {})}},
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8')}));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export class ServeRequestError extends Error {
  constructor(readonly status: number, message: string, readonly type?: string) {
    super(message);
  }
}

/** POST /v1/generate on a running serve; aborting the signal drops the connection, which cancels the job. */
export async function generateViaServe(opts: {url: string; request: NativeRequest; token?: string; signal?: AbortSignal}): Promise<NativeResponse> {
  const res = await httpCall(`${opts.url}/v1/generate`, {
    method: 'POST',
    headers: {'content-type': 'application/json', ...authHeaders(opts.token)},
    body: JSON.stringify({...opts.request, response_format: 'b64_json'}),
    signal: opts.signal,
  });
  const text = res.text;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ServeRequestError(res.status, `serve answered ${res.status} with a non-JSON body`);
  }
  if (res.status < 200 || res.status >= 300) {
    const e = (body as {error?: {message?: string; type?: string}}).error;
    throw new ServeRequestError(res.status, e?.message ?? `serve answered ${res.status}`, e?.type);
  }
  return body as NativeResponse;
}

/** generate's input -> the native body; input images are read here and sent inline. */
export async function nativeFromInput(input: SessionGenerateInput): Promise<NativeRequest> {
  const n: NativeRequest = {prompt: input.prompt};
  for (const [wire, key] of NATIVE_INPUT_FIELDS) if (input[key] != null) Object.assign(n, {[wire]: input[key]});
  if (input.params && Object.keys(input.params).length) n.params = input.params;
  for (const [key, field] of [['image', 'image'], ['mask', 'mask'], ['controlImage', 'control_image']] as const) {
    const p = input[key];
    if (p) n[field] = (await readFile(p)).toString('base64');
  }
  return n;
}

/** Writes each returned image to its path (temp + rename), in order. */
export async function writeServeImages(res: NativeResponse, paths: string[]): Promise<void> {
  if (res.images.length < paths.length) throw new GenerationError(`serve returned ${res.images.length} images, expected ${paths.length}`);
  for (const [i, path] of paths.entries()) {
    const b64 = res.images[i]!.b64_json;
    if (!b64) throw new GenerationError('serve returned an image without data');
    await mkdir(dirname(path), {recursive: true});
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, Buffer.from(b64, 'base64'));
    await rename(tmp, path);
  }
}

export interface ReuseResult {
  url: string;
  images: Array<{path: string; seed: number; width: number; height: number; [media: string]: unknown}>;
  response: NativeResponse;
  totalS: number;
}

/**
 * The whole reuse path for `generate`: null when no serve of this model runs (or it cannot take the request:
 * then generate cold-starts as usual); a 4xx from the server is the user's error and is thrown.
 */
export async function generateWithRunningServe(opts: {
  home: string;
  load: LoadOptionsLike;
  input: SessionGenerateInput;
  /** ext: the extension of what the server made (.png, .mp4, .wav, ...). */
  targets: (seed: number, numImages: number, ext: string) => string[];
  token?: string;
  signal?: AbortSignal;
}): Promise<ReuseResult | null> {
  const t0 = performance.now();
  const target = await findRunningServe({home: opts.home, load: opts.load, token: opts.token});
  if (!target) return null;
  const request = await nativeFromInput(opts.input);
  let res: NativeResponse;
  try {
    res = await generateViaServe({url: target.url, request, token: opts.token, signal: opts.signal});
  } catch (err) {
    if (opts.signal?.aborted) throw new InterruptedError();
    if (err instanceof ServeRequestError && err.status === 400) throw new UsageError(`serve at ${target.url} refused the request: ${err.message}`);
    if (err instanceof ServeRequestError && err.status < 500 && err.status !== 429 && err.status !== 401) throw new GenerationError(err.message);
    return null; // busy, restarting, gone: do it ourselves
  }
  const seed = res.images[0]?.seed ?? opts.input.seed ?? 0;
  const mediaType = (res.images[0] as {media_type?: string} | undefined)?.media_type ?? 'image/png';
  const ext = Object.entries(MEDIA_TYPES).find(([f, t]) => t === mediaType && f !== 'png-frames')?.[0] ?? 'png';
  const paths = opts.targets(seed, res.images.length, `.${ext}`);
  await writeServeImages(res, paths);
  return {
    url: target.url,
    images: res.images.map((im, i) => {
      const {b64_json: _b, url: _u, ...rest} = im as typeof im & {url?: string};
      return {...rest, path: paths[i]!, seed: im.seed, width: im.width, height: im.height};
    }),
    response: res,
    totalS: (performance.now() - t0) / 1000,
  };
}

function authHeaders(token?: string): Record<string, string> {
  return token ? {authorization: `Bearer ${token}`} : {};
}
