// CivitAI REST: /api/v1/models/{id}, /api/v1/model-versions/{id}, /api/v1/model-versions/by-hash/{sha256}.
// Endpoint CIVITAI_ENDPOINT (default https://civitai.com); token --token, CIVITAI_TOKEN or CIVITAI_API_TOKEN,
// sent as a bearer header and never printed (errors go through redact with the token as a secret).
import {InvalidModelError, NotFoundError} from '../../errors.js';
import {checkId} from '../cache/safe-path.js';
import {errorForResponse, fetchWithRetry, type HttpOptions} from '../http.js';

export const DEFAULT_CIVITAI_ENDPOINT = 'https://civitai.com';

export interface CivitaiConfig {
  endpoint: string;
  token?: string;
  http: HttpOptions;
}

export function civitaiConfig(input: {endpoint?: string; token?: string; env?: NodeJS.ProcessEnv; http?: HttpOptions} = {}): CivitaiConfig {
  const env = input.env ?? process.env;
  const endpoint = (input.endpoint || env.CIVITAI_ENDPOINT || DEFAULT_CIVITAI_ENDPOINT).replace(/\/+$/, '');
  const token = input.token || env.CIVITAI_TOKEN || env.CIVITAI_API_TOKEN || undefined;
  return {endpoint, token, http: {...input.http, secrets: [...(input.http?.secrets ?? []), token]}};
}

export function civitaiHeaders(cfg: CivitaiConfig): Record<string, string> {
  return cfg.token ? {authorization: `Bearer ${cfg.token}`} : {};
}

export const CIVITAI_AUTH_HINT = 'this CivitAI model needs an API token: create one in your CivitAI account settings and set CIVITAI_TOKEN (or pass --token)';

export interface CivitaiFile {
  id: number;
  name: string;
  sizeKB: number;
  type?: string;
  primary?: boolean;
  metadata?: {fp?: string | null; size?: string | null; format?: string | null};
  pickleScanResult?: string;
  pickleScanMessage?: string | null;
  virusScanResult?: string;
  virusScanMessage?: string | null;
  scannedAt?: string | null;
  hashes?: Record<string, string>;
  downloadUrl: string;
}

export interface CivitaiVersion {
  id: number;
  modelId: number;
  name: string;
  baseModel?: string;
  baseModelType?: string | null;
  trainedWords?: string[];
  files: CivitaiFile[];
  downloadUrl?: string;
  model?: {name?: string; type?: string; nsfw?: boolean; poi?: boolean};
}

export interface CivitaiModel {
  id: number;
  name: string;
  type: string;
  nsfw?: boolean;
  allowNoCredit?: boolean;
  allowCommercialUse?: string | string[];
  allowDerivatives?: boolean;
  allowDifferentLicense?: boolean;
  modelVersions: CivitaiVersion[];
}

async function getJson<T>(cfg: CivitaiConfig, path: string, what: string): Promise<T> {
  const res = await fetchWithRetry(`${cfg.endpoint}${path}`, {headers: {...civitaiHeaders(cfg), accept: 'application/json'}}, cfg.http);
  if (!res.ok) throw await errorForResponse(res, {what, authHint: CIVITAI_AUTH_HINT, secrets: cfg.http.secrets});
  return (await res.json()) as T;
}

// Ids become path components (the partial folder and lock of a pull are named civitai-<version>-<file>) and URL
// path segments (/model-versions/<id>): an answer whose ids are not whole numbers is refused (exit 6), never used.
function checkVersion(v: CivitaiVersion, what: string): CivitaiVersion {
  if (typeof v !== 'object' || v === null) throw new InvalidModelError(`${what}: the API answered no version object`);
  v.id = checkId(v.id, `${what}: the API's version id`);
  if (v.modelId !== undefined) v.modelId = checkId(v.modelId, `${what}: the API's model id`);
  if (!Array.isArray(v.files)) throw new InvalidModelError(`${what}: the API answered no file list`);
  for (const f of v.files) {
    if (typeof f !== 'object' || f === null) throw new InvalidModelError(`${what}: the API answered a file that is not an object`);
    f.id = checkId(f.id, `${what}: the API's file id`);
    if (typeof f.name !== 'string') throw new InvalidModelError(`${what}: the API answered a file ${f.id} without a name`);
    if (typeof f.downloadUrl !== 'string') throw new InvalidModelError(`${what}: the API answered a file ${f.id} without a download URL`);
  }
  return v;
}

function checkModel(m: CivitaiModel, what: string): CivitaiModel {
  if (typeof m !== 'object' || m === null) throw new InvalidModelError(`${what}: the API answered no model object`);
  m.id = checkId(m.id, `${what}: the API's model id`);
  if (!Array.isArray(m.modelVersions)) throw new InvalidModelError(`${what}: the API answered no version list`);
  // Embedded versions carry no modelId; their ids (and files, when listed) are checked the same way.
  for (const v of m.modelVersions) {
    if (typeof v !== 'object' || v === null) throw new InvalidModelError(`${what}: the API answered a version that is not an object`);
    v.id = checkId(v.id, `${what}: the API's version id`);
    if (v.files !== undefined) checkVersion(v, what);
  }
  return m;
}

export async function getModel(cfg: CivitaiConfig, id: number): Promise<CivitaiModel> {
  const what = `civitai model ${id}`;
  return checkModel(await getJson<CivitaiModel>(cfg, `/api/v1/models/${id}`, what), what);
}

export async function getVersion(cfg: CivitaiConfig, id: number): Promise<CivitaiVersion> {
  const what = `civitai model version ${id}`;
  return checkVersion(await getJson<CivitaiVersion>(cfg, `/api/v1/model-versions/${id}`, what), what);
}

export async function getVersionByHash(cfg: CivitaiConfig, sha256: string): Promise<CivitaiVersion> {
  const what = `civitai file with sha256 ${sha256.slice(0, 12)}…`;
  return checkVersion(await getJson<CivitaiVersion>(cfg, `/api/v1/model-versions/by-hash/${sha256.toUpperCase()}`, what), what);
}

export interface ResolvedCivitai {
  model?: CivitaiModel;
  version: CivitaiVersion;
}

/** civitai:<model>[@<version>] -> the version (the model's first = newest version when none is given). */
export async function resolveCivitai(cfg: CivitaiConfig, ref: {modelId?: number; versionId?: number}): Promise<ResolvedCivitai> {
  if (ref.versionId !== undefined) {
    const version = await getVersion(cfg, ref.versionId);
    if (ref.modelId !== undefined && version.modelId !== ref.modelId) {
      throw new NotFoundError(`civitai version ${ref.versionId} belongs to model ${version.modelId}, not ${ref.modelId}`);
    }
    const model = await getModel(cfg, version.modelId).catch(() => undefined);
    return {model, version};
  }
  const model = await getModel(cfg, ref.modelId!);
  const first = model.modelVersions[0];
  if (!first) throw new NotFoundError(`civitai model ${ref.modelId} has no versions`);
  // The model listing embeds versions; fetch the full version for scan results and hashes.
  const version = await getVersion(cfg, first.id).catch((err: unknown) => {
    if (err instanceof InvalidModelError) throw err; // a hostile answer is reported, not papered over
    return {...first, modelId: model.id};
  });
  return {model, version};
}
