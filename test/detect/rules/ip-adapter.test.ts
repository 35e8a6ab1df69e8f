// IP-Adapters name the image encoder their image projection reads, from its widths: h94/IP-Adapter's ViT-H
// (`models/image_encoder`) or ViT-bigG (`sdxl_models/image_encoder`), openai/clip-vit-large-patch14 for XLabs FLUX;
// inspect shows it. Widths as in the real files (ip-adapter_sd15: proj [3072, 1024]; ip-adapter_sdxl: [8192, 1280];
// ip-adapter_sdxl_vit-h: [8192, 1024]; plus: proj_in [*, 1280] from ViT-H's hidden states).
import {describe, expect, test} from '@jest/globals';
import {resolve} from 'node:path';
import {detectLocal} from '../../../src/detect/index.js';
import {runRules} from '../../../src/detect/registry.js';
import {buildReport} from '../../../src/detect/report.js';
import {renderInspect} from '../../../src/render/inspect-text.js';
import {factsFrom} from '../../helpers/facts.js';
import type {TensorSpec} from '../../helpers/safetensors-writer.js';
import * as a from '../../helpers/fixtures/adapters.js';

const t = (name: string, shape: number[]): TensorSpec => ({name, dtype: 'F16', shape});
const toK = (ctx: number) => [t('ip_adapter.1.to_k_ip.weight', [320, ctx]), t('ip_adapter.1.to_v_ip.weight', [320, ctx])];
const standard = (ctx: number, width: number) => [...toK(ctx), t('image_proj.proj.weight', [ctx * 4, width]), t('image_proj.norm.weight', [ctx])];
const plus = (ctx: number, hidden: number) => [...toK(ctx), t('image_proj.latents', [1, 16, 1280]), t('image_proj.proj_in.weight', [1280, hidden]), t('image_proj.layers.0.0.to_q.weight', [1280, 1280]), t('image_proj.proj_out.weight', [ctx, 1280])];
const win = (specs: TensorSpec[], name = 'ip-adapter.safetensors') => runRules(factsFrom(specs, {name})).winner;

const VIT_H = 'h94/IP-Adapter/models/image_encoder';
const BIG_G = 'h94/IP-Adapter/sdxl_models/image_encoder';

describe('the image encoder an IP-Adapter needs', () => {
  test.each([
    ['ip-adapter_sd15 (projection 1024)', standard(768, 1024), 'sd1', ['standard'], VIT_H],
    ['ip-adapter_sd15_vit-G (projection 1280)', standard(768, 1280), 'sd1', ['standard'], BIG_G],
    ['ip-adapter_sdxl (projection 1280: bigG, SDXL\'s own)', standard(2048, 1280), 'sdxl', ['standard'], BIG_G],
    ['ip-adapter_sdxl_vit-h (projection 1024)', standard(2048, 1024), 'sdxl', ['standard', 'vit-h'], VIT_H],
    ['ip-adapter-plus_sd15 (hidden 1280)', plus(768, 1280), 'sd1', ['plus'], VIT_H],
    ['ip-adapter-plus_sdxl_vit-h (hidden 1280)', plus(2048, 1280), 'sdxl', ['plus', 'vit-h'], VIT_H],
    ['a plus adapter on bigG hidden states (1664)', plus(2048, 1664), 'sdxl', ['plus'], BIG_G],
  ] as const)('%s', (_n, specs, family, variants, encoder) => {
    const w = win([...specs]);
    expect(w).toMatchObject({kind: 'ip-adapter', family, variants: [...variants]});
    expect(w?.requires).toEqual([expect.objectContaining({role: 'image-encoder', id: encoder})]);
  });

  test('XLabs FLUX: openai/clip-vit-large-patch14, the one encoder XLabs trains with', () => {
    const w = win(a.xlabsIpAdapter());
    expect(w).toMatchObject({kind: 'ip-adapter', family: 'flux', variants: ['xlabs']});
    expect(w?.requires).toEqual([{role: 'image-encoder', id: 'openai/clip-vit-large-patch14', what: expect.stringMatching(/CLIP ViT-L\/14/)}]);
  });

  test('a width no published encoder has (the tiny builtin\'s 32) names none; FaceID (insightface) names none', () => {
    expect(win(standard(768, 32))?.requires).toBeUndefined();
    expect(win([...toK(768), t('image_proj.proj.0.weight', [1024, 512]), t('image_proj.norm.weight', [768])])).toMatchObject({variants: ['faceid']});
    expect(win([...toK(768), t('image_proj.proj.0.weight', [1024, 512])])?.requires).toBeUndefined();
  });

  test('the report carries it and inspect prints it on a "needs" line', () => {
    const facts = factsFrom(a.xlabsIpAdapter(), {name: 'ip_adapter.safetensors'});
    const r = buildReport(facts, runRules(facts), {type: 'huggingface', id: 'XLabs-AI/flux-ip-adapter'});
    expect(r.requires).toEqual([expect.objectContaining({id: 'openai/clip-vit-large-patch14'})]);
    const plain = {bold: (s: string) => s, dim: (s: string) => s, warn: (s: string) => s};
    expect(renderInspect(r, plain)).toMatch(/\n {2}needs +image encoder openai\/clip-vit-large-patch14: CLIP ViT-L\/14/);
    const sd = factsFrom(standard(768, 32));
    expect(renderInspect(buildReport(sd, runRules(sd), {type: 'local', id: 'x'}), plain)).not.toMatch(/needs/);
  });

  const plusFace = resolve(process.cwd(), '../shared/corpus/detect/invokeai-face-reference-ip-adapter-plus-face/Face Reference (IP Adapter Plus Face).safetensors');
  test('the corpus\' Plus-Face file (InvokeAI\'s probe fixture) needs ViT-H', async () => {
    const r = await detectLocal(plusFace);
    expect(r).toMatchObject({kind: 'ip-adapter', family: 'sd1', variants: ['plus-face']});
    expect(r.requires?.map((q) => q.id)).toEqual([VIT_H]);
  });
});
