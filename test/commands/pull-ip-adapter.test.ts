// `mgen pull` of an IP-Adapter brings its image encoder like a dependency, from the repository the adapter's layout
// names (loopback Hub): XLabs-AI/flux-ip-adapter -> openai/clip-vit-large-patch14; an h94/IP-Adapter file pulled alone
// -> that repo's models/image_encoder (ViT-H) or sdxl_models/image_encoder (bigG), weights in safetensors only.
// `mgen inspect` names the encoder. Real key names, small shapes where the widths do not matter.
import {afterAll, beforeAll, beforeEach, describe, expect, it} from '@jest/globals';
import {existsSync, mkdtempSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import Inspect from '../../src/commands/inspect.js';
import Pull from '../../src/commands/pull.js';
import {safetensors} from '../helpers/hub-fixtures.js';
import {commitOf, startHub, type HubRepo, type LoopbackHub} from '../helpers/loopback-hub.js';
import {runCli} from '../helpers/sources-cli.js';

const json = (o: unknown) => Buffer.from(JSON.stringify(o));
const repo = (id: string, files: Array<[string, Buffer]>): HubRepo => ({id, commit: commitOf(id), files: files.map(([path, content]) => ({path, content}))});

/** The SD adapters' keys: to_k_ip from the cross-attention width, image_proj.proj from the encoder's projection width. */
const h94Adapter = (ctx: number, width: number) => safetensors([
  ['image_proj.norm.bias', 'F16', [ctx]], ['image_proj.norm.weight', 'F16', [ctx]], ['image_proj.proj.bias', 'F16', [8]], ['image_proj.proj.weight', 'F16', [8, width]],
  ['ip_adapter.1.to_k_ip.weight', 'F16', [8, ctx]], ['ip_adapter.1.to_v_ip.weight', 'F16', [8, ctx]],
]);
const encoderFiles = (dir: string): Array<[string, Buffer]> => [
  [`${dir}config.json`, json({architectures: ['CLIPVisionModelWithProjection'], hidden_size: 32, projection_dim: 32})],
  [`${dir}model.safetensors`, safetensors([['vision_model.embeddings.patch_embedding.weight', 'F16', [32, 3, 14, 14]], ['visual_projection.weight', 'F16', [32, 32]]])],
  [`${dir}pytorch_model.bin`, Buffer.alloc(300, 1)],
];

let hub: LoopbackHub;
let env: Record<string, string | undefined>;
beforeAll(async () => {
  hub = await startHub(
    repo('XLabs-AI/flux-ip-adapter', [
      ['README.md', Buffer.from('# flux ip adapter\n')],
      ['ip_adapter_workflow.json', json({nodes: []})],
      ['ip_adapter.safetensors', safetensors([
        ['double_blocks.0.processor.ip_adapter_double_stream_k_proj.bias', 'F16', [8]], ['double_blocks.0.processor.ip_adapter_double_stream_k_proj.weight', 'F16', [8, 4096]],
        ['double_blocks.0.processor.ip_adapter_double_stream_v_proj.bias', 'F16', [8]], ['double_blocks.0.processor.ip_adapter_double_stream_v_proj.weight', 'F16', [8, 4096]],
        ['ip_adapter_proj_model.norm.bias', 'F16', [4096]], ['ip_adapter_proj_model.norm.weight', 'F16', [4096]],
        ['ip_adapter_proj_model.proj.bias', 'F16', [16]], ['ip_adapter_proj_model.proj.weight', 'F16', [16, 768]],
      ])],
    ]),
    repo('openai/clip-vit-large-patch14', [
      ...encoderFiles(''), ['tf_model.h5', Buffer.alloc(200, 2)], ['flax_model.msgpack', Buffer.alloc(200, 3)],
      ['preprocessor_config.json', json({crop_size: 224})], ['tokenizer.json', json({})], ['vocab.json', json({a: 0})], ['merges.txt', Buffer.from('#version: 0.2\n')],
    ]),
    repo('h94/IP-Adapter', [
      ['models/ip-adapter_sd15.safetensors', h94Adapter(768, 1024)], ...encoderFiles('models/image_encoder/'),
      ['sdxl_models/ip-adapter_sdxl.safetensors', h94Adapter(2048, 1280)], ...encoderFiles('sdxl_models/image_encoder/'),
    ]),
  );
});
afterAll(async () => hub?.close());
beforeEach(() => {
  const home = mkdtempSync(join(tmpdir(), 'mgen-pull-ipa-'));
  env = {HF_HOME: join(home, 'hf'), MGEN_HOME: join(home, 'mgen'), HF_ENDPOINT: hub.url, HF_TOKEN: undefined, HF_HUB_OFFLINE: undefined, MODEL_ID: undefined, NO_COLOR: '1'};
});

const paths = (d: {files: Array<{path: string}>}) => d.files.map((f) => f.path).sort();

describe('mgen pull <IP-Adapter>', () => {
  it('XLabs FLUX: the adapter, then openai/clip-vit-large-patch14 (config, safetensors, processor; no .bin/.h5/.msgpack)', async () => {
    const r = await runCli(Pull, ['XLabs-AI/flux-ip-adapter', '--json'], env);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(paths(doc)).toEqual(['ip_adapter.safetensors']);
    expect(doc.dependencies).toHaveLength(1);
    expect(doc.dependencies[0]).toMatchObject({id: 'openai/clip-vit-large-patch14', commit: commitOf('openai/clip-vit-large-patch14')});
    expect(paths(doc.dependencies[0])).toEqual(['config.json', 'merges.txt', 'model.safetensors', 'preprocessor_config.json', 'tokenizer.json', 'vocab.json']);
    expect(existsSync(join(doc.dependencies[0].path, 'model.safetensors'))).toBe(true);
    expect(r.stderr).toMatch(/pulling image encoder openai\/clip-vit-large-patch14 for this IP-Adapter/);
  });

  it('an h94 SD1 file pulled alone brings models/image_encoder; once there, a second pull brings nothing more', async () => {
    const r = await runCli(Pull, ['h94/IP-Adapter/models/ip-adapter_sd15.safetensors'], env);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^h94\/IP-Adapter \(main@[0-9a-f]{12}\): 1 files/);
    expect(lines[2]).toMatch(/^h94\/IP-Adapter \(main@[0-9a-f]{12}\): 2 files/);
    const again = JSON.parse((await runCli(Pull, ['h94/IP-Adapter/models/ip-adapter_sd15.safetensors', '--json'], env)).stdout);
    expect(again.dependencies).toBeUndefined();
    expect(existsSync(join(again.path, 'models', 'image_encoder', 'model.safetensors'))).toBe(true);
    expect(existsSync(join(again.path, 'models', 'image_encoder', 'pytorch_model.bin'))).toBe(false);
  });

  it('an h94 SDXL file (projection 1280) brings sdxl_models/image_encoder (bigG)', async () => {
    const doc = JSON.parse((await runCli(Pull, ['h94/IP-Adapter/sdxl_models/ip-adapter_sdxl.safetensors', '--json'], env)).stdout);
    expect(paths(doc.dependencies[0])).toEqual(['sdxl_models/image_encoder/config.json', 'sdxl_models/image_encoder/model.safetensors']);
  });

  it('inspect names the encoder it needs', async () => {
    const r = await runCli(Inspect, ['XLabs-AI/flux-ip-adapter'], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/needs +image encoder openai\/clip-vit-large-patch14: CLIP ViT-L\/14/);
    const j = JSON.parse((await runCli(Inspect, ['h94/IP-Adapter/models/ip-adapter_sd15.safetensors', '--json'], env)).stdout);
    expect(j.requires).toEqual([{role: 'image-encoder', id: 'h94/IP-Adapter/models/image_encoder', what: expect.stringMatching(/ViT-H\/14/)}]);
  });
});
