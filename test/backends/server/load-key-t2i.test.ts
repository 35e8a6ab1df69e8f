// A serve loaded with a T2I-Adapter is another load than one without it (or with another scale): `generate` reuses a
// running serve only when both agree, and the keys of serves without one stay what they were.
import {describe, expect, it} from '@jest/globals';
import {loadKeyFor} from '../../../src/backends/server/load-key.js';
import {loadHash} from '../../../src/backends/server/state.js';
import {sessionOptionsFromFlags} from '../../../src/cli/load-flags.js';

describe('load key with --t2i-adapter', () => {
  it('names the adapter and its scale; none when not given', () => {
    const plain = loadKeyFor(sessionOptionsFromFlags('builtin:tiny-sd', {}));
    const on = loadKeyFor(sessionOptionsFromFlags('builtin:tiny-sd', {'t2i-adapter': 'builtin:tiny-sd-t2i-adapter'}));
    const half = loadKeyFor(sessionOptionsFromFlags('builtin:tiny-sd', {'t2i-adapter': 'builtin:tiny-sd-t2i-adapter:0.5'}));
    expect(plain).not.toHaveProperty('t2iAdapter');
    expect(on.t2iAdapter).toEqual({id: 'builtin:tiny-sd-t2i-adapter', scale: 1});
    expect(half.t2iAdapter).toEqual({id: 'builtin:tiny-sd-t2i-adapter', scale: 0.5});
    expect(new Set([loadHash(plain), loadHash(on), loadHash(half)]).size).toBe(3);
  });

  it('refuses a scale outside 0-2 or not a number, in one line', () => {
    expect(() => sessionOptionsFromFlags('m', {'t2i-adapter': 'a:3'})).toThrow(/^--t2i-adapter scale must be from 0 to 2, got 3$/);
    expect(() => sessionOptionsFromFlags('m', {'t2i-adapter': 'a:1e'})).toThrow(/^bad scale in --t2i-adapter a:1e$/);
  });
});
