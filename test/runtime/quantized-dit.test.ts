// Transformer-only GGUF files of SD3.5 and Qwen-Image end to end on CPU, as city96 publishes them: the tiny
// builtins' transformers written by mgen_runtime.quant_tiny with the gguf package's writer (SD3 in Stability's MMDiT
// names, architecture sd3, as Q4_K; Qwen-Image in diffusers' names, architecture qwen_image, as Q8_0), inspected
// (family and precision from the header), and loaded onto their builtin base by `mgen generate`: close to, but not
// the same as, the unquantized model. Every family x quant type pair is checked weight by weight, without a pipeline,
// in python-runtime/tests/test_quant.py (GgufTransformers).
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {mkdtemp, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {cli, testPython, tiny} from './support.js';
import {meanPixelDiff, runPython} from './quant-support.js';

const SMALL = ['--prompt', 'a red cube', '--width', '64', '--height', '64', '--steps', '2', '--seed', '1', '--device', 'cpu', '--dtype', 'float32', '--no-reuse'];
const CASES = [
  {base: 'tiny-sd3', kind: 'gguf-q4_k', family: 'sd3', precision: 'gguf-q4_k', quant: 'Q4_K'},
  {base: 'tiny-qwen-image', kind: 'gguf-q8_0', family: 'qwen-image', precision: 'gguf-q8_0', quant: 'Q8_0'},
] as const;
let out: string;
let py: string;
const files: Record<string, string> = {};

const python = (args: string[], env: NodeJS.ProcessEnv = {}): string => runPython(py, args, env);
const meanDiff = (a: string, b: string): number => meanPixelDiff(py, a, b);

beforeAll(async () => {
  py = await testPython();
  out = await mkdtemp(join(tmpdir(), 'mgen-quant-dit-'));
  for (const c of CASES) {
    const model = await tiny(c.base);
    files[c.base] = join(out, `${c.base}-${c.quant}.gguf`);
    python(['-m', 'mgen_runtime.quant_tiny', c.kind, join(model.dir, 'transformer'), files[c.base]!]);
    const r = await cli(['generate', `builtin:${c.base}`, ...SMALL, '--out', join(out, `${c.base}.png`)]);
    if (r.code !== 0) throw new Error(r.stderr);
  }
}, 900_000);
afterAll(async () => {
  await rm(out, {recursive: true, force: true});
});

describe.each(CASES.map((c) => [c.base, c] as const))('a %s transformer GGUF', (base, c) => {
  it(`inspect reads family ${c.family} and precision ${c.precision} from the header; the rest comes from a base`, async () => {
    const r = await cli(['inspect', files[base]!, '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({format: 'gguf', kind: 'checkpoint', family: c.family, precision: c.precision});
    expect(report.missing.length).toBeGreaterThan(0);
  }, 60_000);

  it('generates on its builtin base: close to, not the same as, the unquantized model; the note names the GGUF types', async () => {
    const png = join(out, `${base}-${c.quant}.png`);
    const r = await cli(['generate', files[base]!, '--base', `builtin:${base}`, ...SMALL, '--out', png, '--json']);
    expect(r.code).toBe(0);
    const diff = meanDiff(png, join(out, `${base}.png`));
    expect(diff).toBeGreaterThan(0);
    expect(diff).toBeLessThan(8);
    const want = new RegExp(`GGUF weights \\(.*${c.quant}.*\\) stay quantized and are dequantized layer by layer to float32`);
    expect(JSON.parse(r.stdout).plan.memory.notes.join(' ')).toMatch(want);
  }, 300_000);
});
