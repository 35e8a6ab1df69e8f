// CivitAI REST: /api/v1/models/{id}, /api/v1/model-versions/{id}, /api/v1/model-versions/by-hash/{sha256}.
// Endpoint CIVITAI_ENDPOINT (default https://civitai.com); token --token, CIVITAI_TOKEN or CIVITAI_API_TOKEN,
// sent as a bearer header and never printed (errors go through redact with the token as a secret).
import {NotFoundError} from '../../errors.js';
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

export function getModel(cfg: CivitaiConfig, id: number): Promise<CivitaiModel> {
  return getJson(cfg, `/api/v1/models/${id}`, `civitai model ${id}`);
}

export function getVersion(cfg: CivitaiConfig, id: number): Promise<CivitaiVersion> {
  return getJson(cfg, `/api/v1/model-versions/${id}`, `civitai model version ${id}`);
}

export function getVersionByHash(cfg: CivitaiConfig, sha256: string): Promise<CivitaiVersion> {
  return getJson(cfg, `/api/v1/model-versions/by-hash/${sha256.toUpperCase()}`, `civitai file with sha256 ${sha256.slice(0, 12)}…`);
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
  const version = await getVersion(cfg, first.id).catch(() => ({...first, modelId: model.id}));
  return {model, version};
}
