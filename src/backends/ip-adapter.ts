// IP-Adapters (`--ip-adapter ID --ip-image PATH [--ip-scale S]`) and their image encoders: the `image_encoder/`
// folder beside the adapter file in h94/IP-Adapter's layout (`models/ip-adapter_sd15.safetensors` +
// `models/image_encoder/`, `sdxl_models/...`, or `image_encoder/` one folder up); else the encoder the adapter's
// report names (`requires`: h94/IP-Adapter's `models/` or `sdxl_models/image_encoder`, openai/clip-vit-large-patch14
// for XLabs FLUX), resolved like any MODEL_ID, so it is pulled into the HF cache once.
import {existsSync, statSync} from 'node:fs';
import {dirname, join} from 'node:path';
import type {Family, ModelReport, Requirement} from '../detect/types.js';
import {NotFoundError} from '../errors.js';
import type {ModelRef} from './plan.js';

export interface IpAdapterSpec {
  id: string;
  /** The reference image (absolute path). */
  image: string;
  scale: number;
}

const WEIGHT_RE = /\.(safetensors|bin)$/i;

/** The `image_encoder/` folder (with a config.json) beside the adapter file or one level up; null when none. */
export function findImageEncoder(adapterFile: string): string | null {
  const here = dirname(adapterFile);
  for (const dir of [join(here, 'image_encoder'), join(dirname(here), 'image_encoder'), join(dirname(here), 'models', 'image_encoder')]) {
    if (existsSync(join(dir, 'config.json'))) return dir;
  }
  return null;
}

/** The adapter's weight file: the path itself, or the one weight file of a folder (a repo like XLabs-AI/flux-ip-adapter). */
export function adapterFile(path: string, report: Pick<ModelReport, 'files'>, id: string): string {
  if (!statSync(path, {throwIfNoEntry: false})?.isDirectory()) return path;
  const weights = report.files.filter((f) => WEIGHT_RE.test(f.path));
  if (weights.length !== 1) {
    throw new NotFoundError(`IP-Adapter ${id} is a folder with ${weights.length || 'no'} weight files; name the adapter file`, {hint: 'pass the file: ORG/NAME/path/to/adapter.safetensors'});
  }
  return join(path, weights[0]!.path);
}

/** The image encoder the adapter's report names (its `requires`), or null. */
export function requiredImageEncoder(report: Pick<ModelReport, 'requires'>): Requirement | null {
  return report.requires?.find((r) => r.role === 'image-encoder') ?? null;
}

/**
 * The image encoder folder for this adapter file: beside it, else the one its report names, resolved (and pulled when
 * remote) by `resolve`. An adapter with neither: NotFoundError (exit 3), before anything is fetched or loaded.
 */
export async function resolveImageEncoder(
  adapter: {file: string; report: Pick<ModelReport, 'requires'>; id: string},
  resolve: (id: string) => Promise<{path: string}>,
): Promise<string> {
  const beside = findImageEncoder(adapter.file);
  if (beside) return beside;
  const need = requiredImageEncoder(adapter.report);
  if (!need) {
    throw new NotFoundError(`IP-Adapter ${adapter.id} has no image encoder beside it, and its image projection matches no encoder mgen knows`, {
      hint: 'put the encoder it was trained with in an image_encoder/ folder beside the file, as h94/IP-Adapter does',
    });
  }
  return (await resolve(need.id)).path;
}

/**
 * The plan's `ipAdapter` entry: the adapter file and its image encoder folder. An adapter of another kind or family
 * gets no encoder looked up: the plan refuses it with its own message, before anything is fetched for it.
 */
export async function ipAdapterPaths(
  spec: IpAdapterSpec,
  adapter: {path: string; report: ModelReport; id: string},
  family: Family,
  resolve: (id: string) => Promise<{path: string}>,
): Promise<{ref: ModelRef; imageEncoder: string; image: string; scale: number}> {
  const need = adapter.report.family;
  const usable = adapter.report.kind === 'ip-adapter' && (need === 'unknown' || family === 'unknown' || need === family);
  const file = usable ? adapterFile(adapter.path, adapter.report, spec.id) : adapter.path;
  const imageEncoder = usable ? await resolveImageEncoder({file, report: adapter.report, id: spec.id}, resolve) : '';
  return {ref: {path: file, report: adapter.report, id: adapter.id}, imageEncoder, image: spec.image, scale: spec.scale};
}

/**
 * For `mgen pull`: the image encoder an IP-Adapter just pulled still needs (a MODEL_ID), or null (another kind, an
 * encoder already beside it, or none known: generate says so).
 */
export function imageEncoderToPull(path: string, report: ModelReport): string | null {
  if (report.kind !== 'ip-adapter') return null;
  const need = requiredImageEncoder(report);
  if (!need) return null;
  let file = path;
  try {
    file = adapterFile(path, report, path);
  } catch {
    /* a folder of several adapters: look beside the folder */
  }
  return findImageEncoder(file) ? null : need.id;
}
