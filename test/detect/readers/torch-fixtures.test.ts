// Files written by the real torch.save (torch 2.13, test/fixtures/detect/torch/make_fixtures.py):
// checks that the symbolic interpreter agrees with what PyTorch actually writes.
import {describe, expect, test} from '@jest/globals';
import {join} from 'node:path';
import {readWeightFile} from '../../../src/detect/readers/weight-file.js';
import {LocalFileSource} from '../../../src/detect/readers/byte-source.js';

const DIR = join(process.cwd(), 'test', 'fixtures', 'detect', 'torch');
const read = (name: string) => readWeightFile(new LocalFileSource(join(DIR, name), name), name);

const expected = [
  {name: 'conv.weight', dtype: 'F32', shape: [8, 3, 3, 3]},
  {name: 'conv.bias', dtype: 'F16', shape: [8]},
  {name: 'norm.weight', dtype: 'BF16', shape: [8]},
  {name: 'step', dtype: 'I64', shape: []},
  {name: 'mask', dtype: 'BOOL', shape: [2, 2]},
  {name: 'proj.weight', dtype: 'F32', shape: [4, 2]},
  {name: 'view.t', dtype: 'F32', shape: [4, 6]},
  {name: 'fp8.weight', dtype: 'F8_E4M3', shape: [2, 2]},
];

describe('real torch.save fixtures', () => {
  test('zip checkpoint: every dtype, Parameter, 0-d and transposed tensors; state_dict wrapper stripped', async () => {
    const f = await read('zip_checkpoint.ckpt');
    expect(f.format).toBe('pickle');
    expect(f.tensors).toEqual(expected);
    expect(f.metadata).toMatchObject({global_step: '875000', epoch: '2', 'pickle.wrapper': 'state_dict', 'pickle.container': 'torch-zip'});
    expect(f.pickle?.findings).toEqual([]);
    expect(f.pickle?.legacy).toBe(false);
  });

  test('legacy (non-zip) checkpoint gives the same tensors', async () => {
    const f = await read('legacy_checkpoint.ckpt');
    expect(f.pickle?.legacy).toBe(true);
    expect(f.metadata['pickle.container']).toBe('torch-legacy');
    expect(f.tensors).toEqual(expected);
    expect(f.pickle?.findings).toEqual([]);
  });

  test('A1111 textual inversion', async () => {
    const f = await read('textual_inversion.pt');
    expect(f.tensors).toEqual([{name: 'string_to_param.*', dtype: 'F32', shape: [2, 768]}]);
    expect(f.metadata).toMatchObject({name: 'tiny-embedding', step: '120', sd_checkpoint_name: 'v1-5-pruned-emaonly'});
    expect(f.pickle?.findings).toEqual([]);
  });

  test('A1111 hypernetwork keeps integer keys', async () => {
    const f = await read('hypernetwork.pt');
    expect(f.tensors.map((t) => t.name)).toEqual([
      '320.0.linear.0.weight', '320.0.linear.0.bias', '320.1.linear.0.weight', '320.1.linear.0.bias',
      '768.0.linear.0.weight', '768.0.linear.0.bias', '768.1.linear.0.weight', '768.1.linear.0.bias',
    ]);
    expect(f.metadata).toMatchObject({step: '10', name: 'tiny-hn', layer_structure: '[1,2,1]', activation_func: 'relu', is_layer_norm: 'False'});
  });
});
