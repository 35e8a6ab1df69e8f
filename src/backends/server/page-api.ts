// Read-only API routes the playground page needs and other clients may use too: how the model is served
// (GET /v1/serving: task, pipeline, device, precision, offload, ControlNet, from the load plan and the worker's
// hello), the LoRAs this machine can apply (GET /v1/loras: the cache, as `mgen list` shows it, LoRA files under
// --model-dir, the tiny builtin LoRAs next to a builtin model) and a PNG's generation parameters
// (POST /v1/png-info: the parser of `mgen generate --from`, so there is one).
import {readdirSync} from 'node:fs';
import {join} from 'node:path';
import type {FastifyInstance} from 'fastify';
import {detectLocalModel} from '../detect-local.js';
import {MgenError} from '../../errors.js';
import {BUILTIN_NAMES} from '../builtin.js';
import {requestFromPngBytes} from '../from-png.js';
import {readPngInfo} from '../png-metadata.js';
import {listCached} from '../../sources/cache/inventory.js';
import {HttpError} from './http-error.js';
import type {Engine} from './engine.js';
import {decodeInlineImage} from './input-images.js';
import {NATIVE_INPUT_FIELDS} from './types.js';

export interface LoraEntry {
  name: string;
  family: string;
  size: number | null;
}

/** The tiny builtin LoRAs are made for builtin:tiny-sd (family sd1); offered only when the served model is a builtin. */
const BUILTIN_LORA_FAMILY = 'sd1';

/** Files under the --model-dir folders a request may name by path: up to 3 levels deep, at most 200 files. */
function modelDirFiles(dirs: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string, depth: number): void => {
    let entries;
    try {
      entries = readdirSync(dir, {withFileTypes: true});
    } catch {
      return;
    }
    for (const e of entries) {
      if (out.length >= 200) return;
      const p = join(dir, e.name);
      if (e.isDirectory() && depth < 3) walk(p, depth + 1);
      else if (e.isFile() && /\.safetensors$/i.test(e.name)) out.push(p);
    }
  };
  for (const d of dirs) walk(d, 1);
  return out.sort();
}

export async function listLoras(modelId: string, env: NodeJS.ProcessEnv, modelDirs: readonly string[] = []): Promise<LoraEntry[]> {
  const out: LoraEntry[] = [];
  if (modelId.startsWith('builtin:')) {
    for (const n of BUILTIN_NAMES) if (n.includes('-lora-')) out.push({name: `builtin:${n}`, family: BUILTIN_LORA_FAMILY, size: null});
  }
  let cached: ReturnType<typeof listCached> = [];
  try {
    cached = listCached(env);
  } catch {
    // An unreadable cache lists nothing; requests naming a LoRA still go through the request policy.
  }
  for (const m of cached) if (m.kind === 'lora') out.push({name: m.id, family: m.family, size: m.size});
  // LoRA files under --model-dir, by path (what a request names them by), with the family their header says.
  for (const path of modelDirFiles(modelDirs)) {
    try {
      const r = await detectLocalModel(path);
      if (r.kind === 'lora') out.push({name: path, family: r.base?.family ?? r.family, size: r.files.reduce((n, f) => n + f.size, 0)});
    } catch {
      // not a model file: not offered
    }
  }
  return out;
}

/** How the model is being served: what the page's inputs and status line need beyond the ModelReport. */
export function servingView(engine: Engine): Record<string, unknown> {
  const p = engine.plan;
  const h = engine.hello;
  return {
    task: p.task, pipeline: p.pipeline, device: h.device, gpu_name: h.gpu_name ?? null, dtype: p.dtype, offload: p.offload,
    controlnet: p.controlnet != null, ...(p.t2i_adapter ? {t2i_adapter: true} : {}), loras: (p.loras ?? []).map((l) => ({name: l.name, scale: l.scale})),
    total_memory_bytes: h.total_memory_bytes ?? null,
  };
}

export function registerPageApi(app: FastifyInstance, o: {modelId: string; env: NodeJS.ProcessEnv; modelDirs: readonly string[]; engine: Engine}): void {
  app.get('/v1/serving', async () => servingView(o.engine));
  app.get('/v1/loras', async () => ({data: await listLoras(o.modelId, o.env, o.modelDirs)}));
  const pngInfoBody = {type: 'object', required: ['image'], additionalProperties: false, properties: {image: {type: 'string', minLength: 1}}};
  app.post<{Body: {image: string}}>('/v1/png-info', {schema: {body: pngInfoBody}}, async (req) => {
    const {bytes, ext} = decodeInlineImage(req.body.image, 'image');
    if (ext !== 'png') throw new HttpError(400, 'invalid_request_error', 'image: not a PNG (parameters are read from PNG text chunks)', 'image');
    try {
      const text = readPngInfo(bytes, 'image').text;
      const r = requestFromPngBytes(bytes, 'image');
      // Back to the native request's field names (NATIVE_INPUT_FIELDS, read the other way).
      const request: Record<string, unknown> = {prompt: r.input.prompt ?? ''};
      for (const [wire, key] of NATIVE_INPUT_FIELDS) if (r.input[key] != null) request[wire] = r.input[key];
      if (r.input.params && Object.keys(r.input.params).length) request.params = r.input.params;
      if (r.loras.length) request.loras = r.loras.map((l) => ({name: l.id, scale: l.scale}));
      return {source: r.source, model: r.model, parameters: text.parameters ?? null, request};
    } catch (err) {
      if (err instanceof MgenError) throw new HttpError(400, 'invalid_request_error', err.message, 'image');
      throw err;
    }
  });
}
