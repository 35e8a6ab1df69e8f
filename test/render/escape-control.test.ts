import {describe, expect, it} from '@jest/globals';
import {escapeControl} from '../../src/render/escape-control.js';

describe('escapeControl', () => {
  it('makes ESC, OSC and C1 sequences visible and keeps newlines and tabs', () => {
    expect(escapeControl('a\u001b]0;pwned\u0007b')).toBe('a\\x1b]0;pwned\\x07b');
    expect(escapeControl('x\u009b2Jy\u007f')).toBe('x\\x9b2Jy\\x7f');
    expect(escapeControl('line1\n\tline2')).toBe('line1\n\tline2');
    expect(escapeControl('unicode é 漢字')).toBe('unicode é 漢字');
  });
});
