// Offline means offline: HF_HUB_OFFLINE=1 (or --offline) covers CivitAI ids too (the cache or exit 3 at once, no
// request), and an unreachable Hub (a closed port) falls back to the cached revision on the first refused
// connection instead of retrying, saying so.
import {afterAll, beforeAll, beforeEach, describe, expect, it} from '@jest/globals';
import {createServer} from 'node:net';
import {mkdtempSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {NetworkError, NotFoundError} from '../../src/errors.js';
import {openCivitai} from '../../src/sources/civitai/civitai-source.js';
import {pullHf} from '../../src/sources/hf/hf-pull.js';
import {pull} from '../../src/sources/pull.js';
import {resolveModel} from '../../src/sources/resolve.js';
import {isUnreachable} from '../../src/sources/hub-unreachable.js';
import {safetensors, singleFileRepo} from '../helpers/hub-fixtures.js';
import {LoopbackCivitai, startCivitai} from '../helpers/loopback-civitai.js';
import {commitOf, LoopbackHub, startHub} from '../helpers/loopback-hub.js';

let civ: LoopbackCivitai;
let hub: LoopbackHub;
let closedPort: number;
let env: NodeJS.ProcessEnv;
const lora = safetensors([['lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight', 'F16', [4, 320]]], {ss_base_model_version: 'sd_v1'});

beforeAll(async () => {
  civ = await startCivitai({id: 4201, name: 'Tiny LoRA', type: 'LORA', versions: [{id: 42010, modelId: 4201, name: 'v1', baseModel: 'SD 1.5', files: [{id: 1, name: 'tiny.safetensors', content: lora, primary: true}]}]});
  hub = await startHub(singleFileRepo('org/single'));
  // A port nothing listens on: bind one, then close it.
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  closedPort = (s.address() as {port: number}).port;
  await new Promise((r) => s.close(r));
});
afterAll(async () => {
  await civ.close();
  await hub.close();
});
beforeEach(() => {
  const home = mkdtempSync(join(tmpdir(), 'mgen-offline-'));
  env = {MGEN_HOME: join(home, 'mgen'), HF_HOME: join(home, 'hf'), CIVITAI_ENDPOINT: civ.url};
});

/** Counts the fetch attempts (retries included) a call makes. */
function counting(): {fetch: typeof fetch; calls: number} {
  const c = {calls: 0, fetch: (async (...a: Parameters<typeof fetch>) => {
    c.calls++;
    return fetch(...a);
  }) as typeof fetch};
  return c;
}

describe('HF_HUB_OFFLINE=1 covers CivitAI ids', () => {
  it('not cached: exit 3 at once saying how to get it, without a request', async () => {
    const before = civ.log.length;
    const err = await pull('civitai:4201', {env: {...env, HF_HUB_OFFLINE: '1'}}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as NotFoundError).exitCode).toBe(3);
    expect((err as NotFoundError).message).toBe('civitai:4201 is not in the cache; run mgen pull civitai:4201 while online');
    await expect(openCivitai({modelId: 4201, env: {...env, HF_HUB_OFFLINE: '1'}})).rejects.toBeInstanceOf(NotFoundError);
    expect(civ.log.length).toBe(before);
  });

  it('cached: resolves from MGEN_HOME/models without a request', async () => {
    await pull('civitai:4201', {env});
    const before = civ.log.length;
    const r = await pull('civitai:4201', {env: {...env, HF_HUB_OFFLINE: '1'}});
    expect(r.files[0]!.path).toBe('tiny.safetensors');
    const opened = await openCivitai({modelId: 4201, env: {...env, HF_HUB_OFFLINE: 'true'}});
    expect(opened.source).toMatchObject({type: 'civitai', revision: '42010'});
    expect(civ.log.length).toBe(before);
  });
});

describe('HF_HUB_OFFLINE=1 covers plain URLs', () => {
  it('not cached: exit 3 at once from pull and resolve, no connection attempted', async () => {
    const url = `http://127.0.0.1:${closedPort}/model.safetensors`;
    const offline = {...env, HF_HUB_OFFLINE: '1'};
    const err = await pull(url, {env: offline}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as NotFoundError).message).toBe(`${url}: not in the cache (offline)`);
    await expect(resolveModel(url, {env: offline})).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('an unreachable Hub (connection refused) with the revision cached', () => {
  it('pull: one attempt, no retries, then the cached revision, with a note saying so', async () => {
    await pullHf({repo: 'org/single', endpoint: hub.url, env});
    const notes: string[] = [];
    const c = counting();
    const r = await pullHf({repo: 'org/single', endpoint: `http://127.0.0.1:${closedPort}`, env, http: {fetch: c.fetch, baseDelayMs: 1}, note: (m) => notes.push(m)});
    expect(r.commit).toBe(commitOf('org/single'));
    expect(c.calls).toBe(1);
    expect(notes).toEqual([`hub unreachable; using the cached revision ${commitOf('org/single').slice(0, 7)}`]);
  });

  it('inspect\'s resolver: the same, one attempt and a note', async () => {
    await pullHf({repo: 'org/single', endpoint: hub.url, env});
    const notes: string[] = [];
    const c = counting();
    const opened = await resolveModel('org/single', {endpoint: `http://127.0.0.1:${closedPort}`, env, http: {fetch: c.fetch, baseDelayMs: 1}, note: (m) => notes.push(m)});
    expect(opened.source).toMatchObject({type: 'huggingface', revision: commitOf('org/single'), offline: true});
    expect(c.calls).toBe(1);
    expect(notes).toHaveLength(1);
  });

  it('not cached: retries as before, then a NetworkError (exit 5)', async () => {
    const c = counting();
    const err = await pullHf({repo: 'org/single', endpoint: `http://127.0.0.1:${closedPort}`, env, http: {fetch: c.fetch, baseDelayMs: 1, retries: 2}}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect(c.calls).toBe(3);
  });

  it('isUnreachable: refused and DNS failures (on the error, its cause or an AggregateError), not HTTP answers', () => {
    expect(isUnreachable(Object.assign(new TypeError('fetch failed'), {cause: {code: 'ECONNREFUSED'}}))).toBe(true);
    expect(isUnreachable(Object.assign(new TypeError('fetch failed'), {cause: new AggregateError([{code: 'ENOTFOUND'}])}))).toBe(true);
    expect(isUnreachable(Object.assign(new TypeError('fetch failed'), {cause: {code: 'ECONNRESET'}}))).toBe(false);
    expect(isUnreachable(new NetworkError('HTTP 503'))).toBe(false);
  });
});
