#!/usr/bin/env node
// `mgen generate` whole-process wall time vs a plain diffusers script doing the same (import, load, one
// image, save), alternated in the same run on the same machine. CPU, tiny sd1 (builtin:tiny-sd).
// Usage: node bench/generate.mjs [runs=3] [size=128] [steps=20]   (needs `npm run build`; uses $MGEN_PYTHON
// or the provisioned runtime; builds the tiny model first if needed, outside the timings)
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir, cpus} from 'node:os';
import {join} from 'node:path';
import {ROOT as root} from './lib/helpers.mjs';
import {benchRuntime, median, timed as run} from './lib/runtime.mjs';

const [runs = 3, size = 128, steps = 20] = process.argv.slice(2).map(Number);
const {resolveBuiltin} = await import(join(root, 'dist/backends/builtin.js'));
const {python, env} = await benchRuntime();
const rt = {python};
const model = await resolveBuiltin('builtin:tiny-sd', {python});
const out = mkdtempSync(join(tmpdir(), 'mgen-bench-'));
const timed = (cmd, args) => run(cmd, args, {env, cwd: out});

const mg = [];
const py = [];
for (let i = 0; i < runs; i++) {
  const a = timed(process.execPath, [join(root, 'bin/mgen'), 'generate', 'builtin:tiny-sd', '--prompt', 'a red cube', '--width', String(size),
    '--height', String(size), '--steps', String(steps), '--seed', '1', '--out', join(out, `mgen-${i}.png`), '--json']);
  const doc = JSON.parse(a.stdout);
  mg.push({wall: a.wall, ...doc.timings});
  const b = timed(rt.python, [join(root, 'bench/generate_baseline.py'), model.path, join(out, `py-${i}.png`), String(size), String(size), String(steps), '1']);
  py.push({wall: b.wall, ...JSON.parse(b.stdout.trim().split('\n').at(-1))});
}
rmSync(out, {recursive: true, force: true});

const m = (rows, k) => median(rows.map((r) => r[k] ?? 0));
const f = (x) => x.toFixed(2).padStart(7);
console.log(`generate: CPU, tiny sd1 diffusers folder, ${size}x${size}, ${steps} steps, fp32, ${runs} alternating runs, medians (s)`);
console.log(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), node ${process.version}, python ${rt.python}`);
console.log('');
console.log('                         mgen   python-diffusers');
console.log(`whole process (wall) ${f(m(mg, 'wall'))}   ${f(m(py, 'wall'))}`);
console.log(`  runtime lookup      ${f(m(mg, 'runtime'))}        -`);
console.log(`  worker spawn->ready ${f(m(mg, 'worker_start'))}        -`);
console.log(`  resolve+detect      ${f(m(mg, 'resolve'))}        -`);
console.log(`  hello (imports)     ${f(m(mg, 'hello'))}   ${f(m(py, 'imports'))}  (imports)`);
console.log(`  load                ${f(m(mg, 'load'))}   ${f(m(py, 'load'))}`);
console.log(`  denoise             ${f(m(mg, 'denoise_s'))}   ${f(m(py, 'denoise'))}`);
console.log(`  generate total      ${f(m(mg, 'total_s'))}   ${f(m(py, 'denoise') + m(py, 'save'))}  (denoise+save)`);
const ratio = m(mg, 'wall') / m(py, 'wall');
console.log('');
console.log(`ratio mgen / python (whole process, median): ${ratio.toFixed(3)}  (goal <= 1.10)`);
console.log(JSON.stringify({mgen: mg, python: py, ratio}));
