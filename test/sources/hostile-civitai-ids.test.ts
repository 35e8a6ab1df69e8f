// A hostile CivitAI answer must not make `mgen pull civitai:...` write or delete outside $MGEN_HOME (issue 16):
// file and version ids become the partial folder and lock names (civitai-<version>-<file>), so an id of
// `1/../../../../victim-folder` used to make a pull write into that folder and then `rm -rf` it. Ids must be whole
// numbers (exit 6 otherwise, nothing written); file names are reduced to safe basenames.
import {afterAll, beforeAll, beforeEach, describe, expect, it} from '@jest/globals';
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {basename, dirname, join} from 'node:path';
import Pull from '../../src/commands/pull.js';
import {checkId} from '../../src/sources/cache/safe-path.js';
import {safetensors} from '../helpers/hub-fixtures.js';
import {LoopbackCivitai, startCivitai} from '../helpers/loopback-civitai.js';
import {changes, DEFAULT_DECOYS, isInside, plantDecoys, snapshotOutside, type FsSnapshot} from '../helpers/path-containment.js';
import {runCli} from '../helpers/sources-cli.js';

let civ: LoopbackCivitai;
let root: string;
let env: Record<string, string | undefined>;
let before: FsSnapshot;
const mgenHome = () => join(root, 'mgen');
const cacheRoots = () => [join(root, 'hf', 'hub'), mgenHome()];
const lora = safetensors([['lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight', 'F16', [4, 320]]]);
const TRAVERSAL = '1/../../../../victim-folder';

beforeAll(async () => {
  civ = await startCivitai(
    // No sha256 announced (''), so the pull names its partial folder and lock by version and file id.
    {id: 100, name: 'File id', type: 'LORA', versions: [{id: 1001, modelId: 100, name: 'v1', files: [{id: 5001, apiId: TRAVERSAL, name: 'a.safetensors', content: lora, primary: true, sha256: ''}]}]},
    {id: 200, name: 'Version id', type: 'LORA', versions: [{id: 2001, apiId: TRAVERSAL, modelId: 200, name: 'v1', files: [{id: 6001, name: 'b.safetensors', content: lora, primary: true, sha256: ''}]}]},
    {id: 300, name: 'Fractional id', type: 'LORA', versions: [{id: 3001, modelId: 300, name: 'v1', files: [{id: 7001, apiId: 1.5, name: 'c.safetensors', content: lora, primary: true, sha256: ''}]}]},
    {id: 400, name: 'Hostile name', type: 'LORA', versions: [{id: 4001, modelId: 400, name: 'v1', files: [{id: 8001, name: '../../../../home/.bashrc', content: lora, primary: true, sha256: '../../x'}]}]},
  );
});
afterAll(async () => civ.close());
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'mgen-hostile-civ-'));
  for (const d of cacheRoots()) mkdirSync(d, {recursive: true});
  plantDecoys(root, {...DEFAULT_DECOYS, 'victim-folder-6001/keep.txt': 'decoy\n'});
  env = {
    MGEN_HOME: mgenHome(), HF_HOME: join(root, 'hf'), XDG_CACHE_HOME: undefined, CIVITAI_ENDPOINT: civ.url, CIVITAI_TOKEN: undefined,
    CIVITAI_API_TOKEN: undefined, MODEL_ID: undefined, MGEN_RETRY_BASE_MS: '5', HF_HUB_OFFLINE: undefined,
  };
  before = snapshotOutside(root, cacheRoots());
});

async function expectRefused(id: string, bad: unknown): Promise<string> {
  const r = await runCli(Pull, [id], env);
  expect(changes(before, snapshotOutside(root, cacheRoots()))).toEqual([]);
  expect(r.code).toBe(6);
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toContain(JSON.stringify(String(bad)));
  expect(readdirSync(mgenHome())).toEqual([]);
  expect(readFileSync(join(root, 'victim-folder', 'keep.txt'), 'utf8')).toBe(DEFAULT_DECOYS['victim-folder/keep.txt']);
  return lines[0]!;
}

describe('CivitAI ids and names never leave $MGEN_HOME', () => {
  it(`a file id ${TRAVERSAL}: exit 6 naming it; the victim folder is neither written nor deleted`, async () => {
    const line = await expectRefused('civitai:100@1001', TRAVERSAL);
    expect(line).toMatch(/civitai model version 1001: the API's file id: refused/);
  });

  it(`a version id ${TRAVERSAL}: exit 6 naming it`, async () => {
    const line = await expectRefused('civitai:200@2001', TRAVERSAL);
    expect(line).toMatch(/the API's version id/);
    expect(existsSync(join(root, 'victim-folder-6001', 'keep.txt'))).toBe(true);
  });

  it('an id that is a number but not a whole one (1.5): exit 6', async () => {
    await expectRefused('civitai:300@3001', 1.5);
  });

  it('a file name ../../../../home/.bashrc (and a bogus sha256): stored under its safe basename inside the cache', async () => {
    const r = await runCli(Pull, ['civitai:400@4001', '--json'], env);
    expect(r.code).toBe(0);
    expect(changes(before, snapshotOutside(root, cacheRoots()))).toEqual([]);
    const path = JSON.parse(r.stdout).path as string;
    expect(isInside(join(mgenHome(), 'models'), path)).toBe(true);
    expect(basename(path)).toBe('bashrc');
    expect(dirname(path)).toMatch(/[0-9a-f]{64}$/);
    expect(readFileSync(path).equals(lora)).toBe(true);
  });
});

describe('checkId', () => {
  it('takes whole numbers (as numbers or digit strings, up to 18 digits) and refuses anything else with exit 6', () => {
    expect(checkId(1001, 'id')).toBe(1001);
    expect(checkId('42', 'id')).toBe(42);
    for (const bad of [TRAVERSAL, -1, 1.5, 1e21, '', '12a', '1'.repeat(19), null, undefined, {}, [1], NaN, '٣']) {
      const err = (() => {
        try {
          checkId(bad, 'civitai file id');
        } catch (e) {
          return e as {exitCode?: number; message: string};
        }
        return undefined;
      })();
      expect(err?.exitCode).toBe(6);
      expect(err?.message.split('\n')).toHaveLength(1);
    }
  });
});
