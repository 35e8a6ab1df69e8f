// Two read-only API routes the playground page needs and other clients may use too: the LoRAs this machine can
// apply (GET /v1/loras: the cache, as `mgen list` shows it, plus the tiny builtin LoRAs next to a builtin model)
// and a PNG's generation parameters (POST /v1/png-info: the parser of `mgen generate --from`, so there is one).
import type {FastifyInstance} from 'fastify';
import {MgenError} from '../../errors.js';
import {BUILTIN_NAMES} from '../builtin.js';
import {requestFromPngBytes} from '../from-png.js';
import {readPngInfo} from '../png-metadata.js';
import {listCached} from '../../sources/cache/inventory.js';
import {HttpError} from './http-error.js';
import {decodeInlineImage} from './input-images.js';
import {NATIVE_INPUT_FIELDS} from './types.js';

export interface LoraEntry {
  name: string;
  family: string;
  size: number | null;
}

/** The tiny builtin LoRAs are made for builtin:tiny-sd (family sd1); offered only when the served model is a builtin. */
const BUILTIN_LORA_FAMILY = 'sd1';

export function listLoras(modelId: string, env: NodeJS.ProcessEnv): LoraEntry[] {
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
  return out;
}

export function registerPageApi(app: FastifyInstance, o: {modelId: string; env: NodeJS.ProcessEnv}): void {
  app.get('/v1/loras', async () => ({data: listLoras(o.modelId, o.env)}));
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
