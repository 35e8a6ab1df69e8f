import {describe, expect, it} from '@jest/globals';
import {mkdirSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import {parsePromptTags, resolvePromptLora, takeHypernetTags} from '../../src/backends/prompt-tags.js';
import {useTmpDir} from '../helpers/tmp.js';

const tmp = useTmpDir('mgen-tags-');

/** A CivitAI file in the cache as `mgen pull` leaves it: models/<sha256>/<file> + mgen.json. */
function cacheCivitai(env: NodeJS.ProcessEnv, sha: string, fileName: string, modelName: string, version: number, kind = 'lora'): void {
  const dir = join(env.MGEN_HOME!, 'models', sha);
  mkdirSync(dir, {recursive: true});
  writeFileSync(join(dir, fileName), 'x');
  writeFileSync(join(dir, 'mgen.json'), JSON.stringify({
    sha256: sha, file_name: fileName, size: 1, source: 'civitai', id: `civitai:${version}@${version + 1}`,
    civitai: {modelId: version, versionId: version + 1, modelName}, pulled_at: '2026-01-01T00:00:00Z', summary: {family: 'sd1', kind},
  }));
}

describe('parsePromptTags', () => {
  it('takes lora and lyco tags out of the text with their weights', () => {
    expect(parsePromptTags('a <lora:foo:0.6> cat <LYCO:bar> x', 'prompt')).toEqual({
      text: 'a cat x', tags: [{kind: 'lora', name: 'foo', scale: 0.6, field: 'prompt'}, {kind: 'lora', name: 'bar', scale: 1, field: 'prompt'}],
    });
    expect(parsePromptTags('<lora:builtin:tiny-sd-lora-kohya:0.5>', 'prompt').tags).toEqual([{kind: 'lora', name: 'builtin:tiny-sd-lora-kohya', scale: 0.5, field: 'prompt'}]);
    expect(parsePromptTags('<lora:civitai:12@34>', 'prompt').tags[0]!.name).toBe('civitai:12@34');
    expect(parsePromptTags('no tags, <b>bold</b>', 'prompt')).toEqual({text: 'no tags, <b>bold</b>', tags: []});
  });

  it('refuses what it cannot apply, naming the field', () => {
    expect(() => parsePromptTags('<lora:foo:0.5:0.3>', 'negative_prompt')).toThrow(/^negative_prompt: <lora:foo:0.5:0.3>: separate/);
    expect(() => parsePromptTags('<lora:foo:te=1>', 'prompt')).toThrow(/separate/);
    expect(() => parsePromptTags('<lora::1>', 'prompt')).toThrow(/names no LoRA/);
    expect(() => parsePromptTags('<lora:foo:50>', 'prompt')).toThrow(/weight/);
    expect(() => parsePromptTags('<hypernet::1>', 'prompt')).toThrow(/names no hypernetwork/);
  });

  it('takes hypernet tags as hypernetworks; takeHypernetTags leaves the other tags in the text', () => {
    expect(parsePromptTags('a <hypernet:anime:0.7> cat', 'prompt').tags).toEqual([{kind: 'hypernet', name: 'anime', scale: 0.7, field: 'prompt'}]);
    expect(takeHypernetTags('a <lora:foo:0.5> <hypernet:anime> cat', 'prompt')).toEqual({
      text: 'a <lora:foo:0.5> cat', tags: [{kind: 'hypernet', name: 'anime', scale: 1, field: 'prompt'}],
    });
    expect(takeHypernetTags('<lora:foo>', 'prompt')).toEqual({text: '<lora:foo>', tags: []});
  });
});

describe('resolvePromptLora', () => {
  const env = (): NodeJS.ProcessEnv => ({MGEN_HOME: join(tmp.dir, 'home'), HF_HUB_CACHE: join(tmp.dir, 'hub')});
  const tag = (name: string) => ({name, scale: 1, field: 'prompt'});

  it('finds a cached LoRA by file name or CivitAI model name, and passes MODEL_IDs through', () => {
    const e = env();
    cacheCivitai(e, 'a'.repeat(64), 'detailTweaker.safetensors', 'Detail Tweaker LoRA', 10);
    cacheCivitai(e, 'b'.repeat(64), 'someCheckpoint.safetensors', 'detailTweaker', 20, 'checkpoint');
    expect(resolvePromptLora(tag('detailtweaker'), {env: e})).toBe('civitai:10@11');
    expect(resolvePromptLora(tag('Detail Tweaker LoRA'), {env: e})).toBe('civitai:10@11');
    expect(resolvePromptLora(tag('builtin:tiny-sd-lora-kohya'), {env: e})).toBe('builtin:tiny-sd-lora-kohya');
    expect(resolvePromptLora(tag('org/name'), {env: e})).toBe('org/name');
  });

  it('refuses an unknown or ambiguous name in words', () => {
    const e = env();
    cacheCivitai(e, 'c'.repeat(64), 'twin.safetensors', 'Twin A', 30);
    cacheCivitai(e, 'd'.repeat(64), 'twin.safetensors', 'Twin B', 40);
    expect(() => resolvePromptLora(tag('twin'), {env: e})).toThrow(/^prompt: <lora:twin> matches 2 cached models/);
    expect(() => resolvePromptLora(tag('ghost'), {env: e})).toThrow(/^prompt: <lora:ghost> is not a cached LoRA/);
  });
});

describe('resolvePromptLora for <hypernet:...>', () => {
  it('finds a cached hypernetwork by file name and not a LoRA of that name', () => {
    const e: NodeJS.ProcessEnv = {MGEN_HOME: join(tmp.dir, 'home-hn'), HF_HUB_CACHE: join(tmp.dir, 'hub-hn')};
    cacheCivitai(e, 'e'.repeat(64), 'anime.pt', 'Anime HN', 50, 'hypernetwork');
    cacheCivitai(e, 'f'.repeat(64), 'anime.safetensors', 'Anime LoRA', 60, 'lora');
    expect(resolvePromptLora({kind: 'hypernet', name: 'anime', scale: 1, field: 'prompt'}, {env: e})).toBe('civitai:50@51');
    expect(resolvePromptLora({kind: 'lora', name: 'anime', scale: 1, field: 'prompt'}, {env: e})).toBe('civitai:60@61');
    expect(() => resolvePromptLora({kind: 'hypernet', name: 'ghost', scale: 1, field: 'prompt'}, {env: e})).toThrow(/^prompt: <hypernet:ghost> is not a cached hypernetwork/);
  });
});
