import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {createHash} from 'node:crypto';
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs';
import http from 'node:http';
import type {AddressInfo} from 'node:net';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {NotFoundError, UsageError} from '../../src/errors.js';
import {pullHf} from '../../src/sources/hf/hf-pull.js';
import {resolveModel} from '../../src/sources/resolve.js';
import {pullUrl} from '../../src/sources/url.js';
import {diffusersRepo, safetensors} from '../helpers/hub-fixtures.js';
import {commitOf, LoopbackHub, startHub} from '../helpers/loopback-hub.js';

let hub: LoopbackHub;
let files: http.Server;
let filesUrl = '';
let home: string;
const blob = safetensors([['w', 'F16', [128]]], {hello: 'world'});
let ranged = 0;

beforeAll(async () => {
  hub = await startHub(diffusersRepo('org/tiny-sd'));
  home = mkdtempSync(join(tmpdir(), 'mgen-resolve-'));
  // A plain file server with Range support and a content-disposition name.
  files = http.createServer((req, res) => {
    if (req.url !== '/dl/123') {
      res.writeHead(404);
      return void res.end();
    }
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const headers = {'content-disposition': 'attachment; filename="my model.safetensors"', 'accept-ranges': 'bytes', etag: '"v1"'};
    if (m) {
      ranged++;
      const s = Number(m[1]);
      const e = m[2] ? Math.min(Number(m[2]), blob.length - 1) : blob.length - 1;
      res.writeHead(206, {...headers, 'content-range': `bytes ${s}-${e}/${blob.length}`, 'content-length': String(e - s + 1)});
      return void res.end(blob.subarray(s, e + 1));
    }
    res.writeHead(200, {...headers, 'content-length': String(blob.length)});
    res.end(blob);
  });
  await new Promise<void>((r) => files.listen(0, '127.0.0.1', r));
  filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await hub.close();
  files.closeAllConnections();
  await new Promise((r) => files.close(r));
});

const env = () => ({HF_HOME: join(home, 'hf'), MGEN_HOME: join(home, 'mgen'), HF_ENDPOINT: hub.url});

describe('resolveModel', () => {
  it('HF: a remote tree pinned to the commit, with source info for the report', async () => {
    const m = await resolveModel('org/tiny-sd', {env: env()});
    expect(m.source).toMatchObject({type: 'huggingface', id: 'org/tiny-sd', revision: commitOf('org/tiny-sd'), requested_revision: 'main', license: 'openrail', gated: false, private: false});
    const files = m.source.files as Array<{path: string; size: number; sha256?: string}>;
    expect(files.find((f) => f.path === 'unet/diffusion_pytorch_model.safetensors')!.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.parse(await m.tree.readText('model_index.json'))._class_name).toBe('StableDiffusionPipeline');
  });

  it('HF file id: a single-file tree', async () => {
    const m = await resolveModel('org/tiny-sd/unet/diffusion_pytorch_model.safetensors', {env: env()});
    expect(m.tree.singleFile).toBe(true);
    expect(m.source.file).toBe('unet/diffusion_pytorch_model.safetensors');
  });

  it('HF offline: the cached snapshot as a local tree; absent -> exit 3', async () => {
    await expect(resolveModel('org/tiny-sd', {env: {...env(), HF_HUB_OFFLINE: '1'}})).rejects.toBeInstanceOf(NotFoundError);
    await pullHf({repo: 'org/tiny-sd', env: env()});
    const m = await resolveModel('org/tiny-sd', {env: {...env(), HF_HUB_OFFLINE: '1'}});
    expect(m.localPath).toContain(commitOf('org/tiny-sd'));
    expect((await m.tree.list()).map((e) => e.path)).toContain('unet/diffusion_pytorch_model.safetensors');
    const src = m.tree.open('unet/diffusion_pytorch_model.safetensors');
    expect((await src.read(0, 8)).length).toBe(8);
  });

  it('MODEL_ID from the environment; none -> exit 2; builtin is not a source', async () => {
    const m = await resolveModel(undefined, {env: {...env(), MODEL_ID: 'org/tiny-sd'}});
    expect(m.ref).toEqual({kind: 'hf', repo: 'org/tiny-sd'});
    await expect(resolveModel(undefined, {env: env()})).rejects.toBeInstanceOf(UsageError);
    await expect(resolveModel('builtin:tiny', {env: env()})).rejects.toBeInstanceOf(UsageError);
  });

  it('local file: a local tree', async () => {
    const p = join(home, 'local.safetensors');
    writeFileSync(p, blob);
    const m = await resolveModel(p, {env: env()});
    expect(m.source).toEqual({type: 'local', id: p});
    expect(m.tree.singleFile).toBe(true);
    await expect(resolveModel(join(home, 'missing.safetensors'), {env: env()})).rejects.toBeInstanceOf(NotFoundError);
  });

  it('plain URL: inspect by Range, pull by sha256 under MGEN_HOME with the server-given name', async () => {
    ranged = 0;
    const m = await resolveModel(`${filesUrl}/dl/123`, {env: env()});
    expect(m.source).toMatchObject({type: 'url', file: 'my model.safetensors', size: blob.length});
    const src = m.tree.open('');
    const len = Number(Buffer.from(await src.read(0, 8)).readBigUInt64LE(0));
    expect(JSON.parse(Buffer.from(await src.read(8, len)).toString()).__metadata__.hello).toBe('world');
    expect(ranged).toBe(1);
    const r = await pullUrl({url: `${filesUrl}/dl/123`, env: env()});
    expect(r.path).toBe(join(home, 'mgen', 'models', createHash('sha256').update(blob).digest('hex'), 'my model.safetensors'));
    expect(readFileSync(r.path).equals(blob)).toBe(true);
    const off = await resolveModel(`${filesUrl}/dl/123`, {env: env(), offline: true});
    expect(off.tree.singleFile).toBe(true);
  });
});
