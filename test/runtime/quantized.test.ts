// Quantized and low-precision transformer files end to end on CPU: GGUF (Q8_0, Q4_K), bitsandbytes NF4 and
// ComfyUI scaled fp8 files of builtin:tiny-flux's transformer (written in the layouts people publish by
// mgen_runtime.quant_tiny), loaded onto builtin:tiny-flux as the base by `mgen generate`, compared with the
// unquantized model (close, not equal); `--quantize int8` (torchao on CPU); bad files and impossible requests
// (exit 6 / 2, one line); an out-of-memory error in the worker (simulated) answered with exit 8 and the next plan.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {readFileSync, writeFileSync} from 'node:fs';
import {mkdtemp, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {readPngInfo} from '../../src/backends/png-metadata.js';
import {cli, testPython, tiny} from './support.js';
import {meanPixelDiff, runPython} from './quant-support.js';

const SMALL = ['--prompt', 'a red cube', '--width', '64', '--height', '64', '--steps', '2', '--seed', '1', '--device', 'cpu', '--no-reuse'];
const KINDS = {'gguf-q8_0': 'gguf', 'gguf-q4_k': 'gguf', nf4: 'safetensors', 'scaled-fp8': 'safetensors'} as const;
let out: string;
let py: string;
let transformer: string;
const files: Record<string, string> = {};

const python = (args: string[], env: NodeJS.ProcessEnv = {}): string => runPython(py, args, env);
const meanDiff = (a: string, b: string): number => meanPixelDiff(py, a, b);

beforeAll(async () => {
  py = await testPython();
  out = await mkdtemp(join(tmpdir(), 'mgen-quant-'));
  const flux = await tiny('tiny-flux');
  transformer = join(flux.dir, 'transformer');
  for (const [kind, ext] of Object.entries(KINDS)) {
    files[kind] = join(out, `tiny-flux-${kind}.${ext}`);
    python(['-m', 'mgen_runtime.quant_tiny', kind, transformer, files[kind]!]);
  }
  files['nf4-no-state'] = join(out, 'tiny-flux-nf4-no-state.safetensors');
  python(['-m', 'mgen_runtime.quant_tiny', 'nf4-no-state', transformer, files['nf4-no-state']]);
  // A truncated download: the header and half the tensor data.
  const whole = readFileSync(files['gguf-q8_0']!);
  files.truncated = join(out, 'truncated-Q8_0.gguf');
  writeFileSync(files.truncated, whole.subarray(0, Math.floor(whole.length / 2)));
  // A GGUF of an architecture mgen does not know (a language model's tensor names).
  files.unknown = join(out, 'unknown-arch.gguf');
  python(['-c', 'import sys, numpy as np, gguf\nw = gguf.GGUFWriter(sys.argv[1], arch="llama")\nw.add_tensor("blk.0.attn_q.weight", np.ones((32, 32), np.float32))\nw.add_tensor("token_embd.weight", np.ones((64, 32), np.float32))\nw.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()', files.unknown]);
  const base = await cli(['generate', 'builtin:tiny-flux', ...SMALL, '--out', join(out, 'base.png')]);
  if (base.code !== 0) throw new Error(base.stderr);
}, 900_000);
afterAll(async () => {
  await rm(out, {recursive: true, force: true});
});

describe.each(Object.keys(KINDS))('%s transformer file on a tiny FLUX base', (kind) => {
  it('generates an image close to, but not the same as, the unquantized model; the plan notes say what happened to the weights', async () => {
    const png = join(out, `${kind}.png`);
    const r = await cli(['generate', files[kind]!, '--base', 'builtin:tiny-flux', ...SMALL, '--out', png, '--json']);
    expect(r.code).toBe(0);
    const diff = meanDiff(png, join(out, 'base.png'));
    expect(diff).toBeGreaterThan(0);
    expect(diff).toBeLessThan(8);
    const doc = JSON.parse(r.stdout);
    const want = kind.startsWith('gguf') ? /GGUF weights \(.*(Q8_0|Q4_K).*\) stay quantized/ : kind === 'nf4' ? /NF4 weights dequantized to float32 \(bitsandbytes has no kernels for this device\)/ : /scaled fp8 weights multiplied by their per-layer scales/;
    expect(doc.plan.memory).toMatchObject({plan: 'cpu', quantize: 'none'});
    expect(doc.plan.memory.notes.join(' ')).toMatch(want);
    expect(r.stderr).toMatch(want);
    const mgen = JSON.parse(readPngInfo(readFileSync(png)).text.mgen!);
    expect(mgen.plan.memory.plan).toBe('cpu');
  }, 300_000);
});

describe('--quantize', () => {
  it('int8 runs on CPU through torchao: close to the unquantized image', async () => {
    const png = join(out, 'int8.png');
    const r = await cli(['generate', 'builtin:tiny-flux', ...SMALL, '--quantize', 'int8', '--out', png, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).plan.memory).toMatchObject({quantize: 'int8'});
    expect(r.stderr).toMatch(/transformer quantized to int8 weight-only by torchao/);
    expect(meanDiff(png, join(out, 'base.png'))).toBeLessThan(8);
  }, 300_000);

  it('nf4 on a CPU worker: one line, exit 2, naming what the device lacks', async () => {
    const r = await cli(['generate', 'builtin:tiny-flux', ...SMALL, '--quantize', 'nf4', '--out', join(out, 'x.png')]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual(['mgen: error: --quantize nf4 needs bitsandbytes\' 4-bit kernels on a CUDA GPU; this worker runs on cpu (use --quantize int8 or fp8: torchao runs them on CPU)']);
  }, 120_000);
});

describe('bad quantized files: one line, exit 6', () => {
  it.each([
    ['a truncated GGUF', 'truncated', /truncated|not a readable GGUF|shorter|incomplete/i],
    ['a GGUF of an unknown architecture', 'unknown', /unknown|cannot tell|not a/i],
    ['an NF4 file without its quant_state tensors', 'nf4-no-state', /no quant_state\/absmax tensors/],
  ])('%s', async (_what, key, msg) => {
    const r = await cli(['generate', files[key]!, '--base', 'builtin:tiny-flux', ...SMALL, '--out', join(out, 'bad.png')]);
    expect(r.code).toBe(6);
    const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('mgen: ') || l.startsWith('mgen: error'));
    expect(lines[0]).toMatch(msg);
    expect(r.stderr).not.toMatch(/Traceback/);
  }, 180_000);
});

describe('out of memory in the worker (simulated)', () => {
  it.each([['load'], ['generate']])('during %s: exit 8, one line with the next plan to try, no traceback', async (where) => {
    const r = await cli(['generate', 'builtin:tiny-flux', ...SMALL, '--out', join(out, 'oom.png')], {env: {MGEN_TEST_OOM: where}});
    expect(r.code).toBe(8);
    expect(r.stderr).toMatch(/out of memory: .*; try --quantize int8 or a smaller --width\/--height/);
    expect(r.stderr).not.toMatch(/Traceback/);
  }, 180_000);
});
