// Where the Hub is and who we are: --endpoint / HF_ENDPOINT, --token / HF_TOKEN / the token file that
// huggingface_hub writes ($HF_TOKEN_PATH, else $HF_HOME/token, else ~/.cache/huggingface/token).
import {readFileSync} from 'node:fs';
import {homedir} from 'node:os';
import {join} from 'node:path';
import type {HttpOptions} from '../http.js';

export const DEFAULT_HF_ENDPOINT = 'https://huggingface.co';

export interface HfConfig {
  endpoint: string;
  token?: string;
  http: HttpOptions;
}

export interface HfConfigInput {
  endpoint?: string;
  token?: string;
  env?: NodeJS.ProcessEnv;
  http?: HttpOptions;
}

export function hfHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.HF_HOME || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'huggingface');
}

export function tokenFilePath(env: NodeJS.ProcessEnv = process.env): string {
  return env.HF_TOKEN_PATH || join(hfHome(env), 'token');
}

export function readHfToken(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.HF_TOKEN) return env.HF_TOKEN.trim();
  if (env.HUGGING_FACE_HUB_TOKEN) return env.HUGGING_FACE_HUB_TOKEN.trim();
  try {
    const t = readFileSync(tokenFilePath(env), 'utf8').trim();
    return t === '' ? undefined : t;
  } catch {
    return undefined;
  }
}

export function hfConfig(input: HfConfigInput = {}): HfConfig {
  const env = input.env ?? process.env;
  const endpoint = (input.endpoint || env.HF_ENDPOINT || DEFAULT_HF_ENDPOINT).replace(/\/+$/, '');
  const token = input.token || readHfToken(env);
  return {endpoint, token, http: {...input.http, secrets: [...(input.http?.secrets ?? []), token]}};
}

export function authHeaders(cfg: {token?: string}): Record<string, string> {
  return cfg.token ? {authorization: `Bearer ${cfg.token}`} : {};
}
