import {describe, expect, it} from '@jest/globals';
import {parseUpscaleSpec} from '../../src/backends/upscale.js';
import {UsageError} from '../../src/errors.js';

describe('parseUpscaleSpec (generate --upscale ID[:factor])', () => {
  it('splits a trailing numeric factor and keeps builtin: and drive-letter ids whole', () => {
    expect(parseUpscaleSpec('builtin:tiny-esrgan')).toEqual({id: 'builtin:tiny-esrgan'});
    expect(parseUpscaleSpec('builtin:tiny-esrgan:2')).toEqual({id: 'builtin:tiny-esrgan', factor: 2});
    expect(parseUpscaleSpec('./4x.pth:1.5')).toEqual({id: './4x.pth', factor: 1.5});
    expect(parseUpscaleSpec('C:\\m\\4x.pth')).toEqual({id: 'C:\\m\\4x.pth'});
  });

  it('refuses a zero or huge factor (exit 2)', () => {
    expect(() => parseUpscaleSpec('x.pth:0')).toThrow(UsageError);
    expect(() => parseUpscaleSpec('x.pth:99')).toThrow(/\(0, 16\]/);
  });
});
