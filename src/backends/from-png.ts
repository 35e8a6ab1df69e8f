// `mgen generate --from image.png`: the request an image was made with, from its `mgen` chunk (exact) or,
// for images from other tools, its A1111 `parameters` text.
import {readFile} from 'node:fs/promises';
import {InvalidModelError, NotFoundError} from '../errors.js';
import {parseA1111Parameters} from './a1111-parameters.js';
import {readOutputText} from './media-metadata.js';
import type {GenerateInput} from './session.js';

export interface PngRequest {
  input: Partial<GenerateInput>;
  /** The MODEL_ID it was made with, when recorded. */
  model: string | null;
  base: string | null;
  loras: Array<{id: string; scale: number}>;
  embeddings: Array<{id: string; token?: string}>;
  controlnet: string | null;
  vae: string | null;
  /** The T2I-Adapter and its scale, when one was loaded. */
  t2iAdapter?: {id: string; scale: number} | null;
  source: 'mgen' | 'parameters';
}

export async function requestFromPng(path: string): Promise<PngRequest> {
  const buf = await readFile(path).catch((err: NodeJS.ErrnoException) => {
    throw new NotFoundError(`cannot read ${path}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  });
  return requestFromPngBytes(buf, path);
}

/** The same, from the PNG's bytes (serve's POST /v1/png-info); `path` names the image in messages. */
export function requestFromPngBytes(buf: Uint8Array, path: string): PngRequest {
  const info = {text: readOutputText(Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength), path)};
  if (info.text.mgen) {
    let doc: {
      model?: string;
      base?: string | null;
      request?: Record<string, unknown>;
      adapters?: {loras?: Array<{id: string; scale: number}>; embeddings?: Array<{id: string; token: string | null}>; controlnet?: string | null; vae?: string | null;
        t2i_adapter?: {id: string; scale: number}};
    };
    try {
      doc = JSON.parse(info.text.mgen);
    } catch {
      throw new InvalidModelError(`${path} has an mgen chunk that is not JSON`);
    }
    const r = doc.request ?? {};
    const num = (k: string) => (typeof r[k] === 'number' ? (r[k] as number) : undefined);
    const str = (k: string) => (typeof r[k] === 'string' ? (r[k] as string) : null);
    return {
      input: {
        prompt: str('prompt') ?? '',
        negativePrompt: str('negative_prompt'),
        width: num('width'),
        height: num('height'),
        steps: num('steps'),
        guidance: num('guidance_scale'),
        seed: num('seed'),
        scheduler: str('scheduler'),
        // The A1111 sampler / schedule type it ran with (use_karras_sigmas, algorithm_type, ...).
        ...(r.scheduler_config && typeof r.scheduler_config === 'object' && !Array.isArray(r.scheduler_config)
          ? {schedulerConfig: r.scheduler_config as Record<string, string | number | boolean>}
          : {}),
        strength: num('strength') ?? null,
        image: str('image'),
        mask: str('mask'),
        controlImage: str('control_image'),
        params: (r.params as Record<string, unknown>) ?? {},
        frames: num('frames') ?? null,
        fps: num('fps') ?? null,
        duration: num('duration') ?? null,
        format: str('format'),
      },
      model: doc.model ?? null,
      base: doc.base ?? null,
      loras: doc.adapters?.loras ?? [],
      embeddings: (doc.adapters?.embeddings ?? []).map((e) => (e.token ? {id: e.id, token: e.token} : {id: e.id})),
      controlnet: doc.adapters?.controlnet ?? null,
      vae: doc.adapters?.vae ?? null,
      ...(doc.adapters?.t2i_adapter ? {t2iAdapter: doc.adapters.t2i_adapter} : {}),
      source: 'mgen',
    };
  }
  if (info.text.parameters) {
    const p = parseA1111Parameters(info.text.parameters);
    const n = (k: string) => (p.fields[k] !== undefined && Number.isFinite(Number(p.fields[k])) ? Number(p.fields[k]) : undefined);
    const size = /^(\d+)x(\d+)$/.exec(p.fields.Size ?? '');
    return {
      input: {
        prompt: p.prompt,
        negativePrompt: p.negativePrompt,
        steps: n('Steps'),
        guidance: n('CFG scale'),
        seed: n('Seed'),
        width: size ? Number(size[1]) : undefined,
        height: size ? Number(size[2]) : undefined,
        strength: n('Denoising strength') ?? null,
      },
      model: null,
      base: null,
      loras: [],
      embeddings: [],
      controlnet: null,
      vae: null,
      source: 'parameters',
    };
  }
  throw new InvalidModelError(`${path} carries no generation parameters (no mgen or parameters text chunk)`);
}
