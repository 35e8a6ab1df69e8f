import {describe, expect, test} from '@jest/globals';
import {isIndexJsonName, parseShardIndex} from '../../../src/detect/readers/index-json.js';
import {InvalidModelError} from '../../../src/errors.js';

describe('parseShardIndex', () => {
  test('gives weight_map keys in order, the shard list (deduplicated) and scalar metadata', () => {
    const idx = parseShardIndex(JSON.stringify({
      metadata: {total_size: 23812400128, format: 'pt', nested: {a: 1}},
      weight_map: {'a.weight': 'model-00001-of-00002.safetensors', 'b.weight': 'model-00002-of-00002.safetensors', 'c.bias': 'model-00001-of-00002.safetensors'},
    }), 'model.safetensors.index.json');
    expect(idx.keys).toEqual(['a.weight', 'b.weight', 'c.bias']);
    expect(idx.shards).toEqual(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    expect(idx.metadata).toEqual({total_size: '23812400128', format: 'pt'});
  });

  test.each([
    ['{not json', /not valid JSON/],
    ['[1]', /not a JSON object/],
    ['{"metadata": {}}', /weight_map is missing/],
    ['{"weight_map": {"a": 5}}', /weight_map entry "a" is not a file name/],
    ['{"weight_map": {"a": "../../etc/passwd"}}', /points outside the model folder/],
    ['{"weight_map": {"a": "/abs.safetensors"}}', /points outside the model folder/],
  ])('%s is an InvalidModelError naming the file and reason', (text, reason) => {
    let err: unknown;
    try {
      parseShardIndex(text, 'x.safetensors.index.json');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidModelError);
    expect((err as Error).message).toContain('x.safetensors.index.json');
    expect((err as Error).message).toMatch(reason);
  });

  test('recognizes index file names', () => {
    expect(isIndexJsonName('model.safetensors.index.json')).toBe(true);
    expect(isIndexJsonName('unet/diffusion_pytorch_model.fp16.safetensors.index.json')).toBe(true);
    expect(isIndexJsonName('pytorch_model.bin.index.json')).toBe(true);
    expect(isIndexJsonName('config.json')).toBe(false);
  });
});
