import {describe, expect, it} from '@jest/globals';
import {mkdtemp, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import type {ModelReport} from '../../src/detect/types.js';
import {InvalidModelError, NetworkError, NotFoundError, UsageError} from '../../src/errors.js';
import {ModelNotAllowedError} from '../../src/backends/request-model-policy.js';
import {RequestLoraResolver} from '../../src/backends/request-loras.js';
import type {ResolvedModel} from '../../src/backends/resolve-model.js';
import {toSessionInput} from '../../src/backends/server/native.js';
import {report} from './report-fixture.js';

const lora = (family: string, over: Partial<ModelReport> = {}): ModelReport =>
  report({kind: 'lora', format: 'single-file', family: family as ModelReport['family'], base: {family: family as ModelReport['family'], suggested: null}, ...over} as Partial<ModelReport>);

/** A resolver over a table of id -> report (or error), counting calls. */
function resolverFor(table: Record<string, ModelReport | Error>, o: {allowPickle?: boolean} = {}) {
  const calls: string[] = [];
  const resolve = async (id: string): Promise<ResolvedModel> => {
    calls.push(id);
    const r = table[id];
    if (r === undefined) throw new NotFoundError(`no such file or folder: ${id}`);
    if (r instanceof Error) throw r;
    return {id, pinnedId: id, path: `/cache/${id.replace(/[^a-z0-9]/gi, '_')}.safetensors`, report: r, configRepo: null, baseId: null};
  };
  return {calls, r: new RequestLoraResolver({resolve, ropts: {}, family: 'sd1', allowPickle: o.allowPickle})};
}

describe('RequestLoraResolver', () => {
  it.each([
    ['a file read as a safetensors header', new InvalidModelError('x: header length 8319104414224818811 exceeds the limit ({"Access)'), UsageError, 'not a model file mgen can read'],
    ['a JSON file quoted by detection', new InvalidModelError('cfg.json: unexpected config {"password": "hunter2"}'), UsageError, 'not a model file mgen can read'],
    ['a fetched body in a network error', new NetworkError('cannot reach h: bad HTTP status line: "SSH-2.0-OpenSSH_9.6"'), NetworkError, 'could not be fetched (network failure)'],
    ['an unexpected error', new RangeError('The value of "start" is out of range. Received 5_088_219_219'), UsageError, 'could not be read'],
  ])('words, never the content, for %s', async (_what, thrown, type, words) => {
    const {r} = resolverFor({bad: thrown});
    const err = (await r.resolveAll([{id: 'bad', scale: 1}]).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(type);
    expect(err.message).toBe(`loras[0].name: ${type === NetworkError ? 'bad: ' : 'cannot use bad: '}${words}`);
  });

  it('turns a connection the policy refused (deep in a cause chain) into a 403-type refusal in words', async () => {
    const refused = Object.assign(new Error('EMGEN_ADDRESS_REFUSED: 10.0.0.7 is a private address'), {code: 'EMGEN_ADDRESS_REFUSED', host: '10.0.0.7'});
    const {r} = resolverFor({u: new NetworkError('cannot reach 10.0.0.7: fetch failed', {cause: new TypeError('fetch failed', {cause: refused})})});
    const err = (await r.resolveAll([{id: 'u', scale: 1}]).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(ModelNotAllowedError);
    expect(err.message).toMatch(/^loras\[0\]\.name: the model's address \(10\.0\.0\.7, or a redirect from it\) is private/);
  });

  it('resolves LoRAs for the loaded family to absolute paths and remembers them', async () => {
    const {calls, r} = resolverFor({'org/a': lora('sd1'), 'civitai:1': lora('sd1')});
    const out = await r.resolveAll([{id: 'org/a', scale: 0.5}, {id: 'civitai:1', scale: 1}]);
    expect(out).toEqual([
      {id: 'org/a', scale: 0.5, path: '/cache/org_a.safetensors'},
      {id: 'civitai:1', scale: 1, path: '/cache/civitai_1.safetensors'},
    ]);
    await r.resolveAll([{id: 'org/a', scale: 2}]);
    expect(calls).toEqual(['org/a', 'civitai:1']);
    expect(r.size).toBe(2);
  });

  it.each([
    ['a missing id', 'nope', /^loras\[0\]\.name: cannot use nope: not found$/],
    ['a textual inversion', 'ti', /^loras\[0\]\.name: ti is a textual-inversion, not a LoRA$/],
    ['an unknown kind', 'what', /^loras\[0\]\.name: what is not a model mgen recognizes, not a LoRA$/],
    ['a LoRA for another family', 'xl', /^loras\[0\]\.name: xl is a LoRA for sdxl but the loaded model is sd1$/],
    ['a pickle LoRA without --allow-pickle', 'pkl', /^loras\[0\]\.name: pkl is a pickle file; this server does not load pickles/],
    ['an unknown builtin', 'builtin:x', /^loras\[0\]\.name: cannot use builtin:x: unknown builtin model builtin:x \(known: /],
  ])('refuses %s as a usage error naming the field', async (_what, id, re) => {
    const {r} = resolverFor({
      ti: lora('sd1', {kind: 'textual-inversion'}),
      what: lora('sd1', {kind: 'unknown'}),
      xl: lora('sdxl'),
      pkl: lora('sd1', {format: 'pickle', security: {pickle: true, unsafe_globals: [], trust_remote_code_needed: false}}),
      'builtin:x': new UsageError('unknown builtin model builtin:x', {hint: 'known: builtin:tiny-sd'}),
    });
    const err = await r.resolveAll([{id, scale: 1}]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(re);
    expect((err as UsageError).field).toBe('loras[0].name');
  });

  it('names the entry by its index and lets a pickle through with allowPickle', async () => {
    const pkl = lora('sd1', {format: 'pickle', security: {pickle: true, unsafe_globals: [], trust_remote_code_needed: false}});
    const {r} = resolverFor({ok: lora('sd1'), pkl, xl: lora('sdxl')}, {allowPickle: true});
    await expect(r.resolveAll([{id: 'ok', scale: 1}, {id: 'pkl', scale: 1}])).resolves.toHaveLength(2);
    await expect(r.resolveAll([{id: 'ok', scale: 1}, {id: 'xl', scale: 1}])).rejects.toThrow(/^loras\[1\]\.name: /);
  });

  it('refuses the same LoRA twice in one request', async () => {
    const {r} = resolverFor({'org/a': lora('sd1')});
    const err = await r.resolveAll([{id: 'org/a', scale: 1}, {id: 'org/a', scale: 0.5}]).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/^loras\[1\]\.name: the same LoRA as loras\[0\]/);
    expect((err as UsageError).field).toBe('loras[1].name');
  });

  it('keeps a network failure as it is and does not remember failures', async () => {
    const table: Record<string, ModelReport | Error> = {'org/down': new NetworkError('cannot reach huggingface.co')};
    const {calls, r} = resolverFor(table);
    await expect(r.resolveAll([{id: 'org/down', scale: 1}])).rejects.toBeInstanceOf(NetworkError);
    table['org/down'] = lora('sd1');
    await expect(r.resolveAll([{id: 'org/down', scale: 1}])).resolves.toHaveLength(1);
    expect(calls).toEqual(['org/down', 'org/down']);
  });

  it('looks at a local file again when it changed on disk', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mgen-rl-'));
    try {
      const file = join(dir, 'l.safetensors');
      await writeFile(file, 'a');
      const {calls, r} = resolverFor({[file]: lora('sd1')});
      await r.resolveAll([{id: file, scale: 1}]);
      await r.resolveAll([{id: file, scale: 1}]);
      expect(calls).toHaveLength(1);
      await writeFile(file, 'bb');
      await r.resolveAll([{id: file, scale: 1}]);
      expect(calls).toHaveLength(2);
    } finally {
      await rm(dir, {recursive: true, force: true});
    }
  });
});

describe('native request -> session input', () => {
  it('passes loras on as MODEL_IDs with scale 1 by default', () => {
    const input = toSessionInput({prompt: 'a', loras: [{name: 'org/a', scale: 0.7}, {name: 'builtin:tiny-sd-lora-peft'}]}, '/o/x.png');
    expect(input.loras).toEqual([{id: 'org/a', scale: 0.7}, {id: 'builtin:tiny-sd-lora-peft', scale: 1}]);
    expect(input.params).toEqual({});
    expect(toSessionInput({prompt: 'a'}, '/o/x.png').loras).toBeUndefined();
  });
});
