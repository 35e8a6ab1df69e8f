// A loopback CivitAI (node:http on 127.0.0.1:0): /api/v1/models/{id}, /api/v1/model-versions/{id},
// /api/v1/model-versions/by-hash/{sha256}, /api/download/models/{versionId}[?type&format&fp&size] answering
// 307 to a separate "storage" origin (signed-looking URL) that serves Range with content-disposition;
// versions may require a token (401 without one, as CivitAI does for some downloads).
import {createHash} from 'node:crypto';
import http from 'node:http';
import type {AddressInfo} from 'node:net';

export interface CivFileSpec {
  id: number;
  name: string;
  content: Buffer;
  type?: string;
  primary?: boolean;
  fp?: string;
  size?: string;
  format?: string;
  pickleScanResult?: string;
  virusScanResult?: string;
  /** Override the announced sha256 (to test verification; '' announces none). */
  sha256?: string;
  /** The id the API announces instead of `id` (a hostile answer: `1/../../victim`). */
  apiId?: unknown;
}

export interface CivVersionSpec {
  id: number;
  modelId: number;
  name: string;
  baseModel?: string;
  trainedWords?: string[];
  files: CivFileSpec[];
  requiresAuth?: boolean;
  /** The id the API announces instead of `id` (a hostile answer). */
  apiId?: unknown;
}

export interface CivModelSpec {
  id: number;
  name: string;
  type: string;
  versions: CivVersionSpec[];
  allowCommercialUse?: string[];
}

export class LoopbackCivitai {
  url = '';
  storageUrl = '';
  readonly log: Array<{method: string; path: string; range?: string; auth?: string; status: number}> = [];
  tokens = new Set(['civ_goodtoken_1234']);
  models = new Map<number, CivModelSpec>();
  private api = http.createServer((q, s) => this.handle(q, s, false));
  private storage = http.createServer((q, s) => this.handle(q, s, true));

  async start(): Promise<this> {
    await new Promise<void>((r) => this.api.listen(0, '127.0.0.1', r));
    await new Promise<void>((r) => this.storage.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.api.address() as AddressInfo).port}`;
    this.storageUrl = `http://127.0.0.1:${(this.storage.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    for (const s of [this.api, this.storage]) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
  }

  add(model: CivModelSpec): this {
    this.models.set(model.id, model);
    return this;
  }

  private versions(): CivVersionSpec[] {
    return [...this.models.values()].flatMap((m) => m.versions);
  }

  private fileJson(v: CivVersionSpec, f: CivFileSpec) {
    const sha = (f.sha256 ?? createHash('sha256').update(f.content).digest('hex')).toUpperCase();
    const q = new URLSearchParams({type: f.type ?? 'Model', format: f.format ?? 'SafeTensor'});
    if (f.size) q.set('size', f.size);
    if (f.fp) q.set('fp', f.fp);
    return {
      id: f.apiId ?? f.id, sizeKB: f.content.length / 1024, name: f.name, type: f.type ?? 'Model',
      pickleScanResult: f.pickleScanResult ?? 'Success', pickleScanMessage: 'No Pickle imports', virusScanResult: f.virusScanResult ?? 'Success',
      virusScanMessage: null, scannedAt: '2026-01-01T00:00:00.000Z',
      metadata: {format: f.format ?? 'SafeTensor', size: f.size ?? null, fp: f.fp ?? null},
      hashes: {AutoV2: sha.slice(0, 10), SHA256: sha, CRC32: 'ABCDEF01'},
      primary: f.primary ?? false,
      downloadUrl: `${this.url}/api/download/models/${v.id}?${q.toString()}`,
    };
  }

  private versionJson(v: CivVersionSpec) {
    const m = this.models.get(v.modelId)!;
    return {
      id: v.apiId ?? v.id, modelId: v.modelId, name: v.name, baseModel: v.baseModel ?? 'SD 1.5', baseModelType: 'Standard', trainedWords: v.trainedWords ?? [],
      createdAt: '2026-01-01T00:00:00.000Z', downloadUrl: `${this.url}/api/download/models/${v.id}`,
      model: {name: m.name, type: m.type, nsfw: false, poi: false},
      files: v.files.map((f) => this.fileJson(v, f)),
    };
  }

  private json(res: http.ServerResponse, status: number, obj: unknown): void {
    res.writeHead(status, {'content-type': 'application/json'});
    res.end(JSON.stringify(obj));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, storage: boolean): void {
    const u = new URL(req.url ?? '/', storage ? this.storageUrl : this.url);
    const entry = {method: req.method ?? 'GET', path: u.pathname, range: req.headers.range, auth: req.headers.authorization, status: 0};
    this.log.push(entry);
    const send = (status: number, obj: unknown) => {
      entry.status = status;
      this.json(res, status, obj);
    };
    let m: RegExpExecArray | null;
    if (storage) {
      m = /^\/file\/(\d+)\/(\d+)$/.exec(u.pathname);
      const v = m && this.versions().find((x) => x.id === Number(m![1]));
      const f = v?.files.find((x) => x.id === Number(m![2]));
      if (!f || u.searchParams.get('sig') !== 'ok') return send(403, {error: 'bad signature'});
      let start = 0;
      let end = f.content.length - 1;
      let status = 200;
      const r = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
      if (r) {
        start = Number(r[1]);
        if (r[2]) end = Math.min(end, Number(r[2]));
        if (start >= f.content.length) {
          res.writeHead(416, {'content-range': `bytes */${f.content.length}`});
          entry.status = 416;
          return void res.end();
        }
        status = 206;
      }
      entry.status = status;
      res.writeHead(status, {
        'content-type': 'application/octet-stream', 'content-length': String(end - start + 1), 'accept-ranges': 'bytes',
        etag: `"${createHash('md5').update(f.content).digest('hex')}"`,
        'content-disposition': `attachment; filename="${f.name}"`,
        ...(status === 206 ? {'content-range': `bytes ${start}-${end}/${f.content.length}`} : {}),
      });
      return void res.end(req.method === 'HEAD' ? undefined : f.content.subarray(start, end + 1));
    }
    if ((m = /^\/api\/v1\/models\/(\d+)$/.exec(u.pathname))) {
      const model = this.models.get(Number(m[1]));
      if (!model) return send(404, {error: 'No model with id ' + m[1]});
      return send(200, {
        id: model.id, name: model.name, type: model.type, nsfw: false, allowNoCredit: true, allowCommercialUse: model.allowCommercialUse ?? ['Image'],
        allowDerivatives: true, allowDifferentLicense: false, modelVersions: model.versions.map((v) => this.versionJson(v)),
      });
    }
    if ((m = /^\/api\/v1\/model-versions\/(\d+)$/.exec(u.pathname))) {
      const v = this.versions().find((x) => x.id === Number(m![1]));
      return v ? send(200, this.versionJson(v)) : send(404, {error: `Version not found`});
    }
    if ((m = /^\/api\/v1\/model-versions\/by-hash\/([0-9A-Fa-f]+)$/.exec(u.pathname))) {
      const h = m[1]!.toLowerCase();
      for (const v of this.versions()) {
        for (const f of v.files) if (createHash('sha256').update(f.content).digest('hex') === h) return send(200, this.versionJson(v));
      }
      return send(404, {error: 'Model not found'});
    }
    if ((m = /^\/api\/download\/models\/(\d+)$/.exec(u.pathname))) {
      const v = this.versions().find((x) => x.id === Number(m![1]));
      if (!v) return send(404, {error: 'Model version not found'});
      const token = (req.headers.authorization ?? '').replace(/^Bearer\s+/i, '') || u.searchParams.get('token') || '';
      if (v.requiresAuth && !this.tokens.has(token)) {
        return send(401, {error: 'Unauthorized', message: 'The creator of this asset requires you to be logged in to download it'});
      }
      const type = u.searchParams.get('type');
      const format = u.searchParams.get('format');
      const f = v.files.find((x) => (!type || (x.type ?? 'Model') === type) && (!format || (x.format ?? 'SafeTensor') === format)
        && (!u.searchParams.get('fp') || x.fp === u.searchParams.get('fp')) && (!u.searchParams.get('size') || x.size === u.searchParams.get('size')))
        ?? v.files.find((x) => x.primary) ?? v.files[0]!;
      entry.status = 307;
      res.writeHead(307, {location: `${this.storageUrl}/file/${v.id}/${f.id}?sig=ok&X-Amz-Expires=3600`});
      return void res.end();
    }
    return send(404, {error: 'not found'});
  }
}

export async function startCivitai(...models: CivModelSpec[]): Promise<LoopbackCivitai> {
  const c = await new LoopbackCivitai().start();
  for (const m of models) c.add(m);
  return c;
}
