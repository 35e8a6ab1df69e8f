import {describe, expect, it} from '@jest/globals';
import {readPngInfo} from '../../src/backends/png-metadata.js';
import {ExitCode, MgenError} from '../../src/errors.js';
import {buildPng} from '../helpers/png.js';

describe('readPngInfo', () => {
  it('reads size and tEXt, zTXt and iTXt (plain and compressed, UTF-8) chunks', () => {
    const png = buildPng(7, 5, [
      {type: 'tEXt', keyword: 'parameters', text: 'a cat\nSteps: 4, Seed: 1'},
      {type: 'zTXt', keyword: 'Comment', text: 'zipped latin1 text'},
      {type: 'iTXt', keyword: 'mgen', text: '{"prompt":"ünïcode ✓"}'},
      {type: 'iTXt', keyword: 'zipped', text: 'ïtxt compressed ✓', compressed: true},
    ]);
    const info = readPngInfo(png);
    expect(info.width).toBe(7);
    expect(info.height).toBe(5);
    expect(info.text).toEqual({
      parameters: 'a cat\nSteps: 4, Seed: 1',
      Comment: 'zipped latin1 text',
      mgen: '{"prompt":"ünïcode ✓"}',
      zipped: 'ïtxt compressed ✓',
    });
  });

  it('keeps the first of a repeated keyword', () => {
    const info = readPngInfo(buildPng(1, 1, [{type: 'tEXt', keyword: 'k', text: 'one'}, {type: 'tEXt', keyword: 'k', text: 'two'}]));
    expect(info.text.k).toBe('one');
  });

  it('rejects a file that is not a PNG, and a truncated one, with exit 6', () => {
    const exit = (b: Buffer) => {
      try {
        readPngInfo(b, 'x.png');
      } catch (err) {
        return (err as MgenError).exitCode;
      }
      return 0;
    };
    expect(exit(Buffer.from('GIF89a not a png'))).toBe(ExitCode.invalidModel);
    const png = buildPng(4, 4, [{type: 'tEXt', keyword: 'parameters', text: 'x'.repeat(100)}]);
    expect(exit(png.subarray(0, 60))).toBe(ExitCode.invalidModel);
  });
});
