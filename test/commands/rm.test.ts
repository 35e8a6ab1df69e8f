import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {existsSync, mkdtempSync, readdirSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import Pull from '../../src/commands/pull.js';
import Rm from '../../src/commands/rm.js';
import {safetensors, singleFileRepo} from '../helpers/hub-fixtures.js';
import {commitOf, LoopbackHub, startHub} from '../helpers/loopback-hub.js';
import {runCli} from '../helpers/sources-cli.js';

let hub: LoopbackHub;
let env: Record<string, string | undefined>;
const shared = safetensors([['shared.weight', 'F32', [256]]]);
const onlyOld = safetensors([['old.weight', 'F32', [512]]]);
const onlyNew = safetensors([['new.weight', 'F32', [1024]]]);

beforeAll(async () => {
  hub = await startHub(singleFileRepo('org/single'));
  // Two commits of one repo: `dev` (old) and `main` (new) share one blob.
  hub.addRepo({id: 'org/two-revs', commit: commitOf('new'), refs: {dev: commitOf('old')}, files: [
    {path: 'shared.safetensors', content: shared}, {path: 'x.safetensors', content: onlyNew}]});
  const home = mkdtempSync(join(tmpdir(), 'mgen-cmd-rm-'));
  env = {HF_HOME: join(home, 'hf'), MGEN_HOME: join(home, 'mgen'), HF_ENDPOINT: hub.url, HF_HUB_OFFLINE: undefined};
});
afterAll(async () => hub.close());

describe('mgen rm', () => {
  it('removes one snapshot and only the blobs no other snapshot uses, printing the bytes freed', async () => {
    expect((await runCli(Pull, ['org/two-revs', '--all'], env)).code).toBe(0);
    // Serve different content for the dev commit: swap the repo definition, pull @dev.
    hub.addRepo({id: 'org/two-revs', commit: commitOf('old'), refs: {dev: commitOf('old')}, files: [
      {path: 'shared.safetensors', content: shared}, {path: 'x.safetensors', content: onlyOld}]});
    expect((await runCli(Pull, ['org/two-revs@dev', '--all'], env)).code).toBe(0);
    const blobs = join(env.HF_HOME!, 'hub', 'models--org--two-revs', 'blobs');
    expect(readdirSync(blobs)).toHaveLength(3);
    const r = await runCli(Rm, ['org/two-revs@dev', '--json'], env);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.bytes_freed).toBe(onlyOld.length);
    expect(readdirSync(blobs)).toHaveLength(2);
    expect(existsSync(join(env.HF_HOME!, 'hub', 'models--org--two-revs', 'refs', 'dev'))).toBe(false);
    expect(existsSync(join(env.HF_HOME!, 'hub', 'models--org--two-revs', 'snapshots', commitOf('new'), 'shared.safetensors'))).toBe(true);
    const all = await runCli(Rm, ['org/two-revs'], env);
    expect(all.stdout).toMatch(/removed org\/two-revs: .* freed/);
    expect(existsSync(join(env.HF_HOME!, 'hub', 'models--org--two-revs'))).toBe(false);
  });

  it('not cached: exit 3', async () => {
    const r = await runCli(Rm, ['org/single'], env);
    expect(r.code).toBe(3);
  });
});
