// HuggingFace Hub metadata through @huggingface/hub (modelInfo, listFiles), with our endpoint, token, retrying
// fetch and typed errors. Every reference is pinned to the commit sha the Hub answers with.
import {AuthError, NotFoundError} from '../../errors.js';
import {checkCommit, checkOid, checkRepoPath} from '../cache/safe-path.js';
import {errorForResponse, fetchWithRetry} from '../http.js';
import type {HfConfig} from './config.js';

export interface HfFileInfo {
  path: string;
  size: number;
  /** sha256 of the content for LFS files. */
  sha256?: string;
  /** git blob sha1 (the Hub's ETag for regular files). */
  gitOid?: string;
  lfs: boolean;
}

export interface HfRepoInfo {
  repo: string;
  /** What the user asked for (branch, tag, sha); 'main' by default. */
  revision: string;
  commit: string;
  files: HfFileInfo[];
  gated: false | 'auto' | 'manual';
  private: boolean;
  license?: string;
}

export function hfAuthHint(cfg: HfConfig, repo: string): string {
  return cfg.token
    ? `the token in use has no access: accept the licence on ${cfg.endpoint}/${repo} with that account, or use another token`
    : `accept the licence on ${cfg.endpoint}/${repo} if it is gated, then set HF_TOKEN (or pass --token)`;
}

/** A fetch for @huggingface/hub: retries, and non-OK answers become our typed errors. */
export function hubFetch(cfg: HfConfig, what: string, repo: string): typeof fetch {
  return (async (input: string | URL | Request, init?: RequestInit) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.toString() : input.url;
    const res = await fetchWithRetry(url, init ?? {}, cfg.http);
    if (!res.ok) {
      const code = res.headers.get('x-error-code') ?? '';
      const err = await errorForResponse(res, {
        what,
        authHint: hfAuthHint(cfg, repo),
        notFoundHint: code === 'RevisionNotFound' ? 'check the revision (branch, tag or commit sha)' : cfg.token ? undefined : 'if the repo is private, set HF_TOKEN',
        secrets: cfg.http.secrets,
      });
      if (code === 'RevisionNotFound') err.message = `${what}: no such revision`;
      if (err instanceof AuthError && code === 'RepoNotFound' && !cfg.token) {
        err.message = `${what}: not found, or private (HTTP ${res.status})`;
      }
      throw err;
    }
    return res;
  }) as typeof fetch;
}

export async function resolveHfRepo(cfg: HfConfig, repo: string, revision = 'main'): Promise<HfRepoInfo> {
  const {modelInfo, listFiles} = await import('@huggingface/hub');
  const common = {hubUrl: cfg.endpoint, ...(cfg.token ? {accessToken: cfg.token} : {})};
  const info = await modelInfo({
    ...common,
    name: repo,
    revision,
    additionalFields: ['sha', 'cardData'],
    fetch: hubFetch(cfg, revision === 'main' ? repo : `${repo}@${revision}`, repo),
  });
  const commit = (info as {sha?: string}).sha;
  if (!commit) throw new NotFoundError(`${repo}@${revision}: the Hub did not return a commit`);
  // Everything below becomes a cache path (snapshots/<commit>/<path> -> blobs/<oid>): a hostile or broken answer
  // is refused here, before anything is requested with it or written (exit 6, see cache/safe-path.ts).
  checkCommit(commit, `${repo}@${revision}: the Hub's commit sha`);
  const files: HfFileInfo[] = [];
  for await (const e of listFiles({...common, repo: {type: 'model', name: repo}, revision: commit, recursive: true, fetch: hubFetch(cfg, repo, repo)})) {
    if (e.type !== 'file') continue;
    checkRepoPath(e.path, `${repo}: a file path in the listing`);
    if (e.lfs) checkOid(e.lfs.oid, `${repo}/${e.path}: the listing's LFS oid`, 'sha256');
    if (e.oid !== undefined && e.oid !== null) checkOid(e.oid, `${repo}/${e.path}: the listing's git oid`, 'sha1');
    files.push({path: e.path, size: e.lfs?.size ?? e.size, ...(e.lfs ? {sha256: e.lfs.oid} : {}), ...(e.oid ? {gitOid: e.oid} : {}), lfs: !!e.lfs});
  }
  files.sort((a, b) => a.path.localeCompare(b.path));
  const card = (info as {cardData?: {license?: unknown}}).cardData;
  return {
    repo,
    revision,
    commit,
    files,
    gated: info.gated ?? false,
    private: !!info.private,
    ...(typeof card?.license === 'string' ? {license: card.license} : {}),
  };
}

export function resolveUrl(cfg: HfConfig, repo: string, commit: string, path: string): string {
  return `${cfg.endpoint}/${repo}/resolve/${encodeURIComponent(commit)}/${path.split('/').map(encodeURIComponent).join('/')}`;
}
