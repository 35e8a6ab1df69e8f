// `generate`, `schema` and `serve` take --offline like inspect and pull: with it (or HF_HUB_OFFLINE=1) a CivitAI id
// that is not cached is exit 3 at once, naming the pull to run, and nothing is asked of the network.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {mkdtempSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import Generate from '../../src/commands/generate.js';
import Schema from '../../src/commands/schema.js';
import Serve from '../../src/commands/serve.js';
import {safetensors} from '../helpers/hub-fixtures.js';
import {LoopbackCivitai, startCivitai} from '../helpers/loopback-civitai.js';
import {runCli} from '../helpers/sources-cli.js';
import {standInWorker, verbsSeen} from '../backends/stand-in-worker.js';

let civ: LoopbackCivitai;
let env: Record<string, string | undefined>;
let verbs: string;

beforeAll(async () => {
  const lora = safetensors([['lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight', 'F16', [4, 320]]]);
  civ = await startCivitai({id: 4201, name: 'L', type: 'LORA', versions: [{id: 42010, modelId: 4201, name: 'v1', files: [{id: 1, name: 'l.safetensors', content: lora, primary: true}]}]});
  const home = mkdtempSync(join(tmpdir(), 'mgen-offline-cli-'));
  verbs = join(home, 'verbs');
  env = {MGEN_HOME: join(home, 'mgen'), HF_HOME: join(home, 'hf'), CIVITAI_ENDPOINT: civ.url, MGEN_PYTHON: await standInWorker(), FAKE_VERBS: verbs, HF_HUB_OFFLINE: undefined, MODEL_ID: undefined};
});
afterAll(async () => civ.close());

const MSG = 'mgen: error: civitai:4201 is not in the cache; run mgen pull civitai:4201 while online';

describe('--offline on the commands that load a model', () => {
  it('generate --offline civitai:4201 (not cached): exit 3 with the pull to run, no request, no model load', async () => {
    const r = await runCli(Generate, ['civitai:4201', '--prompt', 'x', '--offline', '--no-reuse'], env);
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split('\n').at(-1)).toBe(MSG);
    expect(civ.log).toEqual([]);
    expect(await verbsSeen(verbs)).not.toContain('load');
  });

  it('HF_HUB_OFFLINE=1 does the same without the flag', async () => {
    const r = await runCli(Generate, ['civitai:4201', '--prompt', 'x', '--no-reuse'], {...env, HF_HUB_OFFLINE: '1'});
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split('\n').at(-1)).toBe(MSG);
    expect(civ.log).toEqual([]);
  });

  it('schema --offline too; serve has the flag', async () => {
    const r = await runCli(Schema, ['civitai:4201', '--offline'], env);
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split('\n').at(-1)).toBe(MSG);
    expect(civ.log).toEqual([]);
    expect(Object.keys(Serve.flags)).toContain('offline');
  });
});
