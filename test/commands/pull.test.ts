import {afterAll, beforeAll, beforeEach, describe, expect, it} from '@jest/globals';
import {existsSync, mkdtempSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import Pull from '../../src/commands/pull.js';
import {diffusersRepo, safetensors, singleFileRepo} from '../helpers/hub-fixtures.js';
import {startCivitai} from '../helpers/loopback-civitai.js';
import {commitOf, LoopbackHub, startHub} from '../helpers/loopback-hub.js';
import {runCli} from '../helpers/sources-cli.js';

let hub: LoopbackHub;
let env: Record<string, string | undefined>;

beforeAll(async () => {
  hub = await startHub(diffusersRepo('org/tiny-sd'), singleFileRepo('org/two', ['a.safetensors', 'b.safetensors']));
  hub.addRepo({...singleFileRepo('org/gated'), gated: 'manual'});
});
afterAll(async () => hub.close());
beforeEach(() => {
  const home = mkdtempSync(join(tmpdir(), 'mgen-cmd-pull-'));
  env = {HF_HOME: join(home, 'hf'), MGEN_HOME: join(home, 'mgen'), HF_ENDPOINT: hub.url, HF_TOKEN: undefined, HF_HUB_OFFLINE: undefined, MODEL_ID: undefined, MGEN_RETRY_BASE_MS: '5'};
});

describe('mgen pull', () => {
  it('--json prints one JSON summary on stdout and nothing else', async () => {
    const r = await runCli(Pull, ['org/tiny-sd', '--json'], env);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({id: 'org/tiny-sd', revision: 'main', commit: commitOf('org/tiny-sd')});
    expect(doc.path).toContain(join('models--org--tiny-sd', 'snapshots', commitOf('org/tiny-sd')));
    expect(doc.bytes_downloaded).toBe(doc.bytes_total);
    expect(doc.files.length).toBeGreaterThan(5);
  });

  it('--dry-run prints the file list and total, writes nothing; MODEL_ID comes from the environment', async () => {
    const r = await runCli(Pull, ['--dry-run', '--variant', 'fp16'], {...env, MODEL_ID: 'org/tiny-sd'});
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/dry run, nothing written/);
    expect(r.stdout).toMatch(/unet\/diffusion_pytorch_model\.fp16\.safetensors/);
    expect(existsSync(env.HF_HOME!)).toBe(false);
  });

  it('bad MODEL_ID: exit 2, a short first line, then the accepted forms one per line', async () => {
    const r = await runCli(Pull, ['civitai:abc'], env);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toBe("mgen: error: invalid MODEL_ID 'civitai:abc': the CivitAI model id must be a positive number");
    expect(lines[1]).toBe('  accepted forms:');
    expect(lines).toContain('    civitai:<modelId>[@<versionId>]');
  });

  it('several weight files with no TTY: exit 2 with the choices and --file', async () => {
    const r = await runCli(Pull, ['org/two'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/a\.safetensors, b\.safetensors.*--file/);
    const ok = await runCli(Pull, ['org/two', '--file', 'a.safetensors', '--json'], env);
    expect(JSON.parse(ok.stdout).files.map((f: {path: string}) => f.path)).toEqual(['a.safetensors']);
  });

  it('gated: exit 4 telling to accept the licence and set HF_TOKEN; the token is never printed', async () => {
    const r = await runCli(Pull, ['org/gated', '--token', 'hf_notallowed12345'], env);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/accept the licence/);
    expect(r.stderr).not.toContain('hf_notallowed12345');
    const ok = await runCli(Pull, ['org/gated', '--json'], {...env, HF_TOKEN: 'hf_goodtoken123456'});
    expect(ok.code).toBe(0);
  });

  it('not found: exit 3; offline and absent: exit 3', async () => {
    expect((await runCli(Pull, ['org/nope'], env)).code).toBe(3);
    const off = await runCli(Pull, ['org/tiny-sd', '--offline'], env);
    expect(off.code).toBe(3);
    expect(off.stderr).toMatch(/not in the cache/);
  });

  it('CivitAI ids (civitai:, AIR, model URL) pull into MGEN_HOME by sha256; several files and no TTY: exit 2', async () => {
    const civ = await startCivitai({id: 7, name: 'L', type: 'LORA', versions: [{id: 70, modelId: 7, name: 'v1', baseModel: 'SDXL 1.0', files: [
      {id: 700, name: 'l.safetensors', content: safetensors([['w', 'F16', [64]]]), primary: true}]}]},
    {id: 8, name: 'C', type: 'Checkpoint', versions: [{id: 80, modelId: 8, name: 'v1', files: [
      {id: 800, name: 'a.safetensors', content: safetensors([['a', 'F16', [64]]]), fp: 'fp16', size: 'pruned'},
      {id: 801, name: 'b.safetensors', content: safetensors([['b', 'F16', [64]]]), fp: 'fp16', size: 'pruned', type: 'Pruned Model'}]}]});
    try {
      const e = {...env, CIVITAI_ENDPOINT: civ.url, CIVITAI_TOKEN: 'civ_secret_token_1'};
      const r = await runCli(Pull, ['urn:air:sdxl:lora:civitai:7@70', '--json'], e);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const doc = JSON.parse(r.stdout);
      expect(doc).toMatchObject({id: 'civitai:7@70', source: 'civitai', revision: '70'});
      expect(doc.path).toMatch(new RegExp(`^${env.MGEN_HOME}/models/[0-9a-f]{64}/l\\.safetensors$`));
      expect((await runCli(Pull, [`${civ.url}/models/7?modelVersionId=70`, '--json'], e)).code).toBe(0);
      const amb = await runCli(Pull, ['civitai:8'], e);
      expect(amb.code).toBe(2);
      expect(amb.stderr).toMatch(/a\.safetensors.*b\.safetensors.*--file/);
      expect(amb.stderr + r.stderr).not.toContain('civ_secret_token_1');
      expect((await runCli(Pull, ['civitai:8', '--file', 'b.safetensors', '--json'], e)).code).toBe(0);
    } finally {
      await civ.close();
    }
  });

  it('a non-TTY prints progress lines on stderr, never on stdout', async () => {
    const r = await runCli(Pull, ['org/tiny-sd', '--json'], {...env, MGEN_PROGRESS_INTERVAL_MS: '1'});
    expect(r.code).toBe(0);
    expect(() => JSON.parse(r.stdout)).not.toThrow();
    expect(r.stderr).toMatch(/^pull: .* files, /m);
  });
});
