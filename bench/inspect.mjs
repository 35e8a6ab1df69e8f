#!/usr/bin/env node
// Benchmark: `mgen inspect --json` whole-process wall time and bytes read, on a sparse 6.9 GB SDXL
// single-file checkpoint (~2500 SGM keys) and a sparse 23 GB FLUX.1 transformer (BFL names, BF16).
// Baselines in the same run: Python stdlib header read (struct + json), and when a Python with
// safetensors + diffusers exists (MGEN_BENCH_PYTHON, default /tmp/pyprobe/venv/bin/python), safetensors
// `safe_open` key listing and diffusers' single-file type inference on meta tensors (the user route).
// Run after `npm run build`:  node bench/inspect.mjs [runs]
import {spawnSync} from 'node:child_process';
import {existsSync, mkdtempSync, openSync, writeSync, ftruncateSync, closeSync, rmSync, statSync} from 'node:fs';
import {tmpdir, cpus} from 'node:os';
import {join, resolve, dirname} from 'node:path';
import {fileURLToPath} from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RUNS = Number(process.argv[2] ?? 5);
const PY = process.env.MGEN_BENCH_PYTHON ?? '/tmp/pyprobe/venv/bin/python';
const BYTES = {F32: 4, F16: 2, BF16: 2};

/** Writes a safetensors header and extends the file sparsely to the size the header promises. */
function writeSparse(path, tensors, metadata) {
  const header = metadata ? {__metadata__: metadata} : {};
  let off = 0;
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1) * BYTES[t.dtype];
    header[t.name] = {dtype: t.dtype, shape: t.shape, data_offsets: [off, off + n]};
    off += n;
  }
  let json = Buffer.from(JSON.stringify(header));
  const pad = (8 - (json.length % 8)) % 8;
  json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const fd = openSync(path, 'w');
  writeSync(fd, Buffer.concat([len, json]));
  ftruncateSync(fd, 8 + json.length + off);
  closeSync(fd);
  return {keys: tensors.length, size: 8 + json.length + off, headerBytes: 8 + json.length};
}

/** SGM SDXL base layout: UNet (model.diffusion_model), VAE (first_stage_model), CLIP-L + OpenCLIP-bigG. */
function sdxlTensors() {
  const out = [];
  const T = (name, shape, dtype = 'F16') => out.push({name, shape, dtype});
  const dm = 'model.diffusion_model.';
  const res = (p, cin, cout) => {
    T(`${p}in_layers.0.weight`, [cin]); T(`${p}in_layers.0.bias`, [cin]); T(`${p}in_layers.2.weight`, [cout, cin, 3, 3]); T(`${p}in_layers.2.bias`, [cout]);
    T(`${p}emb_layers.1.weight`, [cout, 1280]); T(`${p}emb_layers.1.bias`, [cout]);
    T(`${p}out_layers.0.weight`, [cout]); T(`${p}out_layers.0.bias`, [cout]); T(`${p}out_layers.3.weight`, [cout, cout, 3, 3]); T(`${p}out_layers.3.bias`, [cout]);
    if (cin !== cout) { T(`${p}skip_connection.weight`, [cout, cin, 1, 1]); T(`${p}skip_connection.bias`, [cout]); }
  };
  const st = (p, ch, depth) => {
    T(`${p}norm.weight`, [ch]); T(`${p}norm.bias`, [ch]); T(`${p}proj_in.weight`, [ch, ch]); T(`${p}proj_in.bias`, [ch]);
    for (let d = 0; d < depth; d++) {
      const q = `${p}transformer_blocks.${d}.`;
      for (const a of ['attn1', 'attn2']) {
        T(`${q}${a}.to_q.weight`, [ch, ch]); T(`${q}${a}.to_k.weight`, [ch, a === 'attn1' ? ch : 2048]); T(`${q}${a}.to_v.weight`, [ch, a === 'attn1' ? ch : 2048]);
        T(`${q}${a}.to_out.0.weight`, [ch, ch]); T(`${q}${a}.to_out.0.bias`, [ch]);
      }
      T(`${q}ff.net.0.proj.weight`, [ch * 8, ch]); T(`${q}ff.net.0.proj.bias`, [ch * 8]); T(`${q}ff.net.2.weight`, [ch, ch * 4]); T(`${q}ff.net.2.bias`, [ch]);
      for (const n of ['norm1', 'norm2', 'norm3']) { T(`${q}${n}.weight`, [ch]); T(`${q}${n}.bias`, [ch]); }
    }
    T(`${p}proj_out.weight`, [ch, ch]); T(`${p}proj_out.bias`, [ch]);
  };
  T(`${dm}time_embed.0.weight`, [1280, 320]); T(`${dm}time_embed.0.bias`, [1280]); T(`${dm}time_embed.2.weight`, [1280, 1280]); T(`${dm}time_embed.2.bias`, [1280]);
  T(`${dm}label_emb.0.0.weight`, [1280, 2816]); T(`${dm}label_emb.0.0.bias`, [1280]); T(`${dm}label_emb.0.2.weight`, [1280, 1280]); T(`${dm}label_emb.0.2.bias`, [1280]);
  T(`${dm}input_blocks.0.0.weight`, [320, 4, 3, 3]); T(`${dm}input_blocks.0.0.bias`, [320]);
  const ins = [[1, 320, 320, 0], [2, 320, 320, 0], [4, 320, 640, 2], [5, 640, 640, 2], [7, 640, 1280, 10], [8, 1280, 1280, 10]];
  for (const [b, cin, cout, depth] of ins) { res(`${dm}input_blocks.${b}.0.`, cin, cout); if (depth) st(`${dm}input_blocks.${b}.1.`, cout, depth); }
  T(`${dm}input_blocks.3.0.op.weight`, [320, 320, 3, 3]); T(`${dm}input_blocks.3.0.op.bias`, [320]); T(`${dm}input_blocks.6.0.op.weight`, [640, 640, 3, 3]); T(`${dm}input_blocks.6.0.op.bias`, [640]);
  res(`${dm}middle_block.0.`, 1280, 1280); st(`${dm}middle_block.1.`, 1280, 10); res(`${dm}middle_block.2.`, 1280, 1280);
  const outs = [[0, 2560, 1280, 10], [1, 2560, 1280, 10], [2, 1920, 1280, 10], [3, 1920, 640, 2], [4, 1280, 640, 2], [5, 960, 640, 2], [6, 960, 320, 0], [7, 640, 320, 0], [8, 640, 320, 0]];
  for (const [b, cin, cout, depth] of outs) { res(`${dm}output_blocks.${b}.0.`, cin, cout); if (depth) st(`${dm}output_blocks.${b}.1.`, cout, depth); }
  T(`${dm}output_blocks.2.2.conv.weight`, [1280, 1280, 3, 3]); T(`${dm}output_blocks.5.2.conv.weight`, [640, 640, 3, 3]);
  T(`${dm}out.0.weight`, [320]); T(`${dm}out.0.bias`, [320]); T(`${dm}out.2.weight`, [4, 320, 3, 3]); T(`${dm}out.2.bias`, [4]);
  // VAE (fp32 in the release), a representative LDM layout.
  const v = 'first_stage_model.';
  for (const side of ['encoder', 'decoder']) {
    T(`${v}${side}.conv_in.weight`, side === 'encoder' ? [128, 3, 3, 3] : [512, 4, 3, 3], 'F32'); T(`${v}${side}.conv_in.bias`, [side === 'encoder' ? 128 : 512], 'F32');
    for (let l = 0; l < 4; l++) for (let b = 0; b < (side === 'encoder' ? 2 : 3); b++) {
      const ch = [128, 256, 512, 512][l];
      const p = `${v}${side}.${side === 'encoder' ? 'down' : 'up'}.${l}.block.${b}.`;
      T(`${p}norm1.weight`, [ch], 'F32'); T(`${p}norm1.bias`, [ch], 'F32'); T(`${p}conv1.weight`, [ch, ch, 3, 3], 'F32'); T(`${p}conv1.bias`, [ch], 'F32');
      T(`${p}norm2.weight`, [ch], 'F32'); T(`${p}norm2.bias`, [ch], 'F32'); T(`${p}conv2.weight`, [ch, ch, 3, 3], 'F32'); T(`${p}conv2.bias`, [ch], 'F32');
    }
    for (const m of ['block_1', 'block_2']) { T(`${v}${side}.mid.${m}.conv1.weight`, [512, 512, 3, 3], 'F32'); T(`${v}${side}.mid.${m}.conv2.weight`, [512, 512, 3, 3], 'F32'); }
    for (const m of ['q', 'k', 'v', 'proj_out']) T(`${v}${side}.mid.attn_1.${m}.weight`, [512, 512, 1, 1], 'F32');
    T(`${v}${side}.conv_out.weight`, side === 'encoder' ? [8, 512, 3, 3] : [3, 128, 3, 3], 'F32');
  }
  T(`${v}quant_conv.weight`, [8, 8, 1, 1], 'F32'); T(`${v}post_quant_conv.weight`, [4, 4, 1, 1], 'F32');
  // CLIP-L (HF layout) and OpenCLIP bigG.
  const c = 'conditioner.embedders.0.transformer.text_model.';
  T(`${c}embeddings.token_embedding.weight`, [49408, 768]); T(`${c}embeddings.position_embedding.weight`, [77, 768]);
  for (let l = 0; l < 12; l++) {
    const p = `${c}encoder.layers.${l}.`;
    for (const m of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) { T(`${p}self_attn.${m}.weight`, [768, 768]); T(`${p}self_attn.${m}.bias`, [768]); }
    T(`${p}mlp.fc1.weight`, [3072, 768]); T(`${p}mlp.fc1.bias`, [3072]); T(`${p}mlp.fc2.weight`, [768, 3072]); T(`${p}mlp.fc2.bias`, [768]);
    for (const n of ['layer_norm1', 'layer_norm2']) { T(`${p}${n}.weight`, [768]); T(`${p}${n}.bias`, [768]); }
  }
  T(`${c}final_layer_norm.weight`, [768]); T(`${c}final_layer_norm.bias`, [768]);
  const g = 'conditioner.embedders.1.model.';
  T(`${g}token_embedding.weight`, [49408, 1280]); T(`${g}positional_embedding`, [77, 1280]); T(`${g}text_projection`, [1280, 1280]); T(`${g}ln_final.weight`, [1280]); T(`${g}ln_final.bias`, [1280]);
  for (let l = 0; l < 32; l++) {
    const p = `${g}transformer.resblocks.${l}.`;
    T(`${p}attn.in_proj_weight`, [3840, 1280]); T(`${p}attn.in_proj_bias`, [3840]); T(`${p}attn.out_proj.weight`, [1280, 1280]); T(`${p}attn.out_proj.bias`, [1280]);
    T(`${p}mlp.c_fc.weight`, [5120, 1280]); T(`${p}mlp.c_fc.bias`, [5120]); T(`${p}mlp.c_proj.weight`, [1280, 5120]); T(`${p}mlp.c_proj.bias`, [1280]);
    for (const n of ['ln_1', 'ln_2']) { T(`${p}${n}.weight`, [1280]); T(`${p}${n}.bias`, [1280]); }
  }
  return out;
}

/** BFL FLUX.1-dev transformer: 19 double + 38 single blocks, hidden 3072, BF16. */
function fluxTensors() {
  const out = [];
  const T = (name, shape) => out.push({name, shape, dtype: 'BF16'});
  const h = 3072;
  const lin = (p, o, i) => { T(`${p}.weight`, [o, i]); T(`${p}.bias`, [o]); };
  lin('img_in', h, 64); lin('txt_in', h, 4096);
  for (const m of ['time_in', 'vector_in', 'guidance_in']) { lin(`${m}.in_layer`, h, m === 'vector_in' ? 768 : 256); lin(`${m}.out_layer`, h, h); }
  for (let b = 0; b < 19; b++) {
    for (const s of ['img', 'txt']) {
      const p = `double_blocks.${b}.${s}_`;
      T(`${p}attn.norm.key_norm.scale`, [128]); T(`${p}attn.norm.query_norm.scale`, [128]);
      lin(`${p}attn.qkv`, h * 3, h); lin(`${p}attn.proj`, h, h); lin(`${p}mlp.0`, h * 4, h); lin(`${p}mlp.2`, h, h * 4); lin(`${p}mod.lin`, h * 6, h);
    }
  }
  for (let b = 0; b < 38; b++) {
    const p = `single_blocks.${b}.`;
    lin(`${p}linear1`, h * 7, h); lin(`${p}linear2`, h, h * 5); lin(`${p}modulation.lin`, h * 3, h);
    T(`${p}norm.key_norm.scale`, [128]); T(`${p}norm.query_norm.scale`, [128]);
  }
  lin('final_layer.linear', 64, h); lin('final_layer.adaLN_modulation.1', h * 2, h);
  return out;
}

function timeRuns(cmd, args, env = {}) {
  const times = [];
  let last;
  for (let i = 0; i < RUNS; i++) {
    const t0 = process.hrtime.bigint();
    last = spawnSync(cmd, args, {encoding: 'utf8', env: {...process.env, ...env}, maxBuffer: 64 * 1024 * 1024});
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (last.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${last.stderr}`);
  }
  times.sort((a, b) => a - b);
  return {median: times[Math.floor(times.length / 2)], last};
}

const PY_STDLIB = `import struct,json,sys
f=open(sys.argv[1],'rb'); n=struct.unpack('<Q',f.read(8))[0]; h=json.loads(f.read(n)); h.pop('__metadata__',None)
print(len(h))`;
const PY_SAFE_OPEN = `import sys
from safetensors import safe_open
with safe_open(sys.argv[1],'pt') as f: keys=list(f.keys()); shapes=[f.get_slice(k).get_shape() for k in keys]
print(len(keys))`;
const PY_DIFFUSERS = `import sys,torch
from safetensors import safe_open
from diffusers.loaders.single_file_utils import infer_diffusers_model_type
with safe_open(sys.argv[1],'pt') as f: sd={k: torch.empty(f.get_slice(k).get_shape(), device='meta') for k in f.keys()}
print(infer_diffusers_model_type(sd))`;

const dir = mkdtempSync(join(tmpdir(), 'mgen-bench-inspect-'));
try {
  if (!existsSync(join(ROOT, 'dist', 'commands', 'inspect.js'))) throw new Error('run `npm run build` first');
  const models = [
    {label: 'SDXL single file', path: join(dir, 'sd_xl_base_1.0.safetensors'), ...writeSparse(join(dir, 'sd_xl_base_1.0.safetensors'), sdxlTensors(), {'modelspec.architecture': 'stable-diffusion-xl-v1-base'})},
    {label: 'FLUX.1-dev transformer', path: join(dir, 'flux1-dev.safetensors'), ...writeSparse(join(dir, 'flux1-dev.safetensors'), fluxTensors())},
  ];
  const havePy = existsSync(PY);
  // Floors in the same run: bare node start, and the CLI's own start (oclif, manifest) doing nothing.
  const nodeFloor = timeRuns(process.execPath, ['-e', '']).median;
  const cliFloor = timeRuns(process.execPath, [join(ROOT, 'bin', 'mgen'), '--version']).median;
  const rows = [];
  for (const m of models) {
    const ours = timeRuns(process.execPath, [join(ROOT, 'bin', 'mgen'), 'inspect', '--json', m.path], {MGEN_STATS: '1', NO_COLOR: '1'});
    const report = JSON.parse(ours.last.stdout);
    const stats = JSON.parse(/mgen-stats (\{.*\})/.exec(ours.last.stderr)[1]);
    const std = timeRuns('python3', ['-c', PY_STDLIB, m.path]);
    const row = {model: m.label, keys: m.keys, size_gb: (m.size / 1e9).toFixed(2), detected: `${report.kind}/${report.family} [${report.variants.join(',')}]`,
      mgen_ms: ours.median, reads: stats.reads, bytes: stats.bytes, header_bytes: m.headerBytes, py_stdlib_ms: std.median};
    if (havePy) {
      row.safe_open_ms = timeRuns(PY, ['-c', PY_SAFE_OPEN, m.path]).median;
      const diff = timeRuns(PY, ['-c', PY_DIFFUSERS, m.path]);
      row.diffusers_ms = diff.median;
      row.diffusers_says = diff.last.stdout.trim();
    }
    rows.push(row);
  }
  const f = (x) => (x === undefined ? '-' : x.toFixed(0));
  const r = (a, b) => (b === undefined ? '-' : `${(b / a).toFixed(1)}x`);
  console.log(`inspect benchmark: ${RUNS} runs each, median whole-process wall time; ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), node ${process.version}`);
  console.log('| model | keys | size | mgen inspect --json | reads / bytes read | python stdlib header | ratio | safetensors safe_open | ratio | diffusers infer_diffusers_model_type | ratio |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const x of rows) {
    console.log(`| ${x.model} -> ${x.detected} | ${x.keys} | ${x.size_gb} GB | ${f(x.mgen_ms)} ms | ${x.reads} / ${x.bytes} B (header ${x.header_bytes} B) | ${f(x.py_stdlib_ms)} ms | ${r(x.mgen_ms, x.py_stdlib_ms)} | ${f(x.safe_open_ms)} ms | ${r(x.mgen_ms, x.safe_open_ms)} | ${f(x.diffusers_ms)} ms (${x.diffusers_says ?? '-'}) | ${r(x.mgen_ms, x.diffusers_ms)} |`);
  }
  console.log(`floors: node -e '' ${f(nodeFloor)} ms; mgen --version ${f(cliFloor)} ms (inspect minus this = detection + report: ${rows.map((x) => f(x.mgen_ms - cliFloor)).join(' / ')} ms)`);
  console.log('ratio = baseline time / mgen time (above 1x: mgen is faster).');
  if (!havePy) console.log(`(no ${PY}: safetensors/diffusers baselines skipped; set MGEN_BENCH_PYTHON)`);
} finally {
  rmSync(dir, {recursive: true, force: true});
}
