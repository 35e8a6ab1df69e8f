// T2I-Adapter family by the unshuffled conv_in width, the diffusers config, and (when neither says) SAI ModelSpec
// metadata.
import {describe, expect, test} from '@jest/globals';
import {runRules} from '../../../src/detect/registry.js';
import {factsFrom} from '../../helpers/facts.js';
import type {TensorSpec} from '../../helpers/safetensors-writer.js';

const t = (name: string, shape: number[]): TensorSpec => ({name, dtype: 'F32', shape});
const adapter = (inDim: number): TensorSpec[] => [
  t('adapter.conv_in.weight', [320, inDim, 3, 3]), t('adapter.body.0.resnets.0.block1.weight', [320, 320, 3, 3]), t('adapter.body.3.resnets.1.block2.weight', [1280, 1280, 1, 1]),
];
const win = (specs: TensorSpec[], metadata?: Record<string, string>) => runRules(factsFrom(specs, {metadata})).winner;

describe('T2I-Adapter family', () => {
  test('a one-channel SDXL adapter (sketch: 1 x 16 x 16 = 256 wide conv_in) is SDXL', () => {
    expect(win(adapter(256))).toMatchObject({kind: 't2i-adapter', family: 'sdxl'});
    expect(win(adapter(64))).toMatchObject({kind: 't2i-adapter', family: 'sd1'});
  });

  test('a conv_in width no released adapter has: ModelSpec metadata names the family, else unknown', () => {
    expect(win(adapter(48), {'modelspec.architecture': 'stable-diffusion-v1/t2i-adapter'})).toMatchObject({kind: 't2i-adapter', family: 'sd1'});
    expect(win(adapter(48), {'modelspec.architecture': 'stable-diffusion-xl-v1-base/t2i-adapter'})).toMatchObject({kind: 't2i-adapter', family: 'sdxl'});
    expect(win(adapter(48))).toMatchObject({kind: 't2i-adapter', family: 'unknown'});
  });

  test('the tensors win over metadata that contradicts them', () => {
    expect(win(adapter(768), {'modelspec.architecture': 'stable-diffusion-v1/t2i-adapter'})).toMatchObject({family: 'sdxl'});
  });
});
