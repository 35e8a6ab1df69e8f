#!/usr/bin/env node
// Tiny FLUX and tiny SD3 through `mgen generate` vs a plain diffusers script doing the same (bench/dit_baseline.py:
// import, load the same folder, one image, save), alternated in the same run: whole-process and per-step ratios.
// Usage: node bench/dit.mjs [runs=3] [size=128] [steps=8]   (needs `npm run build`; $MGEN_PYTHON or the runtime)
import {mkdtempSync, rmSync} from 'node:fs';
import {cpus, tmpdir} from 'node:os';
import {join} from 'node:path';
import {ROOT as root} from './lib/helpers.mjs';
import {benchRuntime, median, timed as run} from './lib/runtime.mjs';

const [runs = 3, size = 128, steps = 8] = process.argv.slice(2).map(Number);
const {resolveBuiltin} = await import(join(root, 'dist/backends/builtin.js'));
const {python, env} = await benchRuntime();
const rt = {python};
const out = mkdtempSync(join(tmpdir(), 'mgen-bench-dit-'));
const timed = (cmd, args) => run(cmd, args, {env, cwd: out});

console.log(`dit: CPU, ${size}x${size}, ${steps} steps, fp32, ${runs} alternating runs per model, medians (s)`);
console.log(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), node ${process.version}`);
const summary = {};
for (const [name, guidance] of [['tiny-flux', 0], ['tiny-sd3', 5]]) {
  const model = await resolveBuiltin(`builtin:${name}`, {python: rt.python});
  const mg = [];
  const py = [];
  for (let i = 0; i < runs; i++) {
    const mgen = () => {
      const a = timed(process.execPath, [join(root, 'bin/mgen'), 'generate', `builtin:${name}`, '--prompt', 'a red cube', '--width', String(size), '--height', String(size),
        '--steps', String(steps), '--guidance', String(guidance), '--seed', '1', '--device', 'cpu', '--no-reuse', '--out', join(out, `m-${name}-${i}.png`), '--json']);
      mg.push({wall: a.wall, ...JSON.parse(a.stdout).timings});
    };
    const plain = () => {
      const b = timed(rt.python, [join(root, 'bench/dit_baseline.py'), model.dir, join(out, `p-${name}-${i}.png`), String(size), String(size), String(steps), '1', String(guidance)]);
      py.push({wall: b.wall, ...JSON.parse(b.stdout.trim().split('\n').at(-1))});
    };
    if (i % 2) { plain(); mgen(); } else { mgen(); plain(); }
  }
  const m = (rows, k) => median(rows.map((r) => r[k] ?? 0));
  const f = (x) => x.toFixed(2).padStart(7);
  const wallRatio = m(mg, 'wall') / m(py, 'wall');
  const stepRatio = m(mg, 'denoise_s') / m(py, 'denoise');
  console.log(`\n${name}                 mgen   python-diffusers   ratio`);
  console.log(`whole process (wall) ${f(m(mg, 'wall'))}   ${f(m(py, 'wall'))}          ${wallRatio.toFixed(3)}  (goal <= 1.10)`);
  console.log(`per step             ${f(m(mg, 'denoise_s') / steps)}   ${f(m(py, 'denoise') / steps)}          ${stepRatio.toFixed(3)}  (goal <= 1.10)`);
  summary[name] = {mgen: mg, python: py, wall_ratio: wallRatio, step_ratio: stepRatio};
}
rmSync(out, {recursive: true, force: true});
console.log(JSON.stringify(summary));
