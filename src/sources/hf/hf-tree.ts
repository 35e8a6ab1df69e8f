// A ModelTree over an HF repo pinned to a commit: list = the repo's files with sizes and LFS sha256,
// open = a Range byte source on /resolve/<commit>/<path>, readText = one GET for small configs.
import type {ByteSource, ModelTree, TreeEntry} from '../../detect/types.js';
import {NotFoundError} from '../../errors.js';
import {errorForResponse, fetchWithRetry} from '../http.js';
import {HttpByteSource} from '../http-byte-source.js';
import {authHeaders, type HfConfig} from './config.js';
import {hfAuthHint, resolveUrl, type HfRepoInfo} from './client.js';

export interface TreeStats {
  /** HTTP exchanges made by the tree (listing excluded), redirect hops included. */
  requests: number;
  bytes: number;
  reads: number;
}

export class HfTree implements ModelTree {
  readonly name: string;
  readonly singleFile: boolean;
  private readonly root: string;
  private readonly sources: HttpByteSource[] = [];
  private readonly textStats = {requests: 0, bytes: 0};

  /** `path`: a file (single-file tree) or a folder (tree rooted there) inside the repo. */
  constructor(readonly cfg: HfConfig, readonly info: HfRepoInfo, path?: string) {
    const p = path?.replace(/\/+$/, '') ?? '';
    const isFile = p !== '' && info.files.some((f) => f.path === p);
    if (p !== '' && !isFile && !info.files.some((f) => f.path.startsWith(p + '/'))) {
      throw new NotFoundError(`${info.repo}@${info.commit.slice(0, 8)}: no file or folder '${p}'`);
    }
    this.singleFile = isFile;
    this.root = p;
    this.name = p ? `${info.repo}/${p}` : info.repo;
  }

  /** Repo path of a tree path. A single-file tree is the file ('') and its siblings (shards, index). */
  private full(path: string): string {
    if (this.singleFile) {
      if (path === '' || path === '.') return this.root;
      const dir = this.root.includes('/') ? this.root.slice(0, this.root.lastIndexOf('/') + 1) : '';
      return dir + path;
    }
    return this.root ? `${this.root}/${path}` : path;
  }

  async list(): Promise<TreeEntry[]> {
    if (this.singleFile) {
      const f = this.info.files.find((x) => x.path === this.root)!;
      return [{path: '', size: f.size, ...(f.sha256 ? {sha256: f.sha256} : {})}];
    }
    const prefix = this.root ? this.root + '/' : '';
    return this.info.files
      .filter((f) => f.path.startsWith(prefix))
      .map((f) => ({path: f.path.slice(prefix.length), size: f.size, ...(f.sha256 ? {sha256: f.sha256} : {})}));
  }

  open(path: string): ByteSource {
    const full = this.full(path);
    const f = this.info.files.find((x) => x.path === full);
    if (!f) throw new NotFoundError(`${this.info.repo}: no file '${full}'`);
    const src = new HttpByteSource({
      url: resolveUrl(this.cfg, this.info.repo, this.info.commit, full),
      name: `${this.info.repo}/${full}`,
      size: f.size,
      headers: authHeaders(this.cfg),
      http: this.cfg.http,
      authHint: hfAuthHint(this.cfg, this.info.repo),
    });
    this.sources.push(src);
    return src;
  }

  async readText(path: string): Promise<string> {
    const full = this.full(path);
    if (!this.info.files.some((x) => x.path === full)) throw new NotFoundError(`${this.info.repo}: no file '${full}'`);
    const counter = {requests: 0};
    const res = await fetchWithRetry(resolveUrl(this.cfg, this.info.repo, this.info.commit, full), {headers: authHeaders(this.cfg)}, {...this.cfg.http, counter});
    this.textStats.requests += counter.requests;
    if (!res.ok) throw await errorForResponse(res, {what: `${this.info.repo}/${full}`, authHint: hfAuthHint(this.cfg, this.info.repo), secrets: this.cfg.http.secrets});
    const text = await res.text();
    this.textStats.bytes += Buffer.byteLength(text);
    return text;
  }

  /** Requests and bytes spent reading (configs + byte sources), for benchmarks and tests. */
  get stats(): TreeStats {
    let requests = this.textStats.requests;
    let bytes = this.textStats.bytes;
    let reads = 0;
    for (const s of this.sources) {
      requests += s.stats.requests;
      bytes += s.stats.bytes;
      reads += s.stats.reads;
    }
    return {requests, bytes, reads};
  }

  /** Per-file request counts (benchmarks check "at most two requests per safetensors file"). */
  get perFile(): Array<{name: string; requests: number; bytes: number}> {
    return this.sources.map((s) => ({name: s.name, requests: s.stats.requests, bytes: s.stats.bytes}));
  }
}
