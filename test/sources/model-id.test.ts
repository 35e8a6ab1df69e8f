import {describe, expect, it} from '@jest/globals';
import {mkdtempSync, mkdirSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {UsageError} from '../../src/errors.js';
import {formatModelRef, modelIdFromArgs, parseModelId} from '../../src/sources/model-id.js';

const none = {exists: () => false, env: {}};

describe('parseModelId: accepted forms', () => {
  const cases: Array<[string, unknown]> = [
    ['org/name', {kind: 'hf', repo: 'org/name'}],
    ['stabilityai/stable-diffusion-xl-base-1.0', {kind: 'hf', repo: 'stabilityai/stable-diffusion-xl-base-1.0'}],
    ['org/name@main', {kind: 'hf', repo: 'org/name', revision: 'main'}],
    ['org/name@0123456789abcdef0123456789abcdef01234567', {kind: 'hf', repo: 'org/name', revision: '0123456789abcdef0123456789abcdef01234567'}],
    ['org/name@refs/pr/12', {kind: 'hf', repo: 'org/name', revision: 'refs/pr/12'}],
    ['org/name@v1.0/unet/model.safetensors', {kind: 'hf', repo: 'org/name', revision: 'v1.0', path: 'unet/model.safetensors'}],
    ['org/name/path/to/file.safetensors', {kind: 'hf', repo: 'org/name', path: 'path/to/file.safetensors'}],
    ['hf://org/name', {kind: 'hf', repo: 'org/name'}],
    ['hf://org/name@dev', {kind: 'hf', repo: 'org/name', revision: 'dev'}],
    ['hf://org/name@dev/a/b.safetensors', {kind: 'hf', repo: 'org/name', revision: 'dev', path: 'a/b.safetensors'}],
    ['hf://org/name/x.gguf', {kind: 'hf', repo: 'org/name', path: 'x.gguf'}],
    ['https://huggingface.co/org/name', {kind: 'hf', repo: 'org/name'}],
    ['https://huggingface.co/org/name/', {kind: 'hf', repo: 'org/name'}],
    ['https://huggingface.co/org/name/blob/main/sd_xl.safetensors', {kind: 'hf', repo: 'org/name', revision: 'main', path: 'sd_xl.safetensors'}],
    ['https://huggingface.co/org/name/resolve/abc123/unet/diffusion_pytorch_model.safetensors?download=true',
      {kind: 'hf', repo: 'org/name', revision: 'abc123', path: 'unet/diffusion_pytorch_model.safetensors'}],
    ['https://huggingface.co/org/name/tree/main/unet', {kind: 'hf', repo: 'org/name', revision: 'main', path: 'unet'}],
    ['civitai:4201', {kind: 'civitai', modelId: 4201}],
    ['civitai:4201@130072', {kind: 'civitai', modelId: 4201, versionId: 130072}],
    ['https://civitai.com/models/4201', {kind: 'civitai', modelId: 4201}],
    ['https://civitai.com/models/4201/realistic-vision-v60-b1', {kind: 'civitai', modelId: 4201}],
    ['https://civitai.com/models/4201/realistic?modelVersionId=130072', {kind: 'civitai', modelId: 4201, versionId: 130072}],
    ['https://civitai.com/api/download/models/130072', {kind: 'civitai', versionId: 130072}],
    ['urn:air:sdxl:checkpoint:civitai:4201@130072', {kind: 'civitai', modelId: 4201, versionId: 130072}],
    ['urn:air:sd1:lora:civitai:58390@62833.safetensors', {kind: 'civitai', modelId: 58390, versionId: 62833}],
    ['urn:air:flux1:checkpoint:civitai:618692', {kind: 'civitai', modelId: 618692}],
    ['https://example.com/files/model.safetensors', {kind: 'url', url: 'https://example.com/files/model.safetensors'}],
    ['builtin:tiny-sd', {kind: 'builtin', name: 'tiny-sd'}],
  ];
  it.each(cases)('%s', (id, expected) => {
    expect(parseModelId(id, none)).toEqual(expected);
  });

  it('round-trips HF references through formatModelRef', () => {
    for (const id of ['org/name', 'org/name@dev', 'org/name@dev/a/b.safetensors', 'org/name/a.safetensors']) {
      expect(formatModelRef(parseModelId(id, none))).toBe(id);
    }
  });

  it('reads URLs under HF_ENDPOINT / CIVITAI_ENDPOINT as hub references (loopback servers)', () => {
    const env = {HF_ENDPOINT: 'http://127.0.0.1:9999', CIVITAI_ENDPOINT: 'http://127.0.0.1:8888'};
    expect(parseModelId('http://127.0.0.1:9999/org/name/resolve/main/a.safetensors', {exists: () => false, env}))
      .toEqual({kind: 'hf', repo: 'org/name', revision: 'main', path: 'a.safetensors', endpoint: 'http://127.0.0.1:9999'});
    expect(parseModelId('http://127.0.0.1:8888/models/5?modelVersionId=7', {exists: () => false, env}))
      .toEqual({kind: 'civitai', modelId: 5, versionId: 7, endpoint: 'http://127.0.0.1:8888'});
  });
});

describe('parseModelId: local paths', () => {
  it('an existing folder wins over the org/name reading', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mgen-id-'));
    mkdirSync(join(dir, 'org', 'name'), {recursive: true});
    expect(parseModelId('org/name', {cwd: dir, env: {}})).toEqual({kind: 'local', path: join(dir, 'org', 'name')});
  });
  it('an existing file is local', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mgen-id-'));
    writeFileSync(join(dir, 'm.safetensors'), 'x');
    expect(parseModelId(join(dir, 'm.safetensors'), {env: {}})).toEqual({kind: 'local', path: join(dir, 'm.safetensors')});
  });
  it('explicit relative/absolute paths stay local even when missing (the opener reports not found)', () => {
    expect(parseModelId('./nope.safetensors', {...none, cwd: '/x'})).toEqual({kind: 'local', path: '/x/nope.safetensors'});
    expect(parseModelId('/abs/dir', none)).toEqual({kind: 'local', path: '/abs/dir'});
    expect(parseModelId('model.safetensors', {...none, cwd: '/x'})).toEqual({kind: 'local', path: '/x/model.safetensors'});
  });
});

describe('parseModelId: malformed ids fail with a usage error listing the forms', () => {
  const badIds = ['', '   ', 'justaword', 'org/', 'org//name', '-org/name', 'org/name@', 'org/name@bad rev', 'org/name/../x',
    'hf://', 'hf://org', 'civitai:', 'civitai:abc', 'civitai:12@x', 'civitai:0', 'urn:air:sdxl:checkpoint', 'urn:air:sdxl:lora:weird:1@2',
    'https://civitai.com/models/abc', 'https://civitai.com/user/foo', 'https://huggingface.co/org', 'https://huggingface.co/datasets/a/b',
    'https://huggingface.co/org/name/blob/main', 'https://example.com/', 'ftp://host/file', 'builtin:', 'http://[bad',
    // a malformed %-escape was an uncaught URIError (exit 1)
    'org/name/%ZZ.safetensors', 'https://huggingface.co/a/b/resolve/%ZZ/x.safetensors'];
  it.each(badIds)('%j', (id) => {
    let err: unknown;
    try {
      parseModelId(id, none);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exitCode).toBe(2);
    expect((err as UsageError).message).toMatch(/invalid MODEL_ID/);
    expect((err as UsageError).hintLines).toContain('  civitai:<modelId>[@<versionId>]');
    expect((err as UsageError).message).not.toMatch(/\n/);
  });
});

describe('modelIdFromArgs', () => {
  it('prefers the argument, falls back to $MODEL_ID, else a usage error', () => {
    expect(modelIdFromArgs('a/b', {MODEL_ID: 'c/d'})).toBe('a/b');
    expect(modelIdFromArgs(undefined, {MODEL_ID: 'c/d'})).toBe('c/d');
    expect(() => modelIdFromArgs(undefined, {})).toThrow(UsageError);
  });
});
