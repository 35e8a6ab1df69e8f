// `mgen serve MODEL --upscaler ID`: the loaded upscaler behind `/v1/upscale` (native) and A1111's
// `/sdapi/v1/extra-single-image`. The worker runs the `upscale` verb between jobs (its verbs run one at a time).
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {basename, join} from 'node:path';
import type {FastifyInstance} from 'fastify';
import {parseFactor, type ResolvedUpscaler} from '../upscale.js';
import type {WorkerHandle} from '../worker/types.js';
import {HttpError} from './http-error.js';
import {decodeInlineImage} from './input-images.js';

export interface ServeUpscaler extends ResolvedUpscaler {
  /** The MODEL_ID as given to --upscaler. */
  id: string;
}

/** A1111's name for it: the file name without extension. */
export function upscalerName(u: ServeUpscaler): string {
  return basename(u.path).replace(/\.[^.]+$/, '');
}

/** Upscales one inline image; a PNG back. */
export async function upscaleInline(worker: () => WorkerHandle, u: ServeUpscaler, value: unknown, field: string, factor?: number): Promise<{png: Buffer; width: number; height: number}> {
  const img = decodeInlineImage(value, field);
  const dir = await mkdtemp(join(tmpdir(), 'mgen-upscale-'));
  try {
    const input = join(dir, `in.${img.ext || 'png'}`);
    const output = join(dir, 'out.png');
    await writeFile(input, img.bytes);
    const r = await worker().upscale({model: u.path, images: [input], outputs: [output], scale: factor});
    return {png: await readFile(output), width: r.images[0]!.width, height: r.images[0]!.height};
  } finally {
    await rm(dir, {recursive: true, force: true});
  }
}

export function registerUpscaleRoutes(app: FastifyInstance, o: {worker: () => WorkerHandle; upscaler: ServeUpscaler | null}): void {
  app.post<{Body: {image?: unknown; scale?: unknown}}>('/v1/upscale', async (req) => {
    if (!o.upscaler) throw new HttpError(501, 'not_supported', 'this server has no upscaler: start it with `mgen serve MODEL --upscaler ID`');
    const body = req.body ?? {};
    let factor: number | undefined;
    if (body.scale !== undefined && body.scale !== null) {
      try {
        factor = parseFactor(String(body.scale), 'scale');
      } catch (err) {
        throw new HttpError(400, 'invalid_request_error', (err as Error).message, 'scale');
      }
    }
    const r = await upscaleInline(o.worker, o.upscaler, body.image, 'image', factor);
    return {model: o.upscaler.id, width: r.width, height: r.height, image: r.png.toString('base64')};
  });
}
