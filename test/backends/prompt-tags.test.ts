import {describe, expect, it} from '@jest/globals';
import {mkdirSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import {findPromptEmbeddings, parsePromptTags, resolvePromptLora, takeHypernetTags, withPromptLoraTags} from '../../src/backends/prompt-tags.js';
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
    // Unresolved is not-found (exit 3), never text sent to the encoder.
    expect(() => resolvePromptLora(tag('ghost'), {env: e})).toThrow(expect.objectContaining({exitCode: 3}));
  });
});

describe('withPromptLoraTags', () => {
  const env = (): NodeJS.ProcessEnv => ({MGEN_HOME: join(tmp.dir, 'home'), HF_HUB_CACHE: join(tmp.dir, 'hub')});

  it('moves tags from both prompts into loras, resolved against the cache, unless the syntax is plain', () => {
    const e = env();
    cacheCivitai(e, 'e'.repeat(64), 'sharpener.safetensors', 'Sharpener', 50);
    const n = {prompt: 'a <lora:sharpener:0.7> cat', negative_prompt: 'ugly <lyco:builtin:tiny-sd-lora-peft>', loras: [{name: 'x/y'}]};
    expect(withPromptLoraTags(n, {env: e})).toEqual({
      prompt: 'a cat', negative_prompt: 'ugly', loras: [{name: 'x/y'}, {name: 'civitai:50@51', scale: 0.7}, {name: 'builtin:tiny-sd-lora-peft', scale: 1}],
    });
    expect(withPromptLoraTags({...n, prompt_syntax: 'plain'}, {env: e})).toEqual({...n, prompt_syntax: 'plain'});
    expect(() => withPromptLoraTags({prompt: '<lora:ghost:1>'}, {env: e})).toThrow(/<lora:ghost> is not a cached LoRA/);
    expect(() => withPromptLoraTags({prompt: 'a <hypernet:anime:1>'}, {env: e})).toThrow(/^prompt: <hypernet:anime>: per-request hypernetworks are not supported/);
  });
});

describe('findPromptEmbeddings', () => {
  const env = (): NodeJS.ProcessEnv => ({MGEN_HOME: join(tmp.dir, 'home'), HF_HUB_CACHE: join(tmp.dir, 'hub')});
  const sha = '0123456789ab' + 'c'.repeat(52);

  it('finds cached textual inversions by file name as a word, and by embedding:NAME (file, CivitAI name, short hash)', () => {
    const e = env();
    cacheCivitai(e, sha, 'EasyNegative.safetensors', 'EasyNeg', 60, 'textual-inversion');
    cacheCivitai(e, 'f'.repeat(64), 'detailTweaker.safetensors', 'Detail Tweaker', 70);
    const path = join(e.MGEN_HOME!, 'models', sha, 'EasyNegative.safetensors');
    expect(findPromptEmbeddings(['a cat', '(easynegative:1.2), blurry'], e)).toEqual({
      texts: ['a cat', '(easynegative:1.2), blurry'], embeddings: [{token: 'easynegative', id: 'civitai:60@61', path}],
    });
    expect(findPromptEmbeddings(['a cat', 'easynegatives, detailTweaker'], e).embeddings).toEqual([]);
    for (const name of ['EasyNeg', '0123456789ab', 'EasyNegative']) {
      const out = findPromptEmbeddings([`a cat, embedding:${name}`], e);
      expect(out.texts).toEqual([`a cat, ${name}`]);
      expect(out.embeddings.map((x) => x.id)).toEqual(['civitai:60@61']);
      expect(out.embeddings[0]!.token).toBe(name === 'EasyNegative' ? 'easynegative' : name);
    }
  });

  it('leaves out embeddings of another family: a bare word stays a word, embedding:NAME is refused', () => {
    const e = env();
    cacheCivitai(e, '9'.repeat(64), 'xlNeg.safetensors', 'XL Neg', 80, 'textual-inversion');
    expect(findPromptEmbeddings(['a cat, xlneg'], e, 'sd1').embeddings.map((x) => x.id)).toEqual(['civitai:80@81']);
    expect(findPromptEmbeddings(['a cat, xlneg'], e, 'sdxl').embeddings).toEqual([]);
    expect(() => findPromptEmbeddings(['a cat, embedding:xlNeg'], e, 'sdxl')).toThrow(/^embedding:xlNeg is a sd1 embedding; the model is sdxl/);
  });

  it('an embedding:NAME that names no cached embedding is an error naming it (exit 3)', () => {
    const e = env();
    cacheCivitai(e, 'f'.repeat(64), 'detailTweaker.safetensors', 'Detail Tweaker', 70);
    let err: unknown;
    try {
      findPromptEmbeddings(['a cat, embedding:detailTweaker'], e);
    } catch (caught) {
      err = caught;
    }
    expect(err).toMatchObject({exitCode: 3, message: expect.stringMatching(/^embedding:detailTweaker is not a cached textual inversion/)});
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
