import {afterAll, beforeAll, beforeEach, describe, expect, it} from '@jest/globals';
import {createHash} from 'node:crypto';
import {existsSync, mkdtempSync, readdirSync, readFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {AuthError, NotFoundError, UsageError} from '../../src/errors.js';
import {civitaiConfig, getVersionByHash} from '../../src/sources/civitai/client.js';
import {openCivitai, pullCivitai} from '../../src/sources/civitai/civitai-source.js';
import {compareBaseModel, familyOfBaseModel} from '../../src/sources/civitai/metadata.js';
import {ChecksumError} from '../../src/sources/download/fetch-file.js';
import {safetensors} from '../helpers/hub-fixtures.js';
import {LoopbackCivitai, startCivitai} from '../helpers/loopback-civitai.js';

let civ: LoopbackCivitai;
let env: NodeJS.ProcessEnv;
const lora = safetensors([['lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight', 'F16', [4, 320]]], {ss_base_model_version: 'sd_v1'});
const full = safetensors([['model.diffusion_model.input_blocks.0.0.weight', 'F32', [320, 4, 3, 3]]]);
const pruned = safetensors([['model.diffusion_model.input_blocks.0.0.weight', 'F16', [320, 4, 3, 3]]]);
const pickle = Buffer.alloc(4000, 9);

beforeAll(async () => {
  civ = await startCivitai(
    {id: 100, name: 'Tiny LoRA', type: 'LORA', versions: [{id: 1001, modelId: 100, name: 'v1', baseModel: 'SD 1.5', trainedWords: ['tinystyle'], files: [{id: 5001, name: 'tiny_lora.safetensors', content: lora, primary: true}]}]},
    {id: 200, name: 'Tiny Checkpoint', type: 'Checkpoint', versions: [{id: 2001, modelId: 200, name: 'v2', baseModel: 'SDXL 1.0', files: [
      {id: 6001, name: 'tiny_full.ckpt', content: pickle, format: 'PickleTensor', fp: 'fp32', size: 'full', primary: true},
      {id: 6002, name: 'tiny_full.safetensors', content: full, fp: 'fp32', size: 'full'},
      {id: 6003, name: 'tiny_pruned.safetensors', content: pruned, fp: 'fp16', size: 'pruned', type: 'Pruned Model'},
    ]}]},
    {id: 300, name: 'Ambiguous', type: 'Checkpoint', versions: [{id: 3001, modelId: 300, name: 'v1', files: [
      {id: 7001, name: 'a.safetensors', content: pruned, fp: 'fp16', size: 'pruned'},
      {id: 7002, name: 'b.safetensors', content: Buffer.concat([pruned.subarray(0, -1), Buffer.from([1])]), fp: 'fp16', size: 'pruned'},
    ]}]},
    {id: 400, name: 'Members only', type: 'LORA', versions: [{id: 4001, modelId: 400, name: 'v1', requiresAuth: true, files: [{id: 8001, name: 'm.safetensors', content: lora, primary: true}]}]},
    {id: 500, name: 'Bad hash', type: 'LORA', versions: [{id: 5001, modelId: 500, name: 'v1', files: [{id: 9001, name: 'bad.safetensors', content: lora, primary: true, sha256: 'a'.repeat(64)}]}]},
  );
});
afterAll(async () => civ.close());
beforeEach(() => {
  env = {MGEN_HOME: mkdtempSync(join(tmpdir(), 'mgen-civ-')), CIVITAI_ENDPOINT: civ.url};
});

describe('CivitAI remote inspect', () => {
  it('opens the primary file by Range through the storage redirect and reports CivitAI metadata', async () => {
    const {tree, source, civitai} = await openCivitai({modelId: 100, env});
    expect(tree.singleFile).toBe(true);
    const [entry] = await tree.list();
    expect(entry!.size).toBe(lora.length);
    expect(entry!.sha256).toBe(createHash('sha256').update(lora).digest('hex'));
    const src = tree.open('');
    const head = await src.read(0, 8);
    const len = Number(Buffer.from(head).readBigUInt64LE(0));
    const header = JSON.parse(Buffer.from(await src.read(8, len)).toString());
    expect(header.__metadata__.ss_base_model_version).toBe('sd_v1');
    // The size probe prefetched the head: the whole header cost one Range request after the redirect.
    const downloads = civ.log.filter((l) => l.path.startsWith('/file/') || l.path.startsWith('/api/download'));
    expect(downloads.length).toBeLessThanOrEqual(2);
    expect(downloads.every((l) => l.range)).toBe(true);
    expect(source).toMatchObject({type: 'civitai', id: 'civitai:100@1001', revision: '1001', file: 'tiny_lora.safetensors'});
    expect(civitai).toMatchObject({baseModel: 'SD 1.5', declaredFamily: 'sd1', trainedWords: ['tinystyle'], file: {pickleScanResult: 'Success', virusScanResult: 'Success'}});
    expect(civitai!.usage.allowCommercialUse).toEqual(['Image']);
    expect(civitai!.file.hashes.SHA256).toMatch(/^[0-9A-F]{64}$/);
  });

  it('prefers safetensors over a pickle primary, then the pruned fp16 file', async () => {
    const {source} = await openCivitai({modelId: 200, env});
    expect(source.file).toBe('tiny_pruned.safetensors');
    expect((await openCivitai({modelId: 200, versionId: 2001, file: 'fp32', env})).source.file).toBe('tiny_full.safetensors');
    expect((await openCivitai({versionId: 2001, file: '6001', env})).source.file).toBe('tiny_full.ckpt');
  });

  it('several files that fit and no TTY: exit 2 listing the choices and --file; a chooser picks', async () => {
    const err = await openCivitai({modelId: 300, env}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(/a\.safetensors.*b\.safetensors/);
    expect((err as UsageError).hint).toMatch(/--file/);
    const {source} = await openCivitai({modelId: 300, env, choose: async (c) => c[1]!});
    expect(source.file).toBe('b.safetensors');
  });

  it('a download that needs a token: exit 4 saying CIVITAI_TOKEN; the token goes as a bearer header and is never shown', async () => {
    const err = await openCivitai({modelId: 400, env: {...env, CIVITAI_TOKEN: 'civ_wrongtoken_99'}}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect((err as AuthError).hint).toMatch(/CIVITAI_TOKEN/);
    expect(JSON.stringify({m: (err as Error).message, d: (err as AuthError).detail, h: (err as AuthError).hint})).not.toContain('civ_wrongtoken_99');
    const ok = await openCivitai({modelId: 400, env: {...env, CIVITAI_API_TOKEN: 'civ_goodtoken_1234'}});
    expect((await ok.tree.list())[0]!.size).toBe(lora.length);
    const dl = civ.log.filter((l) => l.path === '/api/download/models/4001').pop()!;
    expect(dl.auth).toBe('Bearer civ_goodtoken_1234');
    // The token does not follow the redirect to the storage origin.
    expect(civ.log.filter((l) => l.path.startsWith('/file/4001')).every((l) => !l.auth)).toBe(true);
  });

  it('unknown model or version: exit 3', async () => {
    await expect(openCivitai({modelId: 999, env})).rejects.toBeInstanceOf(NotFoundError);
    await expect(openCivitai({versionId: 999, env})).rejects.toBeInstanceOf(NotFoundError);
  });

  it('finds a version by file hash', async () => {
    const v = await getVersionByHash(civitaiConfig({env}), createHash('sha256').update(lora).digest('hex'));
    expect(v.id).toBe(1001);
  });
});

describe('CivitAI pull', () => {
  it('stores the file by sha256 with a metadata sidecar, then finds it offline', async () => {
    const r = await pullCivitai({modelId: 100, env});
    const sha = createHash('sha256').update(lora).digest('hex');
    expect(r.path).toBe(join(env.MGEN_HOME!, 'models', sha, 'tiny_lora.safetensors'));
    expect(readFileSync(r.path).equals(lora)).toBe(true);
    const meta = JSON.parse(readFileSync(join(env.MGEN_HOME!, 'models', sha, 'mgen.json'), 'utf8'));
    expect(meta).toMatchObject({sha256: sha, source: 'civitai', id: 'civitai:100@1001', civitai: {versionId: 1001, baseModel: 'SD 1.5'}});
    expect(r.bytes_downloaded).toBe(lora.length);
    expect(r.download_seconds).toBeGreaterThan(0);
    const n = civ.log.length;
    const off = await pullCivitai({modelId: 100, offline: true, env});
    expect(off.path).toBe(r.path);
    expect(civ.log.length).toBe(n);
    const again = await pullCivitai({modelId: 100, env});
    expect(again.bytes_downloaded).toBe(0);
    await expect(pullCivitai({modelId: 200, offline: true, env})).rejects.toBeInstanceOf(NotFoundError);
  });

  it('a wrong sha256 is refused (exit 5) and nothing is left in the store', async () => {
    const err = await pullCivitai({modelId: 500, env}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChecksumError);
    expect((err as ChecksumError).exitCode).toBe(5);
    const models = join(env.MGEN_HOME!, 'models');
    const left = existsSync(models) ? readdirSync(models).filter((d) => !d.startsWith('.')) : [];
    expect(left).toEqual([]);
    const partial = join(models, '.partial');
    expect(existsSync(partial) ? readdirSync(partial).flatMap((d) => readdirSync(join(partial, d))) : []).toEqual([]);
  });

  it('--dry-run writes nothing', async () => {
    const r = await pullCivitai({modelId: 200, dryRun: true, env});
    expect(r.dry_run).toBe(true);
    expect(existsSync(join(env.MGEN_HOME!, 'models'))).toBe(false);
  });
});

describe('declared base model vs detected family', () => {
  it('maps CivitAI base models to families', () => {
    expect(familyOfBaseModel('SDXL 1.0')).toBe('sdxl');
    expect(familyOfBaseModel('Pony')).toBe('sdxl');
    expect(familyOfBaseModel('Flux.1 D')).toBe('flux');
    expect(familyOfBaseModel('SD 1.5')).toBe('sd1');
    expect(familyOfBaseModel('Other')).toBeUndefined();
  });
  it('warns only on a real disagreement', () => {
    expect(compareBaseModel('SDXL 1.0', 'sd1')).toMatch(/declares base model 'SDXL 1.0' \(sdxl\) but the tensors say sd1/);
    expect(compareBaseModel('SDXL 1.0', 'sdxl')).toBeUndefined();
    expect(compareBaseModel('Other', 'sd1')).toBeUndefined();
    expect(compareBaseModel('SD 1.5', 'unknown')).toBeUndefined();
  });
});
