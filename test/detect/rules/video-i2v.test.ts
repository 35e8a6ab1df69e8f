// Image-to-video detection: the task (and so the pipeline and the need for --image) from the transformer's input
// channels, the image embedder or the pipeline class; CogVideoX 1.0 against 1.5 (3-D patches, ofs) and their defaults.
import {describe, expect, test} from '@jest/globals';
import {runRules} from '../../../src/detect/registry.js';
import {buildReport} from '../../../src/detect/report.js';
import {matchCogVideoX} from '../../../src/detect/rules/cogvideox.js';
import {factsFrom, type FactsOpts} from '../../helpers/facts.js';
import * as dit from '../../helpers/fixtures/dit.js';
import type {TensorSpec} from '../../helpers/safetensors-writer.js';

const t = (name: string, shape: number[]): TensorSpec => ({name, dtype: 'BF16', shape});
const report = (tensors: TensorSpec[], o: FactsOpts = {}) => {
  const f = factsFrom(tensors, o);
  return buildReport(f, runRules(f), {type: 'local', id: 'x'});
};

/** CogVideoX 1.5 transformer keys: a linear patch embed over 2x2x2 patches, I2V with its ofs embedding. */
function cogVideoX15(i2v: boolean): TensorSpec[] {
  return [
    t('patch_embed.proj.weight', [3072, (i2v ? 32 : 16) * 8]), t('patch_embed.text_proj.weight', [3072, 4096]),
    t('time_embedding.linear_1.weight', [512, 3072]), t('transformer_blocks.0.norm1.linear.weight', [18432, 512]),
    t('transformer_blocks.0.attn1.to_q.weight', [3072, 3072]), t('norm_final.weight', [3072]), t('proj_out.weight', [128, 3072]),
    ...(i2v ? [t('ofs_embedding.linear_1.weight', [512, 512])] : []),
  ];
}

/** A diffusers folder's facts: model_index class and the transformer's config (the tiny builtins' shape of evidence). */
function folder(pipeline: string, transformerClass: string, config: Record<string, unknown>): FactsOpts {
  return {
    modelIndex: {_class_name: pipeline, transformer: ['diffusers', transformerClass]},
    components: [{name: 'transformer', className: transformerClass, config: {_class_name: transformerClass, ...config}}],
  };
}

describe('CogVideoX 1.0 and 1.5', () => {
  test.each([
    ['1.0 t2v (conv patch embed, 16 channels)', dit.cogVideoX(), ['t2v']],
    ['1.0 i2v (32 channels: the first frame beside the noise)', dit.cogVideoX(true), ['i2v']],
    ['1.5 t2v (linear 3-D patch embed)', cogVideoX15(false), ['t2v', '1.5']],
    ['1.5 i2v (twice the output channels in, ofs embedding)', cogVideoX15(true), ['i2v', '1.5']],
  ])('%s from the keys', (_n, tensors, variants) => {
    expect(matchCogVideoX(factsFrom(tensors))?.variants).toEqual(variants);
  });

  test('a 1.5 folder takes 1.5 defaults (1360x768, 81 frames, 16 fps); 1.0 keeps 720x480, 49 frames, 8 fps', () => {
    const v15 = report([], folder('CogVideoXImageToVideoPipeline', 'CogVideoXTransformer3DModel', {patch_size_t: 2, ofs_embed_dim: 512, in_channels: 32}));
    expect(v15).toMatchObject({family: 'cogvideox', variants: ['i2v', '1.5'], task: 'image-to-video', pipeline: 'CogVideoXImageToVideoPipeline'});
    expect(v15.defaults).toMatchObject({width: 1360, height: 768, frames: 81, fps: 16});
    const v10 = report([], folder('CogVideoXPipeline', 'CogVideoXTransformer3DModel', {patch_size_t: null, ofs_embed_dim: null, in_channels: 16}));
    expect(v10).toMatchObject({variants: ['t2v'], task: 'text-to-video', pipeline: 'CogVideoXPipeline'});
    expect(v10.defaults).toMatchObject({width: 720, height: 480, frames: 49, fps: 8});
    // A tiny I2V transformer's channels are not the real 32: the pipeline class still says image-to-video.
    expect(report([], folder('CogVideoXImageToVideoPipeline', 'CogVideoXTransformer3DModel', {in_channels: 8})).task).toBe('image-to-video');
  });
});

describe('image-to-video task per family', () => {
  test('Wan 2.1 I2V: 36 input channels and the CLIP image embedder', () => {
    const tensors = [...dit.wan(5120, 36, {imgEmb: true})];
    expect(report(tensors)).toMatchObject({family: 'wan', task: 'image-to-video', pipeline: 'WanImageToVideoPipeline'});
  });

  test.each([
    ['WanTransformer3DModel', 'wan', 'WanPipeline', 'WanImageToVideoPipeline'],
    ['HunyuanVideoTransformer3DModel', 'hunyuanvideo', 'HunyuanVideoPipeline', 'HunyuanVideoImageToVideoPipeline'],
    ['LTXVideoTransformer3DModel', 'ltxv', 'LTXPipeline', 'LTXImageToVideoPipeline'],
    ['CogVideoXTransformer3DModel', 'cogvideox', 'CogVideoXPipeline', 'CogVideoXImageToVideoPipeline'],
  ])('a %s folder (%s) is text-to-video under %s, image-to-video under %s, loaded with that pipeline', (transformer, family, t2v, i2v) => {
    expect(report([], folder(t2v, transformer, {}))).toMatchObject({family, task: 'text-to-video', pipeline: t2v});
    expect(report([], folder(i2v, transformer, {}))).toMatchObject({family, task: 'image-to-video', pipeline: i2v});
  });
});
