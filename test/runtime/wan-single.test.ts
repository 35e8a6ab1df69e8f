// Wan transformers in the original layout on a diffusers Wan base (mgen_runtime/wan_single.py): builtin:tiny-wan's
// transformer as a ComfyUI-style single file (`model.diffusion_model.blocks.0.self_attn.q.weight`, ...) and as a
// city96-style Q8_0 GGUF (arch `wan`, the 5-D patch_embedding flattened with its shape
// in `comfy.gguf.orig_shape`), each loaded onto builtin:tiny-wan and compared frame by frame with tiny-wan itself:
// the safetensors files give the same frames, the GGUF close ones.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {spawnSync} from 'node:child_process';
import {readdirSync} from 'node:fs';
import {mkdtemp, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {cli, ROOT, testEnv, testPython, tiny} from './support.js';

const SMALL = ['--prompt', 'waves', '--width', '32', '--height', '32', '--frames', '5', '--steps', '2', '--seed', '2', '--format', 'png-frames', '--no-reuse'];
let out: string;
let py: string;
let base: string;

function python(args: string[]): string {
  const r = spawnSync(py, args, {env: testEnv({PYTHONPATH: join(ROOT, 'python-runtime')}), encoding: 'utf8', timeout: 300_000});
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr.slice(-2000)}`);
  return r.stdout;
}

/** Mean absolute difference (0-255) over all frames of two png-frames folders. */
function meanDiff(a: string, b: string): number {
  const src = 'import sys, glob, numpy as np\nfrom PIL import Image\n'
    + 'load = lambda d: np.stack([np.asarray(Image.open(p).convert("RGB"), dtype=float) for p in sorted(glob.glob(d + "/*.png"))])\n'
    + 'print(float(np.abs(load(sys.argv[1]) - load(sys.argv[2])).mean()))';
  return Number(python(['-c', src, a, b]).trim());
}

beforeAll(async () => {
  py = await testPython();
  out = await mkdtemp(join(tmpdir(), 'mgen-wan-single-'));
  const wan = await tiny('tiny-wan');
  for (const [kind, file] of [['original', 'wan2.1_t2v_tiny_fp32.safetensors'], ['gguf-q8_0', 'wan2.1-t2v-tiny-Q8_0.gguf']]) {
    python(['-m', 'mgen_runtime.wan_single', kind!, join(wan.dir, 'transformer'), join(out, file!)]);
  }
  base = join(out, 'base');
  const r = await cli(['generate', 'builtin:tiny-wan', ...SMALL, '--out', base]);
  if (r.code !== 0) throw new Error(r.stderr);
}, 900_000);
afterAll(async () => {
  await rm(out, {recursive: true, force: true});
});

describe('a Wan transformer-only file on a Wan base', () => {
  it('builtin:tiny-wan-single (ComfyUI layout, model.diffusion_model. prefix) loads onto its base and makes the same frames', async () => {
    const dir = join(out, 'single');
    const r = await cli(['generate', 'builtin:tiny-wan-single', ...SMALL, '--out', dir, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).plan).toMatchObject({pipeline: 'WanPipeline'});
    expect(readdirSync(dir)).toHaveLength(5);
    expect(meanDiff(dir, base)).toBeLessThan(0.5);
  }, 300_000);

  it('a bare original-layout file (no prefix): inspect says Wan t2v, transformer only, and names a Wan base', async () => {
    const file = join(out, 'wan2.1_t2v_tiny_fp32.safetensors');
    const i = await cli(['inspect', file, '--json']);
    expect(i.code).toBe(0);
    const report = JSON.parse(i.stdout);
    expect(report).toMatchObject({family: 'wan', kind: 'checkpoint', task: 'text-to-video', base: {family: 'wan'}});
    expect(report.base.suggested).toMatch(/^Wan-AI\/Wan2\.[12]-T2V-/);
    expect(report.missing).toEqual(expect.arrayContaining(['vae', 'text_encoder']));
    // Loading it is the same path as tiny-wan-single's file above (diffusers' converter strips the prefix).
  }, 120_000);

  it('a Q8_0 GGUF (city96 layout): stays quantized, frames close to the unquantized model', async () => {
    const dir = join(out, 'gguf');
    const r = await cli(['generate', join(out, 'wan2.1-t2v-tiny-Q8_0.gguf'), '--base', 'builtin:tiny-wan', ...SMALL, '--out', dir, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).plan.memory.notes.join(' ')).toMatch(/GGUF weights \(.*Q8_0.*\) stay quantized/);
    const diff = meanDiff(dir, base);
    expect(diff).toBeGreaterThan(0);
    expect(diff).toBeLessThan(8);
  }, 300_000);
});
