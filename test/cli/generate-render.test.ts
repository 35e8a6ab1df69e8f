// The line(s) `mgen generate` prints say where the images went: one absolute path each (clickable, scriptable), the
// same for a cold run and a run through a running serve; control characters in a path are shown, not obeyed.
import {describe, expect, it} from '@jest/globals';
import {isAbsolute, join} from 'node:path';
import {resolveOutputPaths} from '../../src/backends/output-paths.js';
import {imageLines} from '../../src/cli/generate-render.js';

describe('imageLines', () => {
  it('the default output lands in the current folder and prints as its absolute path', () => {
    const paths = resolveOutputPaths(undefined, {seed: 1, numImages: 1, model: 'builtin:tiny-sd', cwd: '/home/u/project', exists: () => false});
    const out = imageLines(paths);
    expect(out).toMatch(/^\/home\/u\/project\/mgen-\d{8}-\d{6}-1-0\.png\n$/);
    expect(isAbsolute(out.trim())).toBe(true);
  });

  it('one line per image; escapes control characters', () => {
    expect(imageLines([join('/o', 'a.png'), '/o/b.png'])).toBe('/o/a.png\n/o/b.png\n');
    expect(imageLines(['/o/\u001b]0;pwned\u0007.png'])).toBe('/o/\\x1b]0;pwned\\x07.png\n');
  });
});
