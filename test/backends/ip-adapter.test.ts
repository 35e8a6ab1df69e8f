// An IP-Adapter's image encoder: the image_encoder/ folder beside it (h94/IP-Adapter's layout), else the encoder its
// report names, resolved like any MODEL_ID (so pulled into the HF cache) before the model loads; neither: exit 3 in
// one line, before anything is fetched or loaded. Stand-in worker, resolution injected, plans only.
import {describe, expect, it} from '@jest/globals';
import {mkdirSync, mkdtempSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {adapterFile, imageEncoderToPull, ipAdapterPaths, resolveImageEncoder} from '../../src/backends/ip-adapter.js';
import type {ResolvedModel} from '../../src/backends/resolve-model.js';
import {openSession} from '../../src/backends/session.js';
import type {ModelReport} from '../../src/detect/types.js';
import {NotFoundError} from '../../src/errors.js';
import {report} from './report-fixture.js';
import {standInWorker} from './stand-in-worker.js';

const CLIP_L = {role: 'image-encoder' as const, id: 'openai/clip-vit-large-patch14', what: 'CLIP ViT-L/14'};
const VIT_H = {role: 'image-encoder' as const, id: 'h94/IP-Adapter/models/image_encoder', what: 'OpenCLIP ViT-H/14'};

function adapterReport(over: Partial<ModelReport> = {}): ModelReport {
  return report({kind: 'ip-adapter', family: 'flux', format: 'single-file', variants: ['xlabs'], pipeline: null,
    files: [{path: 'ip_adapter.safetensors', size: 100, format: 'safetensors', dtypes: {F32: 6}}], requires: [CLIP_L], ...over});
}

/** A folder holding `name` (and `image_encoder/config.json` when asked). */
function layout(name: string, withEncoder = false): string {
  const dir = mkdtempSync(join(tmpdir(), 'mgen-ipa-'));
  mkdirSync(join(dir, name, '..'), {recursive: true});
  writeFileSync(join(dir, name), 'x');
  if (withEncoder) {
    mkdirSync(join(dir, name, '..', 'image_encoder'), {recursive: true});
    writeFileSync(join(dir, name, '..', 'image_encoder', 'config.json'), '{}');
  }
  return dir;
}

describe('resolveImageEncoder', () => {
  it('uses the image_encoder/ beside the file (h94 layout: models/ip-adapter_sd15 + models/image_encoder) and resolves nothing', async () => {
    const dir = layout('models/ip-adapter_sd15.safetensors', true);
    const asked: string[] = [];
    const got = await resolveImageEncoder({file: join(dir, 'models/ip-adapter_sd15.safetensors'), report: {requires: [VIT_H]}, id: 'x'}, async (id) => {
      asked.push(id);
      return {path: '/nope'};
    });
    expect(got).toBe(join(dir, 'models', 'image_encoder'));
    expect(asked).toEqual([]);
  });

  it('else resolves the encoder the report names (an h94 file pulled alone, an XLabs repo)', async () => {
    const dir = layout('ip_adapter.safetensors');
    const got = await resolveImageEncoder({file: join(dir, 'ip_adapter.safetensors'), report: {requires: [CLIP_L]}, id: 'XLabs-AI/flux-ip-adapter'}, async (id) => ({path: `/cache/${id}`}));
    expect(got).toBe('/cache/openai/clip-vit-large-patch14');
  });

  it('neither beside it nor named: NotFoundError (exit 3), one line naming the adapter', async () => {
    const dir = layout('lone.safetensors');
    const err = await resolveImageEncoder({file: join(dir, 'lone.safetensors'), report: {}, id: './lone.safetensors'}, async () => ({path: '/nope'})).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as NotFoundError).exitCode).toBe(3);
    expect((err as Error).message).toBe('IP-Adapter ./lone.safetensors has no image encoder beside it, and its image projection matches no encoder mgen knows');
  });
});

describe('adapterFile and imageEncoderToPull', () => {
  it('a repo folder with one weight file is that file; several: exit 3 asking for the file', () => {
    const dir = layout('ip_adapter.safetensors');
    expect(adapterFile(dir, adapterReport(), 'XLabs-AI/flux-ip-adapter')).toBe(join(dir, 'ip_adapter.safetensors'));
    expect(adapterFile(join(dir, 'ip_adapter.safetensors'), adapterReport(), 'x')).toBe(join(dir, 'ip_adapter.safetensors'));
    const two = adapterReport({files: [{path: 'a.safetensors', size: 1, format: 'safetensors', dtypes: {}}, {path: 'b.bin', size: 1, format: 'pickle', dtypes: {}}]});
    expect(() => adapterFile(dir, two, 'org/two')).toThrow(/org\/two is a folder with 2 weight files/);
  });

  it('pull brings the named encoder unless one is beside the adapter or it is no IP-Adapter', () => {
    const bare = layout('ip_adapter.safetensors');
    expect(imageEncoderToPull(bare, adapterReport())).toBe('openai/clip-vit-large-patch14');
    expect(imageEncoderToPull(join(bare, 'ip_adapter.safetensors'), adapterReport())).toBe('openai/clip-vit-large-patch14');
    expect(imageEncoderToPull(layout('ip_adapter.safetensors', true), adapterReport())).toBeNull();
    expect(imageEncoderToPull(bare, adapterReport({requires: undefined}))).toBeNull();
    expect(imageEncoderToPull(bare, report({kind: 'lora', requires: [CLIP_L]}))).toBeNull();
  });

  it('an adapter for another family or of another kind gets no encoder fetched: the plan refuses it first', async () => {
    const dir = layout('ip_adapter.safetensors');
    const resolve = async (id: string): Promise<{path: string}> => {
      throw new Error(`resolved ${id}`);
    };
    const spec = {id: 'a', image: '/img.png', scale: 1};
    expect((await ipAdapterPaths(spec, {path: dir, report: adapterReport(), id: 'a'}, 'sdxl', resolve)).imageEncoder).toBe('');
    expect((await ipAdapterPaths(spec, {path: dir, report: adapterReport({kind: 'lora'}), id: 'a'}, 'flux', resolve)).imageEncoder).toBe('');
    await expect(ipAdapterPaths(spec, {path: dir, report: adapterReport(), id: 'a'}, 'flux', resolve)).rejects.toThrow('resolved openai/clip-vit-large-patch14');
  });
});

describe('openSession with --ip-adapter', () => {
  const base = (): ResolvedModel => ({id: 'org/flux', pinnedId: 'org/flux@1', path: '/models/flux', report: report({family: 'flux', pipeline: 'FluxPipeline'}), configRepo: null, baseId: null});

  it('resolves the adapter, then its named encoder, and plans the adapter file with that encoder folder', async () => {
    const dir = layout('ip_adapter.safetensors');
    const asked: string[] = [];
    const notes: string[] = [];
    const env = {...process.env, HF_HOME: mkdtempSync(join(tmpdir(), 'mgen-ipa-hf-')), HF_HUB_OFFLINE: undefined};
    const s = await openSession({
      modelId: 'org/flux', python: await standInWorker(), env, planOnly: true, onNote: (n) => notes.push(n),
      ipAdapter: {id: 'XLabs-AI/flux-ip-adapter', image: '/ref.png', scale: 0.6},
      resolve: async (id) => {
        asked.push(id);
        if (id === 'org/flux') return base();
        if (id === 'XLabs-AI/flux-ip-adapter') return {id, pinnedId: `${id}@2`, path: dir, report: adapterReport(), configRepo: null, baseId: null};
        return {id, pinnedId: id, path: `/hf/${id}`, report: report({kind: 'clip-vision', family: 'unknown'}), configRepo: null, baseId: null};
      },
    });
    await s.close();
    expect(asked).toEqual(['org/flux', 'XLabs-AI/flux-ip-adapter', 'openai/clip-vit-large-patch14']);
    expect(notes).toContain('fetching image encoder openai/clip-vit-large-patch14 for this IP-Adapter');
    expect(s.plan.ip_adapter).toEqual({path: join(dir, 'ip_adapter.safetensors'), image_encoder: '/hf/openai/clip-vit-large-patch14', image: '/ref.png', scale: 0.6});
  });

  it('an adapter with no encoder beside it and none named: exit 3 before the model loads', async () => {
    const dir = layout('lone.safetensors');
    const verbs = join(mkdtempSync(join(tmpdir(), 'mgen-ipa-verbs-')), 'verbs');
    const err = await openSession({
      modelId: 'org/flux', python: await standInWorker(), env: {...process.env, FAKE_VERBS: verbs},
      ipAdapter: {id: './lone.safetensors', image: '/ref.png', scale: 1},
      resolve: async (id) => (id === 'org/flux' ? base() : {id, pinnedId: id, path: join(dir, 'lone.safetensors'), report: adapterReport({requires: undefined}), configRepo: null, baseId: null}),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as Error).message).toMatch(/^IP-Adapter \.\/lone\.safetensors has no image encoder beside it/);
    const {verbsSeen} = await import('./stand-in-worker.js');
    expect(await verbsSeen(verbs)).not.toContain('load');
  });
});
