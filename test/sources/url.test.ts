import {describe, expect, it} from '@jest/globals';
import {fileNameFromUrl} from '../../src/sources/url.js';

describe('fileNameFromUrl', () => {
  it('decodes the Content-Disposition name, else the last path segment', () => {
    expect(fileNameFromUrl('https://h/x/y.bin', 'attachment; filename="my%20model.safetensors"')).toBe('my model.safetensors');
    expect(fileNameFromUrl('https://h/dl/a%20b.safetensors')).toBe('a b.safetensors');
    expect(fileNameFromUrl('https://h/')).toBe('model');
  });

  it('keeps a malformed percent-escape from a hostile server as sent instead of throwing (was exit 1)', () => {
    expect(fileNameFromUrl('https://h/x', 'attachment; filename="bad%E0%A4%A.safetensors"')).toBe('bad%E0%A4%A.safetensors');
    expect(fileNameFromUrl('https://h/dl/%ZZ.safetensors')).toBe('%ZZ.safetensors');
  });
});
