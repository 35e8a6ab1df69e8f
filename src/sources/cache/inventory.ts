// What is cached (`mgen list`) and removing it (`mgen rm`): HF snapshots in the hub cache, CivitAI/URL files
// under $MGEN_HOME/models. Removal deletes a snapshot, its refs, and the blobs no other snapshot uses.
import {lstatSync, readdirSync, rmSync, statSync} from 'node:fs';
import {join} from 'node:path';
import {NotFoundError, UsageError} from '../../errors.js';
import {modelIdFromArgs, parseModelId} from '../model-id.js';
import {cachedRepos, HfRepoCache, hubCacheDir} from './hf-cache.js';
import {allFileMetas, fileDir, readHfSidecar} from './mgen-home.js';

export interface CachedModel {
  id: string;
  source: 'huggingface' | 'civitai' | 'url';
  /** Refs pointing at the snapshot (HF), the version id (CivitAI), '' (URL). */
  revision: string;
  commit?: string;
  size: number;
  family: string;
  kind: string;
  last_used: string | null;
  path: string;
}

function blobSizes(cache: HfRepoCache, blobs: Iterable<string>): number {
  let n = 0;
  for (const b of blobs) {
    try {
      n += statSync(cache.blobPath(b)).size;
    } catch {
      /* gone */
    }
  }
  return n;
}

export function listCached(env: NodeJS.ProcessEnv = process.env): CachedModel[] {
  const out: CachedModel[] = [];
  const hub = hubCacheDir(env);
  for (const repo of cachedRepos(hub)) {
    const cache = new HfRepoCache(hub, repo);
    const refs = cache.refs();
    const side = readHfSidecar(repo, env);
    for (const commit of cache.commits()) {
      const files = cache.snapshotFiles(commit);
      const names = Object.entries(refs).filter(([, c]) => c === commit).map(([r]) => r);
      const sum = side.summaries?.[commit];
      let lastUsed = side.last_used ?? null;
      if (!lastUsed) {
        try {
          lastUsed = lstatSync(cache.snapshotDir(commit)).mtime.toISOString();
        } catch {
          /* ignore */
        }
      }
      out.push({
        id: repo, source: 'huggingface', revision: names.length ? names.join(',') : commit.slice(0, 12), commit,
        size: files.reduce((a, f) => a + f.size, 0), family: sum?.family ?? '-', kind: sum?.kind ?? '-', last_used: lastUsed, path: cache.snapshotDir(commit),
      });
    }
  }
  for (const m of allFileMetas(env)) {
    out.push({
      id: m.id, source: m.source, revision: m.civitai ? String(m.civitai.versionId) : '', size: m.size,
      family: m.summary?.family ?? '-', kind: m.summary?.kind ?? '-', last_used: m.last_used ?? m.pulled_at, path: join(fileDir(m.sha256, env), m.file_name),
    });
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

export interface RemoveResult {
  id: string;
  removed: string[];
  bytes_freed: number;
}

/** Removes a cached model. HF: `org/name@rev` one snapshot, `org/name` all of them (the repo folder). */
export function removeCached(arg: string | undefined, env: NodeJS.ProcessEnv = process.env): RemoveResult {
  const id = modelIdFromArgs(arg, env);
  const ref = parseModelId(id, {env, exists: () => false});
  if (ref.kind === 'hf') {
    if (ref.path) throw new UsageError(`mgen rm removes whole snapshots; '${ref.path}' names a file`, {hint: `use ${ref.repo}${ref.revision ? '@' + ref.revision : ''}`});
    const cache = new HfRepoCache(hubCacheDir(env), ref.repo);
    if (!cache.exists()) throw new NotFoundError(`${ref.repo} is not in the cache (${hubCacheDir(env)})`);
    const commits = ref.revision ? [cache.resolveCommit(ref.revision)].filter((c): c is string => !!c) : cache.commits();
    if (commits.length === 0) throw new NotFoundError(`${ref.repo}@${ref.revision}: no such snapshot in the cache`);
    const removed: string[] = [];
    // Blobs used by the snapshots that stay.
    const keep = new Set<string>();
    for (const c of cache.commits()) if (!commits.includes(c)) for (const f of cache.snapshotFiles(c)) if (f.blob) keep.add(f.blob);
    const drop = new Set<string>();
    for (const c of commits) for (const f of cache.snapshotFiles(c)) if (f.blob && !keep.has(f.blob)) drop.add(f.blob);
    let freed = blobSizes(cache, drop);
    for (const c of commits) {
      rmSync(cache.snapshotDir(c), {recursive: true, force: true});
      removed.push(cache.snapshotDir(c));
    }
    // Only oid-named blobs (a link another tool made may point anywhere; blobPath refuses other names).
    for (const b of drop) if (/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(b)) rmSync(cache.blobPath(b), {force: true});
    for (const [name, c] of Object.entries(cache.refs())) if (commits.includes(c)) rmSync(join(cache.refsDir, name), {force: true});
    if (cache.commits().length === 0) {
      // Nothing left: the whole repo folder goes, partial downloads included.
      try {
        for (const n of readdirSync(cache.blobsDir)) freed += statSync(join(cache.blobsDir, n)).size;
      } catch {
        /* none */
      }
      rmSync(cache.dir, {recursive: true, force: true});
      rmSync(cache.locksDir, {recursive: true, force: true});
      removed.push(cache.dir);
    }
    return {id: ref.repo + (ref.revision ? '@' + ref.revision : ''), removed, bytes_freed: freed};
  }
  if (ref.kind === 'civitai' || ref.kind === 'url') {
    const metas = allFileMetas(env).filter((m) => ref.kind === 'url'
      ? m.url === ref.url
      : m.source === 'civitai' && (ref.modelId === undefined || m.civitai?.modelId === ref.modelId) && (ref.versionId === undefined || m.civitai?.versionId === ref.versionId));
    if (metas.length === 0) throw new NotFoundError(`${id} is not in the cache`);
    let freed = 0;
    const removed: string[] = [];
    for (const m of metas) {
      const dir = fileDir(m.sha256, env);
      try {
        for (const n of readdirSync(dir)) freed += statSync(join(dir, n)).size;
      } catch {
        /* gone */
      }
      rmSync(dir, {recursive: true, force: true});
      removed.push(dir);
    }
    return {id, removed, bytes_freed: freed};
  }
  throw new UsageError(`mgen rm takes a cached HF, CivitAI or URL model, not ${ref.kind === 'local' ? 'a local path' : 'a builtin'}`);
}
