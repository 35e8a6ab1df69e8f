// Remote inspect end to end: detect() over HF trees served by the loopback hub reads only headers and configs.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {mkdtempSync, rmSync, truncateSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {detect} from '../../src/detect/index.js';
import {resolveModel} from '../../src/sources/resolve.js';
import {HfTree} from '../../src/sources/hf/hf-tree.js';
import * as files from '../helpers/fixtures/files.js';
import {diffusersUnet, ldmVae, clipText, openClipText, sdCheckpoint} from '../helpers/fixtures/sd.js';
import {repoFromFolder} from '../helpers/hub-fixtures.js';
import {LoopbackHub, startHub} from '../helpers/loopback-hub.js';

let hub: LoopbackHub;
let dir: string;
const BIG = 6_938_000_000;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mgen-remote-detect-'));
  const single = join(dir, 'single');
  await files.writeSt(join(single, 'sd_xl_base_1.0.safetensors'), sdCheckpoint('sdxl'));
  truncateSync(join(single, 'sd_xl_base_1.0.safetensors'), BIG); // sparse: header real, data holes
  const pipe = join(dir, 'pipe');
  await files.writeDiffusers(pipe, 'StableDiffusionXLPipeline', {
    unet: {lib: 'diffusers', cls: 'UNet2DConditionModel', config: {cross_attention_dim: 2048, in_channels: 4, addition_embed_type: 'text_time'},
      specs: diffusersUnet('', {context: 2048, adm: 2816, depth: 10, linearProj: true})},
    vae: {lib: 'diffusers', cls: 'AutoencoderKL', config: {latent_channels: 4}, specs: ldmVae('', 4, 'F16', true)},
    text_encoder: {lib: 'transformers', cls: 'CLIPTextModel', config: {hidden_size: 768}, specs: clipText('text_model.', 768, 2)},
    text_encoder_2: {lib: 'transformers', cls: 'CLIPTextModelWithProjection', config: {hidden_size: 1280}, specs: openClipText('text_model.', 1280, 2)},
    scheduler: {lib: 'diffusers', cls: 'EulerDiscreteScheduler'},
  });
  hub = await startHub(repoFromFolder('org/sdxl-single', single), repoFromFolder('org/sdxl-pipe', pipe));
});
afterAll(async () => {
  await hub.close();
  rmSync(dir, {recursive: true, force: true});
});

describe('remote inspect over the loopback hub', () => {
  it('a 6.9 GB single file: detected from its header with at most two Range reads, < 0.1% of its bytes', async () => {
    const m = await resolveModel('org/sdxl-single/sd_xl_base_1.0.safetensors', {env: {HF_ENDPOINT: hub.url}});
    const before = hub.log.length;
    const report = await detect(m.tree, m.source);
    expect(report.family).toBe('sdxl');
    expect(report.kind).toBe('checkpoint');
    expect(report.source).toMatchObject({type: 'huggingface', id: 'org/sdxl-single'});
    const st = (m.tree as HfTree).stats;
    expect(st.reads).toBeLessThanOrEqual(2);
    const served = hub.log.slice(before).reduce((a, l) => a + l.bytes, 0);
    expect(served).toBeLessThan(BIG * 0.001);
    expect(hub.log.slice(before).filter((l) => l.path.includes('safetensors')).every((l) => l.range)).toBe(true);
  });

  it('a diffusers repo: model_index.json, configs and weight headers only', async () => {
    const m = await resolveModel('org/sdxl-pipe', {env: {HF_ENDPOINT: hub.url}});
    const before = hub.log.length;
    const report = await detect(m.tree, m.source);
    expect(report.format).toBe('diffusers');
    expect(report.family).toBe('sdxl');
    const log = hub.log.slice(before);
    const weights = log.filter((l) => /\.safetensors$/.test(l.path));
    expect(weights.every((l) => l.range)).toBe(true);
    for (const f of (m.tree as HfTree).perFile) expect(f.requests).toBeLessThanOrEqual(3);
    const reads = (m.tree as HfTree).perFile.map((f) => f.name);
    expect(new Set(reads).size).toBe(reads.length);
  });
});
