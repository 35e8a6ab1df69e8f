import {describe, expect, test} from '@jest/globals';
import {runRules} from '../../../src/detect/registry.js';
import {matchSd1} from '../../../src/detect/rules/sd1.js';
import {matchSd2} from '../../../src/detect/rules/sd2.js';
import {matchSdxl} from '../../../src/detect/rules/sdxl.js';
import {matchSdxlRefiner} from '../../../src/detect/rules/sdxl-refiner.js';
import {matchKolors} from '../../../src/detect/rules/kolors.js';
import {factsFrom} from '../../helpers/facts.js';
import {diffusersUnet, ldmUnet, sdCheckpoint} from '../../helpers/fixtures/sd.js';

const win = (f: ReturnType<typeof factsFrom>) => runRules(f).winner;

describe('SD UNet family rules', () => {
  test('SD1 all-in-one: attn2 width 768, nothing else claims it', () => {
    const f = factsFrom(sdCheckpoint('sd1'));
    const m = matchSd1(f);
    expect(m).toMatchObject({kind: 'checkpoint', family: 'sd1', variants: []});
    expect(m!.evidence.join(' ')).toContain('attn2.to_k.weight [320,768]');
    expect(matchSd2(f)).toBeNull();
    expect(matchSdxl(f)).toBeNull();
    expect(win(f)?.family).toBe('sd1');
  });

  test('SD1 inpaint from 9 input channels', () => {
    expect(matchSd1(factsFrom(sdCheckpoint('sd1-inpaint')))?.variants).toEqual(['inpaint']);
  });

  test('SD2 without any prediction cue reports unknown and warns, never guesses', () => {
    const m = matchSd2(factsFrom(sdCheckpoint('sd2')));
    expect(m).toMatchObject({family: 'sd2', prediction: 'unknown'});
    expect(m!.variants).not.toContain('v-prediction');
    expect(m!.warnings!.join(' ')).toMatch(/prediction type unknown/);
  });

  test.each([
    [{'modelspec.architecture': 'stable-diffusion-v2-768-v'}],
    [{'modelspec.prediction_type': 'v'}],
    [{ss_v_parameterization: 'True'}],
    [{global_step: '110000'}],
  ])('SD2 v-prediction from metadata %j', (metadata) => {
    const m = matchSd2(factsFrom(sdCheckpoint('sd2'), {metadata}));
    expect(m).toMatchObject({prediction: 'v'});
    expect(m!.variants).toContain('v-prediction');
  });

  test('SD2 epsilon from global_step 875000', () => {
    expect(matchSd2(factsFrom(sdCheckpoint('sd2'), {metadata: {global_step: '875000'}}))).toMatchObject({prediction: 'epsilon', variants: []});
  });

  test('SD2 depth (5 channels) and x4 upscaler (7 channels)', () => {
    expect(matchSd2(factsFrom(sdCheckpoint('sd2-depth')))?.variants).toEqual(['depth']);
    const up = factsFrom(ldmUnet('model.diffusion_model.', {context: 1024, inChannels: 7, modelChannels: 256, linearProj: true}));
    expect(matchSd2(up)?.variants).toEqual(['x4-upscaler']);
  });

  test('SDXL base, inpaint, Playground v2.5 and v-pred markers', () => {
    expect(win(factsFrom(sdCheckpoint('sdxl')))).toMatchObject({family: 'sdxl', variants: []});
    expect(matchSdxl(factsFrom(sdCheckpoint('sdxl-inpaint')))?.variants).toEqual(['inpaint']);
    const pg = matchSdxl(factsFrom(sdCheckpoint('sdxl', [{name: 'edm_mean', dtype: 'F32', shape: [1, 4, 1, 1]}, {name: 'edm_std', dtype: 'F32', shape: [1, 4, 1, 1]}])));
    expect(pg).toMatchObject({variants: ['playground-v2.5'], prediction: 'edm'});
    const vp = matchSdxl(factsFrom(sdCheckpoint('sdxl', [{name: 'v_pred', dtype: 'F32', shape: []}, {name: 'ztsnr', dtype: 'F32', shape: []}])));
    expect(vp?.variants).toEqual(['v-prediction', 'ztsnr']);
  });

  test('SDXL UNet-only file (diffusers names) is SDXL, not the SD1 fallback', () => {
    const f = factsFrom(diffusersUnet('', {context: 2048, adm: 2816, linearProj: true}));
    expect(matchSd1(f)).toBeNull();
    expect(win(f)).toMatchObject({kind: 'checkpoint', family: 'sdxl'});
  });

  test('diffusers-named all-in-one (unet. / vae. / text_encoder. prefixes) is read through its unet. prefix', async () => {
    const {buildReport} = await import('../../../src/detect/report.js');
    const {ldmVae, clipText} = await import('../../helpers/fixtures/sd.js');
    const f = factsFrom([...diffusersUnet('unet.', {context: 2048, adm: 2816, linearProj: true}), ...ldmVae('vae.'), ...clipText('text_encoder.', 768, 2), ...clipText('text_encoder_2.', 1280, 2, 'F16', true)]);
    const r = buildReport(f, runRules(f), {type: 'local', id: 'x'});
    expect(r).toMatchObject({kind: 'checkpoint', family: 'sdxl', missing: []});
  });

  test('SDXL refiner by widths (1280 context, 2560 add-embedding)', () => {
    const f = factsFrom(sdCheckpoint('refiner'));
    expect(matchSdxl(f)).toBeNull();
    expect(matchSdxlRefiner(f)).toMatchObject({family: 'sdxl-refiner'});
  });

  test('Kolors: 5632 add-embedding wins over plain SDXL', () => {
    const f = factsFrom(diffusersUnet('', {context: 2048, adm: 5632, linearProj: true}));
    expect(matchKolors(f)).toMatchObject({family: 'kolors', pipeline: 'KolorsPipeline'});
    expect(matchSdxl(f)).toBeNull();
  });

  test('diffusers folder: family from unet/config.json, prediction from the scheduler', () => {
    const f = factsFrom([], {
      modelIndex: {_class_name: 'StableDiffusionPipeline', unet: ['diffusers', 'UNet2DConditionModel'], scheduler: ['diffusers', 'DDIMScheduler']},
      components: [
        {name: 'unet', className: 'UNet2DConditionModel', config: {cross_attention_dim: 1024, in_channels: 4}},
        {name: 'scheduler', className: 'DDIMScheduler', config: {prediction_type: 'v_prediction'}},
      ],
    });
    expect(win(f)).toMatchObject({family: 'sd2', variants: ['v-prediction'], prediction: 'v'});
  });

  test('a ControlNet encoder half is not a checkpoint', () => {
    const f = factsFrom(ldmUnet('', {context: 768}).filter((s) => !s.name.startsWith('output_blocks')));
    expect(matchSd1(f)).toBeNull();
  });

  test('Playground v2.5 diffusers folder: EDM scheduler on an SDXL UNet config', () => {
    const f = factsFrom([], {
      modelIndex: {_class_name: 'StableDiffusionXLPipeline', unet: ['diffusers', 'UNet2DConditionModel'], scheduler: ['diffusers', 'EDMDPMSolverMultistepScheduler']},
      components: [
        {name: 'unet', className: 'UNet2DConditionModel', config: {cross_attention_dim: 2048, projection_class_embeddings_input_dim: 2816, in_channels: 4}},
        {name: 'scheduler', className: 'EDMDPMSolverMultistepScheduler', config: {sigma_data: 0.5}},
      ],
    });
    expect(matchSdxl(f)).toMatchObject({variants: ['playground-v2.5'], prediction: 'edm'});
    const plain = factsFrom([], {modelIndex: {_class_name: 'StableDiffusionXLPipeline'}, components: [{name: 'unet', className: 'UNet2DConditionModel', config: {cross_attention_dim: 2048, projection_class_embeddings_input_dim: 2816}}, {name: 'scheduler', className: 'EulerDiscreteScheduler', config: {prediction_type: 'epsilon'}}]});
    expect(matchSdxl(plain)?.variants).toEqual([]);
  });
});
