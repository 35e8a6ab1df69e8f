import {describe, expect, test} from '@jest/globals';
import {runRules} from '../../../src/detect/registry.js';
import {matchFlux} from '../../../src/detect/rules/flux.js';
import {matchLumina2} from '../../../src/detect/rules/lumina2.js';
import {matchWan} from '../../../src/detect/rules/wan.js';
import {factsFrom} from '../../helpers/facts.js';
import * as dit from '../../helpers/fixtures/dit.js';

const win = (f: ReturnType<typeof factsFrom>) => runRules(f).winner;

describe('FLUX.1 and its look-alikes', () => {
  test('dev (guidance_in) vs schnell (none), BFL names, bare or prefixed', () => {
    expect(win(factsFrom(dit.fluxBfl()))).toMatchObject({family: 'flux', kind: 'checkpoint', variants: ['dev']});
    expect(win(factsFrom(dit.fluxBfl({guidance: false, prefix: 'model.diffusion_model.'})))).toMatchObject({family: 'flux', variants: ['schnell']});
  });
  test('fill (img_in 384) and depth/canny (img_in 128)', () => {
    expect(matchFlux(factsFrom(dit.fluxBfl({inDim: 384})))?.variants).toEqual(['dev', 'fill']);
    expect(matchFlux(factsFrom(dit.fluxBfl({inDim: 128})))?.variants).toEqual(['dev', 'depth-canny']);
  });
  test('diffusers FluxTransformer2DModel key names', () => {
    expect(win(factsFrom(dit.fluxDiffusers({guidance: false})))).toMatchObject({family: 'flux', variants: ['schnell']});
  });
  test('kontext from the pipeline class of a folder', () => {
    const f = factsFrom([], {modelIndex: {_class_name: 'FluxKontextPipeline', transformer: ['diffusers', 'FluxTransformer2DModel']}, components: [{name: 'transformer', className: 'FluxTransformer2DModel', config: {guidance_embeds: true, in_channels: 64}}]});
    expect(win(f)).toMatchObject({family: 'flux', variants: ['dev', 'kontext']});
  });
  test('Chroma, FLUX.2 and HunyuanVideo share block names but are not FLUX.1', () => {
    expect(win(factsFrom(dit.chroma()))?.family).toBe('chroma');
    expect(matchFlux(factsFrom(dit.chroma()))).toBeNull();
    expect(win(factsFrom(dit.flux2()))).toMatchObject({family: 'flux2', variants: ['dev']});
    expect(win(factsFrom(dit.flux2(3072)))?.variants).toEqual(['klein-4b']);
    expect(matchFlux(factsFrom(dit.hunyuanVideo()))).toBeNull();
    expect(win(factsFrom(dit.hunyuanVideo()))?.family).toBe('hunyuanvideo');
  });
});

describe('other DiT families', () => {
  test.each([
    ['sd3 medium', dit.sd3('medium'), 'sd3', ['medium']],
    ['sd3.5 medium', dit.sd3('3.5-medium'), 'sd3', ['3.5-medium']],
    ['sd3.5 large', dit.sd3('3.5-large'), 'sd3', ['3.5-large']],
    ['cascade prior', dit.cascade('prior'), 'cascade', ['prior']],
    ['cascade decoder lite', dit.cascade('decoder', true), 'cascade', ['decoder', 'lite']],
    ['pixart alpha', dit.pixart(true), 'pixart', ['alpha']],
    ['pixart sigma', dit.pixart(false), 'pixart', ['sigma']],
    ['auraflow', dit.auraflow(), 'auraflow', []],
    ['hunyuandit', dit.hunyuanDit(), 'hunyuandit', ['v1.0']],
    ['sana', dit.sana(), 'sana', []],
    ['lumina2', dit.lumina2(), 'lumina2', []],
    ['qwen-image', dit.qwenImage('model.diffusion_model.'), 'qwen-image', []],
    ['qwen-image edit marker', dit.qwenImage('', true), 'qwen-image', ['edit']],
    ['cogvideox t2v', dit.cogVideoX(), 'cogvideox', ['t2v']],
    ['cogvideox i2v', dit.cogVideoX(true), 'cogvideox', ['i2v']],
    ['ltxv', dit.ltxv(), 'ltxv', []],
    ['ltxv 13b', dit.ltxv(48), 'ltxv', ['13b']],
  ] as const)('%s', (_n, specs, family, variants) => {
    const w = win(factsFrom([...specs]));
    expect(w).toMatchObject({kind: 'checkpoint', family});
    expect(w!.variants).toEqual(variants);
  });

  test('PixArt is not mistaken for SANA (both have cross_attn.q_linear)', () => {
    const claims = runRules(factsFrom(dit.pixart(false))).claims.map((c) => c.family);
    expect(claims[0]).toBe('pixart');
  });

  test('Z-Image has cap_embedder but is not Lumina 2', () => {
    const f = factsFrom(dit.zImage());
    expect(matchLumina2(f)).toBeNull();
    expect(win(f)?.family ?? 'unknown').toBe('unknown');
  });

  test('Wan sizes, tasks and versions', () => {
    expect(matchWan(factsFrom(dit.wan(1536, 16)))?.variants).toContain('wan2.1-t2v-1.3b');
    expect(matchWan(factsFrom(dit.wan(3072, 48)))?.variants).toContain('wan2.2-ti2v-5b');
    expect(matchWan(factsFrom(dit.wan(5120, 36, {imgEmb: true})))?.variants).toContain('wan2.1-i2v-14b');
    expect(matchWan(factsFrom(dit.wan(5120, 36)))?.variants).toContain('wan2.2-i2v-a14b');
    const t2v = matchWan(factsFrom(dit.wan(5120, 16, {prefix: 'model.diffusion_model.'}), {name: 'my-video-model.safetensors'}));
    expect(t2v?.variants).toEqual(['t2v', '14b']);
    expect(t2v?.warnings?.join(' ')).toMatch(/version unknown/);
    // A Wan 2.1 repo saved by diffusers >= 0.35 says `boundary_ratio: null`: not the two-expert Wan 2.2.
    const saved = matchWan(factsFrom(dit.wan(5120, 16), {modelIndex: {_class_name: 'WanPipeline', boundary_ratio: null}}));
    expect(saved?.variants).toEqual(['t2v', '14b']);
    expect(matchWan(factsFrom(dit.wan(5120, 16), {modelIndex: {_class_name: 'WanPipeline', boundary_ratio: 0.875}}))?.variants).toContain('wan2.2-t2v-a14b');
    expect(matchWan(factsFrom(dit.wan(5120, 16), {name: 'SmoothMix_HighNoise.safetensors'}))?.variants).toContain('wan2.2-t2v-a14b');
    expect(matchWan(factsFrom([...dit.wan(5120, 36), {name: 'control_adapter.conv.weight', dtype: 'BF16', shape: [5120, 36, 1, 2, 2]}]))?.variants).toContain('fun-control');
    const vace = matchWan(factsFrom([...dit.wan(1536, 16), {name: 'vace_blocks.0.before_proj.weight', dtype: 'BF16', shape: [1536, 1536]}, {name: 'vace_patch_embedding.weight', dtype: 'BF16', shape: [1536, 96, 1, 2, 2]}]));
    expect(vace?.variants).toEqual(['wan2.1-vace-1.3b', 'wan2.1', 't2v', '1.3b', 'vace']);
  });
});
