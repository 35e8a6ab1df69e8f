#!/usr/bin/env node
// GGUF Q8_0 vs 16-bit weights of the same small random FLUX transformer on CPU (bench/quant_transformer.py):
// seconds per denoising step and peak RSS, each variant in its own process, alternated, medians.
// Usage: node bench/quant.mjs [runs=3] [steps=4]   (uses $MGEN_PYTHON or the provisioned runtime)
import {spawnSync} from 'node:child_process';
import {mkdtempSync, rmSync} from 'node:fs';
import {cpus, tmpdir} from 'node:os';
import {join} from 'node:path';
import {ROOT as root} from './lib/helpers.mjs';
import {benchRuntime, median} from './lib/runtime.mjs';

const [runs = 3, steps = 4] = process.argv.slice(2).map(Number);
const rt = await benchRuntime();
const dir = mkdtempSync(join(tmpdir(), 'mgen-bench-quant-'));
const script = join(root, 'bench/quant_transformer.py');

function py(args) {
  const r = spawnSync(rt.python, [script, ...args], {encoding: 'utf8', env: rt.env});
  if (r.status !== 0) throw new Error(`quant_transformer.py ${args.join(' ')} failed: ${r.stderr.slice(-2000)}`);
  return r.stdout.trim().split('\n').at(-1);
}

py(['make', dir]);
const rows = {bf16: [], gguf: []};
for (let i = 0; i < runs; i++) {
  for (const kind of i % 2 ? ['gguf', 'bf16'] : ['bf16', 'gguf']) rows[kind].push(JSON.parse(py(['run', kind, dir, String(steps)])));
}
rmSync(dir, {recursive: true, force: true});
const m = (kind, k) => median(rows[kind].map((r) => r[k]));
const f = (x) => x.toFixed(3).padStart(9);
const mib = (x) => (x / 2 ** 20).toFixed(0).padStart(7);
console.log(`quant: CPU, small random FLUX transformer (2+4 blocks, width 256), 256x256 tokens, ${steps} steps, fp32 compute, ${runs} alternating runs, medians`);
console.log(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), node ${process.version}`);
console.log('');
console.log('                     bf16 file   GGUF Q8_0   ratio');
console.log(`load (s)           ${f(m('bf16', 'load_s'))}   ${f(m('gguf', 'load_s'))}   ${(m('gguf', 'load_s') / m('bf16', 'load_s')).toFixed(2)}`);
console.log(`per step (s)       ${f(m('bf16', 'step_s'))}   ${f(m('gguf', 'step_s'))}   ${(m('gguf', 'step_s') / m('bf16', 'step_s')).toFixed(2)}`);
console.log(`peak RSS (MiB)     ${mib(m('bf16', 'peak_rss_bytes'))}     ${mib(m('gguf', 'peak_rss_bytes'))}     ${(m('gguf', 'peak_rss_bytes') / m('bf16', 'peak_rss_bytes')).toFixed(2)}`);
console.log(JSON.stringify(rows));
