// Serve's per-request LoRAs go through the same resolution as `mgen pull` (issue 16): a hostile CivitAI id must not
// write outside the caches, and a stalled hub body must end the request (not hang the server's queue). This drives
// the RequestLoraResolver serve builds, with the real resolution behind it (resolveModelForLoad: pull + detect).
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {mkdtempSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {MgenError} from '../../src/errors.js';
import {RequestLoraResolver} from '../../src/backends/request-loras.js';
import {resolveModelForLoad} from '../../src/backends/resolve-model.js';
import {commitOf, LoopbackHub, startHub} from '../helpers/loopback-hub.js';
import {safetensors} from '../helpers/hub-fixtures.js';
import {LoopbackCivitai, startCivitai} from '../helpers/loopback-civitai.js';
import {changes, DEFAULT_DECOYS, plantDecoys, snapshotOutside} from '../helpers/path-containment.js';

const lora = safetensors([['lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight', 'F16', [4, 320]]], {ss_base_model_version: 'sd_v1'});
const TRAVERSAL = '1/../../../../victim-folder';
let civ: LoopbackCivitai;
let hub: LoopbackHub;

// Process-wide knobs of the HTTP layer: stalls count after 0.2 s, retries back off from 5 ms.
const knobs = {MGEN_HTTP_TIMEOUT: '0.2', MGEN_RETRY_BASE_MS: '5'};
const saved = Object.fromEntries(Object.keys(knobs).map((k) => [k, process.env[k]]));

beforeAll(async () => {
  Object.assign(process.env, knobs);
  civ = await startCivitai({id: 100, name: 'Hostile', type: 'LORA', versions: [{id: 1001, modelId: 100, name: 'v1', files: [
    {id: 5001, apiId: TRAVERSAL, name: 'a.safetensors', content: lora, primary: true, sha256: ''}]}]});
  hub = await startHub({id: 'org/slow-lora', commit: commitOf('org/slow-lora'), files: [{path: 'lora.safetensors', content: lora, lfs: true}]});
});
afterAll(async () => {
  for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  await civ.close();
  await hub.close();
});

function resolverIn(root: string): RequestLoraResolver {
  const env = {
    ...process.env, HF_HOME: join(root, 'hf'), HF_HUB_CACHE: undefined, MGEN_HOME: join(root, 'mgen'), HF_ENDPOINT: hub.url,
    CIVITAI_ENDPOINT: civ.url, HF_HUB_OFFLINE: undefined,
  };
  return new RequestLoraResolver({resolve: (id, o) => resolveModelForLoad(id, o), ropts: {env}, family: 'sd1'});
}

describe("serve's per-request LoRAs against hostile sources", () => {
  it('a CivitAI file id with a path traversal: the request fails in words and nothing outside the caches changes', async () => {
    const root = mkdtempSync(join(tmpdir(), 'mgen-req-lora-hostile-'));
    plantDecoys(root, DEFAULT_DECOYS);
    const roots = [join(root, 'hf'), join(root, 'mgen')];
    const before = snapshotOutside(root, roots);
    const err = await resolverIn(root).resolveAll([{id: 'civitai:100', scale: 1}]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MgenError);
    expect((err as MgenError).message).toMatch(/^loras\[0\]\.name: /);
    expect(changes(before, snapshotOutside(root, roots))).toEqual([]);
  });

  it('a hub body that stalls after the headers: the request ends with a network error instead of hanging', async () => {
    const root = mkdtempSync(join(tmpdir(), 'mgen-req-lora-stall-'));
    hub.fault({match: /^\/cdn\//, times: 1000, stallAfter: 0});
    try {
      const err = await resolverIn(root).resolveAll([{id: 'org/slow-lora/lora.safetensors', scale: 1}]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MgenError);
      expect((err as MgenError).exitCode).toBe(5);
      expect((err as MgenError).message).toMatch(/^loras\[0\]\.name: /);
    } finally {
      hub.faults = [];
    }
  }, 60_000);
});
