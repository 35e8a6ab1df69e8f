import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {AuthError, NetworkError, NotFoundError} from '../../src/errors.js';
import {hfConfig} from '../../src/sources/hf/config.js';
import {resolveHfRepo} from '../../src/sources/hf/client.js';
import {HfTree} from '../../src/sources/hf/hf-tree.js';
import {diffusersRepo, safetensors, singleFileRepo} from '../helpers/hub-fixtures.js';
import {commitOf, LoopbackHub, startHub} from '../helpers/loopback-hub.js';

let hub: LoopbackHub;
const cfg = (token?: string) => hfConfig({endpoint: hub.url, token, env: {}, http: {baseDelayMs: 5}});

beforeAll(async () => {
  hub = await startHub(diffusersRepo('org/tiny-sd'), singleFileRepo('org/single'));
  hub.addRepo({...singleFileRepo('org/gated'), gated: 'manual'});
  hub.addRepo({...singleFileRepo('org/private'), private: true});
  hub.addRepo({...singleFileRepo('org/multi'), refs: {dev: commitOf('dev')}});
});
afterAll(async () => hub.close());

async function readSafetensorsHeader(src: import('../../src/detect/types.js').ByteSource): Promise<Record<string, unknown>> {
  const first = await src.read(0, 64 * 1024);
  const len = Number(Buffer.from(first).readBigUInt64LE(0));
  let bytes = Buffer.from(first.subarray(8, 8 + len));
  if (bytes.length < len) bytes = Buffer.concat([bytes, Buffer.from(await src.read(8 + bytes.length, len - bytes.length))]);
  return JSON.parse(bytes.toString()) as Record<string, unknown>;
}

describe('resolveHfRepo', () => {
  it('pins the revision to the commit and lists files with sizes and LFS sha256', async () => {
    const info = await resolveHfRepo(cfg(), 'org/tiny-sd');
    expect(info.commit).toBe(commitOf('org/tiny-sd'));
    expect(info.license).toBe('openrail');
    const unet = info.files.find((f) => f.path === 'unet/diffusion_pytorch_model.safetensors')!;
    expect(unet.lfs).toBe(true);
    expect(unet.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(info.files.find((f) => f.path === 'model_index.json')!.lfs).toBe(false);
  });
  it('resolves a branch to its commit', async () => {
    expect((await resolveHfRepo(cfg(), 'org/multi', 'dev')).commit).toBe(commitOf('dev'));
  });
  it('404 -> NotFoundError (exit 3), unknown revision too', async () => {
    await expect(resolveHfRepo(cfg(), 'org/nope')).rejects.toBeInstanceOf(NotFoundError);
    await expect(resolveHfRepo(cfg(), 'org/single', 'nobranch')).rejects.toThrow(/revision/);
  });
  it('gated -> AuthError (exit 4) saying to accept the licence and set HF_TOKEN; works with a good token', async () => {
    const err = await resolveHfRepo(cfg(), 'org/gated').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect((err as AuthError).exitCode).toBe(4);
    expect((err as AuthError).hint).toMatch(/accept the licence.*HF_TOKEN/);
    const err403 = await resolveHfRepo(cfg('hf_wrongtoken999999'), 'org/gated').catch((e: unknown) => e);
    expect(err403).toBeInstanceOf(AuthError);
    expect(String((err403 as Error).message) + (err403 as AuthError).hint).not.toContain('hf_wrongtoken999999');
    expect((await resolveHfRepo(cfg('hf_goodtoken123456'), 'org/gated')).gated).toBe('manual');
  });
  it('private without a token -> AuthError', async () => {
    await expect(resolveHfRepo(cfg(), 'org/private')).rejects.toBeInstanceOf(AuthError);
    expect((await resolveHfRepo(cfg('hf_goodtoken123456'), 'org/private')).private).toBe(true);
  });
  it('retries a 500 that heals and a 429 with Retry-After', async () => {
    hub.fault({match: /^\/api\/models\/org\/single\/revision/, times: 1, status: 500});
    hub.fault({match: /^\/api\/models\/org\/single\/tree/, times: 1, status: 429, headers: {'retry-after': '0'}});
    expect((await resolveHfRepo(cfg(), 'org/single')).files.length).toBe(2);
  });
  it('persistent 503 -> NetworkError (exit 5) after bounded retries', async () => {
    hub.fault({match: /^\/api\/models\/org\/single\/revision/, times: 10, status: 503});
    const err = await resolveHfRepo(cfg(), 'org/single').catch((e: unknown) => e);
    hub.faults = [];
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as NetworkError).exitCode).toBe(5);
  });
});

describe('HfTree', () => {
  it('reads a safetensors header through the CDN redirect with at most two requests', async () => {
    const info = await resolveHfRepo(cfg(), 'org/tiny-sd');
    const tree = new HfTree(cfg(), info);
    const before = hub.log.length;
    const src = tree.open('unet/diffusion_pytorch_model.safetensors');
    const header = await readSafetensorsHeader(src);
    expect(Object.keys(header)).toContain('conv_in.weight');
    expect(src.stats.reads).toBe(1);
    expect(tree.stats.requests).toBeLessThanOrEqual(2);
    const reqs = hub.log.slice(before);
    expect(reqs.map((r) => r.path)[0]).toMatch(/\/resolve\//);
    expect(reqs.every((r) => r.range)).toBe(true);
    // A second read goes straight to the remembered CDN URL with its Range.
    await src.read(8, 16);
    expect(hub.log.slice(-1)[0]!.path).toMatch(/^\/cdn\//);
    expect(hub.log.slice(-1)[0]!.range).toBe('bytes=8-23');
  });
  it('reads only what it asks for: a big header costs exactly two reads', async () => {
    const many: Array<[string, string, number[]]> = [];
    for (let i = 0; i < 3000; i++) many.push([`layer.${i}.weight`, 'F16', [1]]);
    hub.addRepo({id: 'org/bighdr', commit: commitOf('bighdr'), files: [{path: 'm.safetensors', content: safetensors(many)}]});
    const tree = new HfTree(cfg(), await resolveHfRepo(cfg(), 'org/bighdr'));
    const src = tree.open('m.safetensors');
    const h = await readSafetensorsHeader(src);
    expect(Object.keys(h).length).toBe(3000);
    expect(src.stats.reads).toBe(2);
    expect(src.stats.bytes).toBeLessThan(await src.size());
  });
  it('lists and reads configs; a file path makes a single-file tree', async () => {
    const info = await resolveHfRepo(cfg(), 'org/tiny-sd');
    const tree = new HfTree(cfg(), info);
    expect(JSON.parse(await tree.readText('model_index.json'))._class_name).toBe('StableDiffusionPipeline');
    const sub = new HfTree(cfg(), info, 'unet');
    expect((await sub.list()).map((e) => e.path)).toContain('config.json');
    const single = new HfTree(cfg(), info, 'unet/diffusion_pytorch_model.safetensors');
    expect(single.singleFile).toBe(true);
    expect((await single.list())[0]!.path).toBe('');
    expect(() => new HfTree(cfg(), info, 'nope.safetensors')).toThrow(NotFoundError);
  });
  it('a read whose body is cut short is retried', async () => {
    const tree = new HfTree(cfg(), await resolveHfRepo(cfg(), 'org/single'));
    hub.fault({match: /^\/cdn\//, times: 1, cutAfter: 3});
    const src = tree.open('model.safetensors');
    const n = hub.log.length;
    const head = await src.read(0, 64);
    expect(hub.log.slice(n).filter((l) => l.path.startsWith('/cdn/')).length).toBe(2);
    expect(head.length).toBe(64);
    expect(Number(Buffer.from(head).readBigUInt64LE(0))).toBeGreaterThan(0);
  });

  it('gated files fail with AuthError, a good token reads them', async () => {
    const info = await resolveHfRepo(cfg('hf_goodtoken123456'), 'org/gated');
    await expect(new HfTree(cfg(), info).readText('README.md')).rejects.toBeInstanceOf(AuthError);
    const ok = new HfTree(cfg('hf_goodtoken123456'), info);
    expect(await ok.readText('README.md')).toContain('single');
    expect((await ok.open('model.safetensors').read(0, 8)).length).toBe(8);
  });
});
