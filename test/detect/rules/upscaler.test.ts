// The upscaler rule names each architecture spandrel loads (and `mgen upscale` runs) with its scale, from the key
// layouts of the released files: HAT and DAT were missed (DAT) or called SwinIR (HAT) before.
import {describe, expect, test} from '@jest/globals';
import {runRules} from '../../../src/detect/registry.js';
import {factsFrom} from '../../helpers/facts.js';
import type {TensorSpec} from '../../helpers/safetensors-writer.js';

const t = (name: string, shape: number[]): TensorSpec => ({name, dtype: 'F32', shape});
const win = (specs: TensorSpec[]) => runRules(factsFrom(specs)).winner;

/** HAT-L SRx4 (HAT_SRx4_ImageNet-pretrain.pth, `params_ema`): embed 180, window 16, pixelshuffle x2 x2. */
function hatX4(prefix = ''): TensorSpec[] {
  return [
    t('relative_position_index_SA', [256, 256]), t('relative_position_index_OCA', [256, 576]), t('conv_first.weight', [180, 3, 3, 3]),
    t('layers.0.residual_group.blocks.0.norm1.weight', [180]), t('layers.0.residual_group.blocks.0.conv_block.cab.0.weight', [60, 180, 3, 3]),
    t('layers.0.residual_group.blocks.0.mlp.fc1.bias', [360]), t('layers.0.residual_group.overlap_attn.relative_position_bias_table', [961, 6]),
    t('layers.0.residual_group.overlap_attn.qkv.weight', [540, 180]), t('conv_after_body.weight', [180, 180, 3, 3]),
    t('conv_before_upsample.0.weight', [64, 180, 3, 3]), t('upsample.0.weight', [256, 64, 3, 3]), t('upsample.2.weight', [256, 64, 3, 3]),
    t('conv_last.weight', [3, 64, 3, 3]),
  ].map((s) => ({...s, name: prefix + s.name}));
}

/** DAT x2 (DAT_x2.pth): embed 180, before_RG, spatial/channel attention blocks, pixelshuffle x2. */
const datX2 = (): TensorSpec[] => [
  t('conv_first.weight', [180, 3, 3, 3]), t('before_RG.1.weight', [180]), t('before_RG.1.bias', [180]),
  t('layers.0.blocks.0.attn.qkv.weight', [540, 180]), t('layers.0.blocks.0.attn.attns.0.rpe_biases', [105, 2]),
  t('layers.0.blocks.0.attn.attns.0.pos.pos_proj.weight', [45, 2]), t('layers.0.blocks.1.attn.temperature', [6, 1, 1]),
  t('norm.weight', [180]), t('conv_after_body.weight', [180, 180, 3, 3]), t('conv_before_upsample.0.weight', [64, 180, 3, 3]),
  t('upsample.0.weight', [256, 64, 3, 3]), t('conv_last.weight', [3, 64, 3, 3]),
];

/** SwinIR classical x2 (001_classicalSR_DF2K_s64w8_SwinIR-M_x2.pth). */
const swinirX2 = (): TensorSpec[] => [
  t('conv_first.weight', [180, 3, 3, 3]), t('patch_embed.norm.weight', [180]), t('layers.0.residual_group.blocks.0.norm1.weight', [180]),
  t('layers.0.residual_group.blocks.0.attn.relative_position_index', [64, 64]), t('layers.0.residual_group.blocks.0.mlp.fc1.bias', [360]),
  t('conv_after_body.weight', [180, 180, 3, 3]), t('conv_before_upsample.0.weight', [64, 180, 3, 3]), t('upsample.0.weight', [256, 64, 3, 3]),
  t('conv_last.weight', [3, 64, 3, 3]),
];

/** Real-SwinIR x4 (nearest+conv upsampling: conv_up1, conv_up2). */
const realSwinirX4 = (): TensorSpec[] => [...swinirX2().filter((s) => !s.name.startsWith('upsample.')), t('conv_up1.weight', [64, 64, 3, 3]), t('conv_up2.weight', [64, 64, 3, 3])];

/** The original ESRGAN layout: model.0, trunk model.1.sub.N, then [upsample, conv, act] per x2, conv, act, conv. */
function esrganOld(ups: number, inCh = 3): TensorSpec[] {
  const specs = [t('model.0.weight', [64, inCh, 3, 3]), t('model.1.sub.0.RDB1.conv1.0.weight', [32, 64, 3, 3]), t('model.1.sub.23.weight', [64, 64, 3, 3])];
  for (let i = 0; i < ups; i++) specs.push(t(`model.${3 + 3 * i}.weight`, [64, 64, 3, 3]));
  const hr = 3 + 3 * ups - 1;
  specs.push(t(`model.${hr}.weight`, [64, 64, 3, 3]), t(`model.${hr + 2}.weight`, [3, 64, 3, 3]));
  return specs;
}

describe('upscaler rule: each spandrel architecture and its scale', () => {
  test.each([
    ['HAT x4', hatX4(), ['hat', 'x4']],
    ['HAT x4 in a flat params_ema. wrapper', hatX4('params_ema.'), ['hat', 'x4']],
    ['DAT x2', datX2(), ['dat', 'x2']],
    ['SwinIR x2 (pixelshuffle)', swinirX2(), ['swinir', 'x2']],
    ['Real-SwinIR x4 (nearest+conv)', realSwinirX4(), ['swinir', 'x4']],
    ['Swin2SR x2', [...swinirX2(), t('patch_embed.proj.weight', [180, 180, 1, 1])], ['swin2sr', 'x2']],
    ['ESRGAN x4, original layout', esrganOld(2), ['esrgan', 'x4']],
    ['ESRGAN x2, original layout', esrganOld(1), ['esrgan', 'x2']],
    ['ESRGAN x8, original layout', esrganOld(3), ['esrgan', 'x8']],
    ['Real-ESRGAN x2plus (pixel-unshuffle: 12 in)',
      [t('conv_first.weight', [64, 12, 3, 3]), t('body.0.rdb1.conv1.weight', [32, 64, 3, 3]), t('conv_body.weight', [64, 64, 3, 3]), t('conv_up1.weight', [64, 64, 3, 3]), t('conv_up2.weight', [64, 64, 3, 3]), t('conv_last.weight', [3, 64, 3, 3])],
      ['esrgan', 'x2']],
    ['BSRGAN (RRDB_trunk)',
      [t('conv_first.weight', [64, 3, 3, 3]), t('RRDB_trunk.0.RDB1.conv1.weight', [32, 64, 3, 3]), t('trunk_conv.weight', [64, 64, 3, 3]), t('upconv1.weight', [64, 64, 3, 3]), t('upconv2.weight', [64, 64, 3, 3]), t('conv_last.weight', [3, 64, 3, 3])],
      ['esrgan', 'x4']],
  ] as const)('%s', (_n, specs, variants) => {
    expect(win([...specs])).toMatchObject({kind: 'upscaler', family: 'unknown', variants, task: 'upscale'});
  });

  test('a HAT file is HAT, not SwinIR, though it carries SwinIR\'s residual groups', () => {
    expect(win(hatX4())?.evidence.join(' ')).toMatch(/HAT/);
  });

  test('tensors that only look alike are not upscalers', () => {
    expect(win([t('conv_first.weight', [64, 3, 3, 3]), t('layers.0.blocks.0.attn.qkv.weight', [192, 64])])).toBeNull();
  });
});
