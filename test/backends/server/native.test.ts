import {describe, expect, it} from '@jest/globals';
import {nativeRequestSchema, toSessionInput} from '../../../src/backends/server/native.js';
import {decodeInlineImage} from '../../../src/backends/server/input-images.js';
import {describeError, makeAjv} from '../../../src/backends/validation.js';
import {DEFAULT_CAPS} from '../../../src/backends/server/types.js';

// The shape the runtime's schema verb gives: pydantic-style 2020-12 with $defs, anyOf-null and prefixItems.
const pipelineSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  additionalProperties: false,
  properties: {
    prompt: {anyOf: [{type: 'string'}, {type: 'null'}]},
    height: {anyOf: [{type: 'integer'}, {type: 'null'}]},
    num_inference_steps: {type: 'integer', default: 50},
    eta: {type: 'number', default: 0},
    clip_skip: {anyOf: [{type: 'integer', minimum: 0}, {type: 'null'}]},
    crops: {type: 'array', prefixItems: [{type: 'integer'}, {type: 'integer'}]},
    mode: {$ref: '#/$defs/Mode'},
  },
  $defs: {Mode: {enum: ['a', 'b']}},
};

const PNG_1x1 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

describe('native request schema', () => {
  const validate = makeAjv().compile(nativeRequestSchema(pipelineSchema, DEFAULT_CAPS));
  const firstError = (body: unknown): string | null => (validate(body) ? null : describeError(validate.errors![0]!));

  it('accepts our fields plus the pipeline extras at top level and under params', () => {
    expect(firstError({prompt: 'a', width: 64, height: 64, steps: 2, eta: 0.5, params: {clip_skip: 1, mode: 'a'}})).toBeNull();
  });
  it.each([
    [{width: 64}, 'prompt: required'],
    [{prompt: 'a', width: 65}, 'width: must be multiple of 8'],
    [{prompt: 'a', height: 4096}, 'height: must be <= 2048'],
    [{prompt: 'a', steps: 1000}, 'steps: must be <= 150'],
    [{prompt: 'a', num_images: 99}, 'num_images: must be <= 8'],
    [{prompt: 'a', bogus: 1}, 'bogus: unknown field'],
    [{prompt: 'a', eta: 'x'}, 'eta: must be number'],
    [{prompt: 'a', params: {mode: 'z'}}, 'params.mode: must be one of ["a","b"]'],
    [{prompt: 'a', params: {num_inference_steps: 3}}, 'params.num_inference_steps: unknown field'],
    [{prompt: 'a', loras: [{scale: 1}]}, 'loras[0].name: required'],
  ])('%j -> %s', (body, message) => {
    expect(firstError(body)).toBe(message);
  });

  it('builds the session input, leaving unset fields to the model defaults and moving extras into params', () => {
    const input = toSessionInput({prompt: 'a', eta: 0.3, params: {clip_skip: 2}, response_format: 'url', guidance_scale: 4, num_images: 2}, '/o/out-{n}.png');
    expect(input).toEqual({prompt: 'a', out: '/o/out-{n}.png', guidance: 4, numImages: 2, params: {clip_skip: 2, eta: 0.3}});
  });

  it('takes prompt_syntax a1111|plain (validated by the schema) into the session input', () => {
    const validate = makeAjv().compile(nativeRequestSchema(pipelineSchema, DEFAULT_CAPS));
    expect(validate({prompt: 'a (b:1.2)', prompt_syntax: 'plain'})).toBe(true);
    expect(validate({prompt: 'a', prompt_syntax: 'comfy'})).toBe(false);
    expect(describeError(validate.errors![0]!)).toMatch(/^prompt_syntax: must be one of/);
    expect(toSessionInput({prompt: 'a', prompt_syntax: 'plain'}, '/o/x.png')).toEqual({prompt: 'a', out: '/o/x.png', promptSyntax: 'plain', params: {}});
  });
});

describe('inline input images', () => {
  it('decodes base64 and data URLs', () => {
    expect(decodeInlineImage(PNG_1x1, 'image').ext).toBe('png');
    expect(decodeInlineImage(`data:image/png;base64,${PNG_1x1}`, 'mask').bytes.length).toBeGreaterThan(60);
  });
  it.each([
    ['https://example.com/x.png', /^image: .*URLs are not fetched/],
    ['file:///etc/passwd', /^image: .*URLs are not fetched/],
    ['/etc/passwd', /^image: .*server paths are not read/],
    ['./cat.png', /^image: .*server paths are not read/],
    ['bm90IGFuIGltYWdlIGF0IGFsbA==', /^image: not a PNG/],
    ['%%%%not-base64%%%%', /^image: not valid base64/],
  ])('%s is refused naming the field', (value, re) => {
    expect(() => decodeInlineImage(value, 'image')).toThrow(re);
  });
});
