// `mgen generate` refuses a local weight file that its report already says cannot load before the runtime is looked
// up or a worker starts: MGEN_PYTHON names an interpreter that does not exist, so reaching the runtime would be exit
// 7; each of these is one line and exit 6 instead. A sound GGUF file of the same shape goes on to the runtime.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {mkdtempSync} from 'node:fs';
import {rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import Generate from '../../src/commands/generate.js';
import {buildGgufHeader, writeGguf, type GgufTensorSpec} from '../helpers/gguf-writer.js';
import {writeSafetensors, type TensorSpec} from '../helpers/safetensors-writer.js';
import {runCli} from '../helpers/sources-cli.js';

let home: string;
let env: Record<string, string | undefined>;

const P = 'model.diffusion_model.';
/** A Forge-style NF4 FLUX file: packed U8 weights with absmax and quant_map, optionally their quant_state. */
function nf4Tensors(withState: boolean): TensorSpec[] {
  const out: TensorSpec[] = [];
  for (const [name, packed] of [['double_blocks.0.img_attn.qkv.weight', 4608], ['img_in.weight', 2048]] as const) {
    out.push({name: `${P}${name}`, dtype: 'U8', shape: [packed, 1]}, {name: `${P}${name}.absmax`, dtype: 'F32', shape: [packed * 2 / 64]},
      {name: `${P}${name}.quant_map`, dtype: 'F32', shape: [16]});
    if (withState) out.push({name: `${P}${name}.quant_state.bitsandbytes__nf4`, dtype: 'U8', shape: [120]});
  }
  out.push({name: `${P}img_in.bias`, dtype: 'BF16', shape: [64]});
  return out;
}

const fluxGguf: GgufTensorSpec[] = [
  {name: 'img_in.weight', shape: [64, 64], type: 'Q8_0'},
  {name: 'double_blocks.0.img_attn.qkv.weight', shape: [192, 64], type: 'Q8_0'},
  {name: 'double_blocks.0.img_attn.norm.key_norm.scale', shape: [32], type: 'F32'},
  {name: 'final_layer.linear.weight', shape: [64, 64], type: 'Q8_0'},
];

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'mgen-gen-bad-'));
  env = {MGEN_HOME: join(home, 'mgen'), MGEN_PYTHON: join(home, 'no-such-python'), HF_HOME: join(home, 'hf'), HF_HUB_OFFLINE: '1', MODEL_ID: undefined};
  await writeSafetensors(join(home, 'flux1-dev-bnb-nf4-no-state.safetensors'), nf4Tensors(false));
  await writeGguf(join(home, 'flux1-dev-Q8_0-partial.gguf'), {'general.architecture': 'flux'}, fluxGguf, {headerOnly: true});
  const header = buildGgufHeader({'general.architecture': 'flux'}, fluxGguf).bytes;
  await writeFile(join(home, 'flux1-dev-Q8_0-cut.gguf'), header.subarray(0, Math.floor(header.length / 2)));
  await writeGguf(join(home, 'mystery.gguf'), {'general.architecture': 'mystery'}, [{name: 'layers.0.w', shape: [64, 64], type: 'Q8_0'}]);
  await writeGguf(join(home, 'qwen2.5-Q8_0.gguf'), {'general.architecture': 'llama'}, [
    {name: 'token_embd.weight', shape: [256, 64], type: 'Q8_0'}, {name: 'blk.0.attn_q.weight', shape: [64, 64], type: 'Q8_0'},
  ]);
  await writeGguf(join(home, 'flux1-dev-Q8_0.gguf'), {'general.architecture': 'flux'}, fluxGguf);
});
afterAll(async () => {
  await rm(home, {recursive: true, force: true});
});

const gen = (file: string, extra: string[] = []) => runCli(Generate, [join(home, file), '--prompt', 'a red cube', '--no-reuse', ...extra], env);

describe('mgen generate: bad quantized files are refused from their headers, before the runtime (exit 6, one line)', () => {
  it('an NF4 file whose packed weights lack their quant_state tensors', async () => {
    const r = await gen('flux1-dev-bnb-nf4-no-state.safetensors', ['--base', 'builtin:tiny-flux']);
    expect(r.code).toBe(6);
    expect(r.stderr.trim()).toBe(`mgen: error: ${join(home, 'flux1-dev-bnb-nf4-no-state.safetensors')} is an incomplete NF4/FP4 file: 2 packed 4-bit weights have no quant_state/absmax tensors to dequantize them with (download it again, or use a file saved with its quantization state)`);
  });

  it('a GGUF whose tensor data stops short of what its header promises', async () => {
    const r = await gen('flux1-dev-Q8_0-partial.gguf', ['--base', 'builtin:tiny-flux']);
    expect(r.code).toBe(6);
    expect(r.stderr.trim()).toMatch(/^mgen: error: \S+flux1-dev-Q8_0-partial\.gguf is truncated: its tensor data is \d+ bytes shorter than its header promises \(download it again/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('a GGUF cut inside its header', async () => {
    const r = await gen('flux1-dev-Q8_0-cut.gguf', ['--base', 'builtin:tiny-flux']);
    expect(r.code).toBe(6);
    expect(r.stderr.trim()).toBe('mgen: error: flux1-dev-Q8_0-cut.gguf: invalid GGUF file: file ends inside the header');
  });

  it('a GGUF of an architecture no rule knows', async () => {
    const r = await gen('mystery.gguf');
    expect(r.code).toBe(6);
    expect(r.stderr.trim()).toBe(`mgen: error: ${join(home, 'mystery.gguf')} is a GGUF file of architecture mystery (its tensors match no image or video model); mgen cannot generate with it (mgen loads GGUF transformers of FLUX, SD3/SD3.5, Qwen-Image and Wan, with --base for the rest)`);
  });

  it('a language model\'s GGUF', async () => {
    const r = await gen('qwen2.5-Q8_0.gguf');
    expect(r.code).toBe(6);
    expect(r.stderr.trim()).toMatch(/^mgen: error: \S+qwen2\.5-Q8_0\.gguf is a GGUF file of architecture llama \(a text-encoder, not a diffusion model\); mgen cannot generate with it/);
  });

  it('a sound GGUF transformer goes on to the runtime (exit 7 here: MGEN_PYTHON does not exist)', async () => {
    const r = await gen('flux1-dev-Q8_0.gguf', ['--base', 'builtin:tiny-flux']);
    expect(r.stderr).toMatch(/MGEN_PYTHON/);
    expect(r.code).toBe(7);
  });
});
