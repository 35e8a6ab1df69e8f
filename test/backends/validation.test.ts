// The one request validator of generate and serve (src/backends/validation.ts): the family's size multiple, frame
// counts and ranges, with messages naming the field, the value and the nearest valid values.
import {describe, expect, it} from '@jest/globals';
import {classifyError} from '../../src/backends/server/engine.js';
import {flagName, frameMultiple, sizeMultiple, validateRequest} from '../../src/backends/validation.js';
import {UsageError} from '../../src/errors.js';
import {BUILTIN_NAMES} from '../../src/backends/builtin.js';
import {builtinFamily} from '../../src/backends/family-hint.js';

function failure(fn: () => void): UsageError {
  try {
    fn();
  } catch (err) {
    return err as UsageError;
  }
  throw new Error('expected a UsageError');
}

describe('sizeMultiple (from the family facts: VAE downscale x patch)', () => {
  it('is 8 for SD/SDXL latents, 16 for FLUX and SD3 patches, 32 for SANA and LTX-Video; 8 when unknown', () => {
    expect(sizeMultiple('sd1')).toBe(8);
    expect(sizeMultiple('sdxl')).toBe(8);
    expect(sizeMultiple('flux')).toBe(16);
    expect(sizeMultiple('sd3')).toBe(16);
    expect(sizeMultiple('sana')).toBe(32);
    expect(sizeMultiple('ltxv')).toBe(32);
    expect(sizeMultiple(null)).toBe(8);
    expect(sizeMultiple('unknown')).toBe(8);
    expect(frameMultiple('wan')).toBe(4);
    expect(frameMultiple('ltxv')).toBe(8);
    expect(frameMultiple('sd1')).toBeNull();
  });
});

describe('validateRequest', () => {
  it('names the flag, the family and the nearest valid value for the CLI (exit 2)', () => {
    const e = failure(() => validateRequest({width: 63}, {family: 'sd1', name: flagName}));
    expect(e).toBeInstanceOf(UsageError);
    expect(e.exitCode).toBe(2);
    expect(e.message).toBe('--width 63 is not a multiple of 8 for sd1 (try 64)');
    expect(e.field).toBe('width');
  });

  it('gives both neighbours when they are equally near, and the family multiple for FLUX', () => {
    expect(failure(() => validateRequest({height: 72}, {family: 'flux', name: flagName})).message).toBe('--height 72 is not a multiple of 16 for flux (try 64 or 80)');
    expect(failure(() => validateRequest({width: 8}, {family: 'flux'})).message).toBe('width 8 is too small for flux (try 16)');
    expect(failure(() => validateRequest({width: 63}, {})).message).toBe('width 63 is not a multiple of 8 (try 64)');
  });

  it('checks ranges and the serve caps', () => {
    expect(failure(() => validateRequest({steps: 0}, {name: flagName})).message).toBe('--steps 0 must be a whole number >= 1');
    expect(failure(() => validateRequest({steps: 200}, {limits: {maxSteps: 150}})).message).toBe('steps 200 is above the limit of 150');
    expect(failure(() => validateRequest({width: 4096}, {family: 'sd1', limits: {maxSize: 2048}})).message).toBe('width 4096 is above the limit of 2048 (try 2048)');
    expect(failure(() => validateRequest({guidance: -1}, {name: flagName})).message).toBe('--guidance -1 must be between 0 and 100');
    expect(failure(() => validateRequest({numImages: 0}, {name: flagName})).message).toBe('--num-images 0 must be a whole number >= 1');
    expect(failure(() => validateRequest({strength: 1.5}, {})).field).toBe('strength');
    expect(() => validateRequest({width: 1024, height: 64, steps: 4, guidance: 0, numImages: 2, strength: 0, seed: 0}, {family: 'flux'})).not.toThrow();
  });

  it('checks the hires fix\'s size against the family multiple and its steps against the caps', () => {
    expect(failure(() => validateRequest({width: 64, hires: {width: 88, height: 128}}, {family: 'flux'})).message).toBe('hires.width 88 is not a multiple of 16 for flux (try 80 or 96)');
    expect(failure(() => validateRequest({hires: {width: 64, height: 83}}, {})).field).toBe('hires.height');
    expect(failure(() => validateRequest({hires: {width: 64, height: 64, steps: 200}}, {limits: {maxSteps: 150}})).message).toBe('hires.steps 200 is above the limit of 150');
    expect(() => validateRequest({width: 64, height: 64, hires: {width: 128, height: 128, steps: 3}}, {family: 'sd1'})).not.toThrow();
  });

  it('checks video frame counts (k*n+1) for video families only', () => {
    expect(failure(() => validateRequest({params: {num_frames: 50}}, {family: 'wan', name: flagName})).message).toBe('--param num_frames 50 must be 4k+1 frames for wan (try 49)');
    expect(failure(() => validateRequest({params: {num_frames: 20}}, {family: 'ltxv'})).message).toBe('num_frames 20 must be 8k+1 frames for ltxv (try 17)');
    expect(() => validateRequest({params: {num_frames: 81}}, {family: 'wan'})).not.toThrow();
    expect(() => validateRequest({params: {num_frames: 50}}, {family: 'sd1'})).not.toThrow();
  });

  it('checks --prompt-syntax: a1111 needs CLIP-only text encoders (sd1, sd2, sdxl)', () => {
    expect(failure(() => validateRequest({promptSyntax: 'a1111'}, {family: 'flux', name: flagName})).message).toBe('--prompt-syntax a1111 needs CLIP text encoders (sd1, sd2, sdxl); flux has others (use plain)');
    expect(failure(() => validateRequest({promptSyntax: 'comfy'}, {family: 'sd1'})).message).toBe('prompt_syntax comfy must be one of a1111, plain');
    for (const family of ['sd1', 'sd2', 'sdxl'] as const) expect(() => validateRequest({promptSyntax: 'a1111'}, {family})).not.toThrow();
    expect(() => validateRequest({promptSyntax: 'plain'}, {family: 'flux'})).not.toThrow();
  });

  it('is a 400 naming the request field when serve hits it (the engine maps the session\'s UsageError)', () => {
    const e = failure(() => validateRequest({width: 72}, {family: 'flux'}));
    expect(classifyError(e)).toEqual({status: 400, type: 'invalid_request_error', message: 'width 72 is not a multiple of 16 for flux (try 64 or 80)', param: 'width'});
  });
});

describe('builtinFamily (the family of a builtin before it is built)', () => {
  it('knows every builtin name: tiny-sdxl is sdxl, tiny-flux flux, tiny-sd3 sd3, the rest sd1; an unknown name is left to the resolver', () => {
    const special: Record<string, string> = {
      'tiny-sdxl': 'sdxl', 'tiny-flux': 'flux', 'tiny-sd3': 'sd3', 'tiny-wan': 'wan', 'tiny-wan22': 'wan', 'tiny-ltxv-i2v': 'ltxv', 'tiny-cogvideox': 'cogvideox', 'tiny-ltxv': 'ltxv',
      'tiny-hunyuanvideo': 'hunyuanvideo', 'tiny-stable-audio': 'stable-audio',
      'tiny-wan-i2v': 'wan', 'tiny-cogvideox-i2v': 'cogvideox', 'tiny-hunyuanvideo-i2v': 'hunyuanvideo',
      'tiny-sd2': 'sd2', 'tiny-sdxl-refiner': 'sdxl-refiner', 'tiny-flux2': 'flux2', 'tiny-chroma': 'chroma', 'tiny-pixart': 'pixart',
      'tiny-auraflow': 'auraflow', 'tiny-hunyuandit': 'hunyuandit', 'tiny-sana': 'sana', 'tiny-lumina2': 'lumina2',
      'tiny-qwen-image': 'qwen-image', 'tiny-cascade': 'cascade', 'tiny-sd3-single': 'sd3', 'tiny-flux-single': 'flux',
      'tiny-chroma-single': 'chroma', 'tiny-esrgan': 'unknown', 'tiny-kolors': 'kolors', 'tiny-swinir': 'unknown', 'tiny-dat': 'unknown',
      'tiny-hat': 'unknown', 'tiny-flux-ip-adapter': 'flux', 'tiny-wan-single': 'wan', 'tiny-sdxl-t2i-adapter': 'sdxl',
    };
    for (const n of BUILTIN_NAMES) expect(builtinFamily(`builtin:${n}`)).toBe(special[n] ?? 'sd1');
    expect(builtinFamily('builtin:tiny-nope')).toBeNull();
    expect(builtinFamily('builtin:toString')).toBeNull();
  });

  it('checks a tiny-sd3 / tiny-flux size by its family\'s multiple of 16, not SD 1.x\'s 8 (tiny-sd3 is not tiny-sd)', () => {
    expect(() => validateRequest({width: 72}, {family: builtinFamily('builtin:tiny-sd3')!})).toThrow('width 72 is not a multiple of 16 for sd3 (try 64 or 80)');
    expect(() => validateRequest({height: 72}, {family: builtinFamily('builtin:tiny-flux')!})).toThrow('height 72 is not a multiple of 16 for flux (try 64 or 80)');
  });
});
