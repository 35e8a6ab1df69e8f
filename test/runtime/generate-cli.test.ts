// `mgen generate` / `mgen schema` end to end: the built CLI, the real worker, real diffusers on CPU, tiny models.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {execFileSync, spawn} from 'node:child_process';
import {mkdirSync, readdirSync, readFileSync, statSync} from 'node:fs';
import {mkdtemp, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {readPngInfo} from '../../src/backends/png-metadata.js';
import {pixelDigest} from '../helpers/png.js';
import {cli, ROOT, testEnv, testPython, tiny} from './support.js';

let out: string;
const SMALL = ['--height', '64', '--steps', '3'];
const SMALL64 = ['--width', '64', ...SMALL];

function png(path: string) {
  const buf = readFileSync(path);
  return {info: readPngInfo(buf), pixels: pixelDigest(buf)};
}

beforeAll(async () => {
  await testPython();
  out = await mkdtemp(join(tmpdir(), 'mgen-gen-'));
  // Build the tiny models up front (in parallel) so each test only pays for its own generation.
  await Promise.all(['tiny-sd', 'tiny-sd-single', 'tiny-sdxl', 'tiny-sd-lora-kohya', 'tiny-sd-lora-peft', 'tiny-sd-ti', 'tiny-sd-controlnet'].map(tiny));
}, 600_000);
afterAll(async () => {
  await rm(out, {recursive: true, force: true});
});

describe('mgen generate (tiny sd1 diffusers folder)', () => {
  let first: string[];
  it('writes PNGs of the requested size with the A1111 and mgen chunks; seed n+1 for image n', async () => {
    const r = await cli(['generate', 'builtin:tiny-sd', '--prompt', 'a red cube', ...SMALL, '--width', '72', '--seed', '5', '--num-images', '2', '--out', join(out, 'a-{seed}.png')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    first = r.stdout.trim().split('\n');
    expect(first).toEqual([join(out, 'a-5.png'), join(out, 'a-6.png')]);
    const a = png(first[0]!);
    const b = png(first[1]!);
    expect([a.info.width, a.info.height]).toEqual([72, 64]);
    expect(a.info.text.parameters).toMatch(/^a red cube\nSteps: 3, Sampler: \w+, CFG scale: [\d.]+, Seed: 5, Size: 72x64, Model: "builtin:tiny-sd", Version: mgen$/);
    // A diffusers folder has no one checkpoint file: no "Model hash" (never a component's hash), the id in Model.
    expect(a.info.text.parameters).not.toContain('Model hash');
    const meta = JSON.parse(a.info.text.mgen!);
    expect(meta).toMatchObject({model: 'builtin:tiny-sd', request: {prompt: 'a red cube', seed: 5, width: 72, height: 64, steps: 3}});
    expect(meta.files.model_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(meta.runtime.torch).toBeTruthy();
    expect(b.info.text.parameters).toContain('Seed: 6');
    expect(a.pixels).not.toBe(b.pixels);
  }, 300_000);

  it('gives the same pixels for the same seed (and --from re-runs a recorded request, prompt from the PNG)', async () => {
    const r = await cli(['generate', '--from', first[1]!, '--out', join(out, 'again.png'), '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.images[0]).toMatchObject({seed: 6, width: 72, height: 64});
    expect(png(doc.images[0].path).pixels).toBe(png(first[1]!).pixels);
  }, 300_000);

  it('--compile (torch.compile on the denoiser) makes the same image as without, within rounding', async () => {
    const args = ['generate', 'builtin:tiny-sd', '--prompt', 'a red cube', ...SMALL64, '--seed', '9', '--json'];
    const plain = await cli([...args, '--out', join(out, 'plain.png')]);
    const compiled = await cli([...args, '--compile', '--out', join(out, 'compiled.png')]);
    expect(compiled.code).toBe(0);
    expect(JSON.parse(compiled.stdout).plan.compile).toBe(true);
    expect(JSON.parse(plain.stdout).plan.compile).toBeUndefined();
    // A new process reuses what an earlier one compiled (MGEN_HOME/compile-cache): inductor finds every graph there.
    const again = await cli([...args, '--compile', '--out', join(out, 'compiled-again.png')]);
    expect(again.code).toBe(0);
    const counters = JSON.parse(again.stdout).timings.compile_cache;
    expect(counters).toMatchObject({fxgraph_miss: 0, fxgraph_bypass: 0});
    expect(counters.fxgraph_hit).toBeGreaterThan(0);
    // Compiled kernels may round differently in the last bit of a float: compare decoded pixels, not bytes.
    const diff = execFileSync(await testPython(), ['-c', [
      'import sys, numpy as np', 'from PIL import Image',
      'a, b = (np.asarray(Image.open(p), dtype=np.int16) for p in sys.argv[1:3])',
      'print(a.shape == b.shape and int(np.abs(a - b).max()))',
    ].join('\n'), join(out, 'plain.png'), join(out, 'compiled.png')], {encoding: 'utf8'}).trim();
    expect(Number(diff)).toBeLessThanOrEqual(2);
  }, 600_000);

  it('reads the prompt from stdin with --prompt - and runs image-to-image and inpaint', async () => {
    const img = first[0]!;
    const i2i = await cli(['generate', 'builtin:tiny-sd', '--prompt', '-', '--steps', '3', '--seed', '1', '--image', img, '--strength', '0.7', '--out', join(out, 'i2i.png')], {input: 'a blue cube\n'});
    expect(i2i.code).toBe(0);
    const p = png(join(out, 'i2i.png'));
    expect(JSON.parse(p.info.text.mgen!).request).toMatchObject({prompt: 'a blue cube', strength: 0.7, image: img});
    expect(p.info.text.parameters).toContain('Denoising strength: 0.7');
    expect(p.info.text.parameters).toContain('Size: 72x64'); // the input image's size
    expect([p.info.width, p.info.height]).toEqual([72, 64]);
    const inp = await cli(['generate', 'builtin:tiny-sd', '--prompt', 'x', '--steps', '3', '--seed', '1', '--image', img, '--mask', first[1]!, '--out', join(out, 'inp.png'), '--json']);
    expect(inp.code).toBe(0);
    expect(JSON.parse(inp.stdout).plan).toMatchObject({task: 'inpaint', pipeline: 'StableDiffusionInpaintPipeline'});
  }, 300_000);

  it('refuses unknown --param names with exit 2 listing the valid ones, and bad values with exit 8, one line each', async () => {
    const unknown = await cli(['generate', 'builtin:tiny-sd', '--prompt', 'x', ...SMALL64, '--param', 'no_such_knob=1', '--out', join(out, 'bad.png')]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
    expect(unknown.stderr).toMatch(/unknown parameter no_such_knob .*valid: .*eta/);
    const bad = await cli(['generate', 'builtin:tiny-sd', '--prompt', 'x', ...SMALL64, '--param', 'eta="high"', '--out', join(out, 'bad.png')]);
    expect(bad.code).toBe(8);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/^mgen: error: .*eta/);
  }, 300_000);
});

describe('mgen generate with the other tiny layouts', () => {
  it('loads a single-file checkpoint with its config folder', async () => {
    const r = await cli(['generate', 'builtin:tiny-sd-single', '--prompt', 'x', ...SMALL64, '--seed', '2', '--out', join(out, 'single.png'), '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).plan.strategy).toBe('single-file');
    expect(png(join(out, 'single.png')).info.width).toBe(64);
    // One checkpoint file: A1111's "Model hash" (its sha256, 10 hex) and the file's name as Model.
    expect(png(join(out, 'single.png')).info.text.parameters).toMatch(/, Model hash: [0-9a-f]{10}, Model: tiny-sd-single,/);
  }, 300_000);

  it('loads SDXL', async () => {
    const r = await cli(['generate', 'builtin:tiny-sdxl', '--prompt', 'x', ...SMALL64, '--seed', '2', '--out', join(out, 'xl.png'), '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).plan.pipeline).toBe('StableDiffusionXLPipeline');
  }, 300_000);

  it('applies a LoRA: scale 0 and scale 1 give different pixels; a LoRA as MODEL_ID loads its base', async () => {
    const run = (args: string[], name: string) => cli(['generate', ...args, '--prompt', 'x', ...SMALL64, '--seed', '3', '--out', join(out, name)]);
    const [zero, one] = [await run(['builtin:tiny-sd', '--lora', 'builtin:tiny-sd-lora-peft:0'], 'l0.png'), await run(['builtin:tiny-sd', '--lora', 'builtin:tiny-sd-lora-peft:1'], 'l1.png')];
    expect([zero.code, one.code]).toEqual([0, 0]);
    expect(png(join(out, 'l0.png')).pixels).not.toBe(png(join(out, 'l1.png')).pixels);
    const kohya = await run(['builtin:tiny-sd-lora-kohya'], 'kohya.png');
    expect(kohya.code).toBe(0);
    expect(JSON.parse(png(join(out, 'kohya.png')).info.text.mgen!).base).toBe('builtin:tiny-sd');
  }, 600_000);

  it('loads a textual-inversion embedding and a ControlNet', async () => {
    const ti = await cli(['generate', 'builtin:tiny-sd', '--embedding', 'builtin:tiny-sd-ti', '--prompt', 'a <tinyti> cube', ...SMALL64, '--seed', '4', '--out', join(out, 'ti.png')]);
    expect(ti.code).toBe(0);
    const cn = await cli(['generate', 'builtin:tiny-sd', '--controlnet', 'builtin:tiny-sd-controlnet', '--control-image', join(out, 'ti.png'), '--prompt', 'x', ...SMALL64, '--seed', '4', '--out', join(out, 'cn.png'), '--json']);
    expect(cn.stderr).toBe('');
    expect(cn.code).toBe(0);
    expect(JSON.parse(cn.stdout).plan.pipeline).toBe('StableDiffusionControlNetPipeline');
  }, 600_000);
});

describe('mgen schema', () => {
  it('prints the loaded pipeline\'s parameters as a table and as JSON Schema', async () => {
    const t = await cli(['schema', 'builtin:tiny-sd']);
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/^StableDiffusionPipeline: \d+ parameters\nparameter\s+type\s+default/);
    expect(t.stdout).toMatch(/\neta\s+number/);
  }, 300_000);
});

describe('mgen generate: where the files go, and their mode', () => {
  /** The built CLI under a given umask (a shell sets it, then execs node). */
  function underUmask(mask: string, args: string[], cwd: string): Promise<{code: number | null; stdout: string; stderr: string}> {
    return new Promise((res) => {
      const quoted = [process.execPath, join(ROOT, 'bin', 'mgen'), ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
      const child = spawn('/bin/sh', ['-c', `umask ${mask}; exec ${quoted}`], {cwd, env: testEnv(), stdio: ['ignore', 'pipe', 'pipe']});
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('close', (code) => res({code, stdout, stderr}));
    });
  }

  it('honours the umask for the images the worker writes: 0644 under 022, 0600 under 077', async () => {
    const args = ['generate', 'builtin:tiny-sd', '--prompt', 'x', ...SMALL64, '--seed', '3', '--no-reuse'];
    const open = await underUmask('022', [...args, '--out', join(out, 'mode-022.png')], out);
    expect(open.code).toBe(0);
    expect(statSync(join(out, 'mode-022.png')).mode & 0o777).toBe(0o644);
    const priv = await underUmask('077', [...args, '--out', join(out, 'mode-077.png')], out);
    expect(priv.code).toBe(0);
    expect(statSync(join(out, 'mode-077.png')).mode & 0o777).toBe(0o600);
  }, 600_000);

  it('--out onto an existing folder writes the default names inside it (like cp) and prints the absolute path', async () => {
    const folder = join(out, 'into');
    mkdirSync(folder);
    const r = await cli(['generate', 'builtin:tiny-sd', '--prompt', 'x', ...SMALL64, '--seed', '8', '--out', 'into', '--no-reuse'], {cwd: out});
    expect(r.code).toBe(0);
    const line = r.stdout.trim();
    expect(line).toMatch(new RegExp(`^${folder.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/mgen-\\d{8}-\\d{6}-8-0\\.png$`));
    expect(readdirSync(folder)).toEqual([line.slice(folder.length + 1)]);
  }, 300_000);
});
