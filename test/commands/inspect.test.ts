// `mgen inspect` as a user runs it: the built CLI (./bin/mgen after `npm run build`) in a subprocess.
import {afterAll, beforeAll, describe, expect, test} from '@jest/globals';
import {spawnSync} from 'node:child_process';
import {existsSync} from 'node:fs';
import {mkdir, writeFile} from 'node:fs/promises';
import {join, resolve} from 'node:path';
import {makeTmpDir} from '../helpers/tmp.js';
import {rawHeaderBytes} from '../helpers/safetensors-writer.js';
import {writeSt} from '../helpers/fixtures/files.js';
import {fluxBfl} from '../helpers/fixtures/dit.js';

const ROOT = resolve(process.cwd());
const BIN = join(ROOT, 'bin', 'mgen');
const EXAMPLE = join(ROOT, 'test', 'examples', 'sdxl-base-header-only.safetensors');

function mgen(args: string[], env: Record<string, string | undefined> = {}) {
  const e: NodeJS.ProcessEnv = {...process.env, NO_COLOR: '1', ...env};
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete e[k];
  const r = spawnSync(process.execPath, [BIN, ...args], {cwd: ROOT, env: e, encoding: 'utf8', timeout: 30_000});
  return {code: r.status, stdout: r.stdout, stderr: r.stderr};
}

let tmp: {dir: string; cleanup: () => Promise<void>};
beforeAll(async () => {
  if (!existsSync(join(ROOT, 'dist', 'commands', 'inspect.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  tmp = await makeTmpDir('mgen-inspect-');
});
afterAll(async () => tmp?.cleanup());

describe('mgen inspect', () => {
  test('--vram says which --memory / --quantize makes the model fit; a bad size is exit 2', () => {
    const small = mgen(['inspect', EXAMPLE, '--vram', '2GiB']);
    expect(small.code).toBe(0);
    expect(small.stdout).toMatch(/\n  fit         fits 2\.0 GiB as is \(~[\d.]+ GiB peak\) \(VAE tiling\)\n/);
    const doc = JSON.parse(mgen(['inspect', EXAMPLE, '--vram', '80GiB', '--json']).stdout);
    expect(doc.fit).toMatchObject({fits: true, flags: '', vram_bytes: 80 * 2 ** 30});
    const bad = mgen(['inspect', EXAMPLE, '--vram', 'lots']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^mgen: error: --vram lots: expected a size such as 8GiB/);
  });

  test('human summary of the bundled example: what it is, no colour when piped', () => {
    const r = mgen(['inspect', EXAMPLE]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/A Stable Diffusion XL checkpoint/);
    expect(r.stdout).toMatch(/family\s+sdxl/);
    expect(r.stdout).toMatch(/pipeline\s+StableDiffusionXLPipeline \(text-to-image\)/);
    expect(r.stdout).toMatch(/VRAM\s+~[\d.]+ GB fp16\/bf16/);
    expect(r.stdout).not.toMatch(/\u001b\[/);
  });

  test('--json prints one ModelReport document and nothing else on stdout', () => {
    const r = mgen(['inspect', EXAMPLE, '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({kind: 'checkpoint', family: 'sdxl', format: 'single-file', precision: 'fp16', source: {type: 'local', id: EXAMPLE}});
    expect(report.metadata['modelspec.architecture']).toBe('stable-diffusion-xl-v1-base');
    expect(report.evidence[0].facts.join(' ')).toMatch(/attn2\.to_k\.weight \[640,2048\]/);
  });

  test('--keys --filter lists only the matching tensors with dtype and shape', () => {
    const r = mgen(['inspect', EXAMPLE, '--keys', '--filter', '*input_blocks.7.1.transformer_blocks.0.attn2.to_*']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^name\s+dtype\s+shape$/);
    expect(lines.slice(1, -1)).toEqual([
      expect.stringMatching(/^model\.diffusion_model\.input_blocks\.7\.1\.transformer_blocks\.0\.attn2\.to_k\.weight\s+F16\s+\[1280, 2048\]$/),
      expect.stringMatching(/attn2\.to_v\.weight\s+F16\s+\[1280, 2048\]$/),
    ]);
    expect(lines.at(-1)).toBe('2 tensor(s)');
  });

  test('--keys --json applies the filter too', () => {
    const r = mgen(['inspect', EXAMPLE, '--keys', '--json', '--filter', '*label_emb.0.0.weight']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([{name: 'model.diffusion_model.label_emb.0.0.weight', dtype: 'F16', shape: [1280, 2816]}]);
  });

  test('MODEL_ID from the environment when no argument is given', () => {
    const r = mgen(['inspect', '--json'], {MODEL_ID: EXAMPLE});
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).family).toBe('sdxl');
  });

  test('no model at all is a usage error (exit 2)', () => {
    const r = mgen(['inspect'], {MODEL_ID: undefined});
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^mgen: error: no MODEL_ID given/);
  });

  test('--filter without --keys is a usage error that says so', () => {
    const r = mgen(['inspect', EXAMPLE, '--filter', '*']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('mgen: error: --filter works only with --keys');
  });

  test('a path that does not exist exits 3 with one line, no stack', () => {
    const r = mgen(['inspect', join(tmp.dir, 'nope.safetensors')]);
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/nope\.safetensors/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  test('a hostile header exits 6 naming the file and the reason', async () => {
    const bad = join(tmp.dir, 'evil.safetensors');
    await writeFile(bad, rawHeaderBytes('{"a": {"dtype": "F16", "shape": [1], "data_offsets": [0, 2]}', 10_000_000_000));
    const r = mgen(['inspect', bad]);
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/evil\.safetensors/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  test('a folder with nothing recognizable: kind unknown, what was found, exit 0', async () => {
    const d = join(tmp.dir, 'junk');
    await mkdir(d, {recursive: true});
    await writeFile(join(d, 'notes.txt'), 'hello');
    const r = mgen(['inspect', d]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/kind\s+unknown/);
    expect(r.stdout).toMatch(/found\s+/);
  });

  test('MGEN_STATS=1 reports reads on stderr: a 23 GB sparse FLUX file costs at most 2 reads', async () => {
    const f = await writeSt(join(tmp.dir, 'flux1-dev.safetensors'), fluxBfl({doubleBlocks: 19, singleBlocks: 38}));
    const r = mgen(['inspect', f, '--json'], {MGEN_STATS: '1'});
    expect(r.code).toBe(0);
    const stats = JSON.parse(/mgen-stats (\{.*\})/.exec(r.stderr)![1]!);
    expect(stats.reads).toBeLessThanOrEqual(2);
    expect(stats.bytes).toBeLessThan(2 * 1024 * 1024);
    expect(JSON.parse(r.stdout).variants).toEqual(['dev']);
  });
});
