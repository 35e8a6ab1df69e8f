import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {mkdtempSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import List from '../../src/commands/list.js';
import Pull from '../../src/commands/pull.js';
import {detectLocal} from '../../src/detect/index.js';
import {recordDetectionSummary} from '../../src/sources/cache/mgen-home.js';
import {diffusersRepo, singleFileRepo} from '../helpers/hub-fixtures.js';
import {commitOf, LoopbackHub, startHub} from '../helpers/loopback-hub.js';
import {runCli} from '../helpers/sources-cli.js';

let hub: LoopbackHub;
let env: Record<string, string | undefined>;

beforeAll(async () => {
  hub = await startHub(diffusersRepo('org/tiny-sd'), singleFileRepo('org/single'));
  const home = mkdtempSync(join(tmpdir(), 'mgen-cmd-list-'));
  env = {HF_HOME: join(home, 'hf'), MGEN_HOME: join(home, 'mgen'), HF_ENDPOINT: hub.url, HF_HUB_OFFLINE: undefined};
});
afterAll(async () => hub.close());

describe('mgen list', () => {
  it('empty cache: says so', async () => {
    const r = await runCli(List, [], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/no cached models/);
  });

  it('lists pulled models with revision, size, family/kind from the stored summary, last used', async () => {
    expect((await runCli(Pull, ['org/tiny-sd'], env)).code).toBe(0);
    expect((await runCli(Pull, ['org/single'], env)).code).toBe(0);
    recordDetectionSummary({kind: 'hf', repo: 'org/tiny-sd', commit: commitOf('org/tiny-sd')}, {family: 'sd1', kind: 'checkpoint'}, {MGEN_HOME: env.MGEN_HOME});
    const j = await runCli(List, ['--json'], env);
    const rows = JSON.parse(j.stdout) as Array<{id: string; revision: string; size: number; family: string; kind: string; last_used: string}>;
    expect(rows.map((r) => r.id)).toEqual(['org/single', 'org/tiny-sd']);
    const sd = rows.find((r) => r.id === 'org/tiny-sd')!;
    expect(sd).toMatchObject({revision: 'main', family: 'sd1', kind: 'checkpoint'});
    expect(sd.size).toBeGreaterThan(0);
    // The summary is taken by detection at pull time.
    const single = rows.find((r) => r.id === 'org/single')! as unknown as {family: string; kind: string; path: string};
    const detected = await detectLocal((single as {path: string}).path);
    expect([single.family, single.kind]).toEqual([detected.family, detected.kind]);
    const t = await runCli(List, [], env);
    expect(t.stdout.split('\n')[0]).toMatch(/^ID\s+REVISION\s+SIZE\s+FAMILY\s+KIND\s+LAST USED$/);
    expect(t.stdout).toMatch(/org\/tiny-sd\s+main\s+.*sd1\s+checkpoint\s+just now/);
  });
});
