import {describe, expect, it} from '@jest/globals';
import {parseAesthetic, parseEmbeddingSpec, parseLoraSpec, sessionOptionsFromFlags, splitSuffix} from '../../src/cli/load-flags.js';
import {parseParams} from '../../src/cli/generate-input.js';
import {resolveOutputPaths} from '../../src/backends/output-paths.js';

describe('adapter specs', () => {
  it('--hypernetwork takes MODEL_ID[:strength]; --aesthetic takes the extension\'s defaults and checks its numbers', () => {
    expect(sessionOptionsFromFlags('m', {hypernetwork: ['builtin:tiny-sd-hypernetwork:0.5', './h.pt']}).hypernetworks)
      .toEqual([{id: 'builtin:tiny-sd-hypernetwork', scale: 0.5}, {id: './h.pt', scale: 1}]);
    expect(() => sessionOptionsFromFlags('m', {hypernetwork: ['./h.pt:1e']})).toThrow(/bad strength in --hypernetwork/);
    expect(parseAesthetic({aesthetic: 'a.pt'})).toEqual({id: 'a.pt', weight: 0.9, steps: 5, lr: 0.0001, slerp: false, clip: null});
    expect(parseAesthetic({aesthetic: 'a.pt', 'aesthetic-weight': '0.2', 'aesthetic-steps': 3, 'aesthetic-lr': '0.001', 'aesthetic-slerp': true}))
      .toMatchObject({weight: 0.2, steps: 3, lr: 0.001, slerp: true});
    expect(() => parseAesthetic({aesthetic: 'a.pt', 'aesthetic-weight': '2'})).toThrow(/--aesthetic-weight must be between 0 and 1/);
    expect(() => parseAesthetic({aesthetic: 'a.pt', 'aesthetic-steps': -1})).toThrow(/--aesthetic-steps/);
    expect(() => sessionOptionsFromFlags('m', {'aesthetic-steps': 3})).toThrow(/--aesthetic-steps needs --aesthetic/);
    expect(sessionOptionsFromFlags('m', {})).not.toHaveProperty('aesthetic');
  });

  it('splits MODEL_ID[:scale] without eating a scheme prefix', () => {
    expect(parseLoraSpec('builtin:tiny-sd-lora-kohya')).toEqual({id: 'builtin:tiny-sd-lora-kohya', scale: 1});
    expect(parseLoraSpec('builtin:tiny-sd-lora-kohya:0.5')).toEqual({id: 'builtin:tiny-sd-lora-kohya', scale: 0.5});
    expect(parseLoraSpec('./l.safetensors:0')).toEqual({id: './l.safetensors', scale: 0});
    expect(parseLoraSpec('org/name')).toEqual({id: 'org/name', scale: 1});
    expect(splitSuffix('https://x.org/a.safetensors')).toEqual({id: 'https://x.org/a.safetensors', suffix: null});
    expect(parseEmbeddingSpec('builtin:tiny-sd-ti:<tok>')).toEqual({id: 'builtin:tiny-sd-ti', token: '<tok>'});
    expect(parseEmbeddingSpec('./e.pt')).toEqual({id: './e.pt'});
  });

  it('parses --param values as JSON when it can', () => {
    expect(parseParams(['eta=0.5', 'clip_skip=2', 'flag=true', 'name=abc', 'list=[1,2]'])).toEqual({eta: 0.5, clip_skip: 2, flag: true, name: 'abc', list: [1, 2]});
    expect(() => parseParams(['noequals'])).toThrow(/key=value/);
  });
});

describe('output paths', () => {
  const now = new Date(2026, 10, 26, 9, 5, 7);
  it('defaults to ./mgen-<timestamp>-<seed>-<n>.png', () => {
    expect(resolveOutputPaths(undefined, {seed: 7, numImages: 2, model: 'builtin:tiny-sd', now, cwd: '/w'})).toEqual([
      '/w/mgen-20261126-090507-7-0.png', '/w/mgen-20261126-090507-8-1.png']);
  });
  it('fills {seed} {n} {model}, adds .png and keeps names distinct', () => {
    expect(resolveOutputPaths('out/{model}-{seed}', {seed: 1, numImages: 1, model: '/m/dream.safetensors', cwd: '/w'})).toEqual(['/w/out/dream-1.png']);
    expect(resolveOutputPaths('a.png', {seed: 1, numImages: 2, model: 'm', cwd: '/w'})).toEqual(['/w/a-0.png', '/w/a-1.png']);
    expect(() => resolveOutputPaths('{nope}.png', {seed: 1, numImages: 1, model: 'm'})).toThrow(/placeholder/);
  });

  it('never reuses a default name that already exists (a loop with one seed within one second); --out names are kept', () => {
    const now = new Date(2026, 0, 2, 3, 4, 5);
    const taken = new Set(['/w/mgen-20260102-030405-7-0.png', '/w/mgen-20260102-030405-8-1-2.png']);
    const exists = (p: string) => taken.has(p);
    expect(resolveOutputPaths(undefined, {seed: 7, numImages: 1, model: 'm', now, cwd: '/w', exists})).toEqual(['/w/mgen-20260102-030405-7-0-2.png']);
    // Every image of one call gets the same suffix, the first under which none of them exists.
    expect(resolveOutputPaths(undefined, {seed: 7, numImages: 2, model: 'm', now, cwd: '/w', exists})).toEqual([
      '/w/mgen-20260102-030405-7-0-3.png', '/w/mgen-20260102-030405-8-1-3.png',
    ]);
    expect(resolveOutputPaths('mgen-20260102-030405-7-0.png', {seed: 7, numImages: 1, model: 'm', cwd: '/w', exists})).toEqual(['/w/mgen-20260102-030405-7-0.png']);
  });
});
