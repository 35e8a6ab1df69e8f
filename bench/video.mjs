#!/usr/bin/env node
// `mgen generate` of a video, whole process, vs a plain diffusers script that also writes the MP4 (bench/video_baseline.py),
// alternated in the same run on the same machine: CPU, tiny Wan 2.1 and tiny CogVideoX builtins. Also the encode
// (PNG/MP4 writing) share of mgen's total, from the worker's own phases.
// Usage: node bench/video.mjs [runs=3] [size=64] [frames=17] [steps=4]   (needs `npm run build` and the runtime)
import {spawnSync} from 'node:child_process';
import {mkdtempSync, rmSync} from 'node:fs';
import {cpus, tmpdir} from 'node:os';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [runs = 3, size = 64, frames = 17, steps = 4] = process.argv.slice(2).map(Number);
const {findRuntime} = await import(join(root, 'dist/backends/runtime/resolve.js'));
const {resolveBuiltin} = await import(join(root, 'dist/backends/builtin.js'));
const rt = await findRuntime();
if (!rt) throw new Error('no runtime: run ./bin/mgen runtime install or set MGEN_PYTHON');
const out = mkdtempSync(join(tmpdir(), 'mgen-bench-video-'));
const env = {...process.env, MGEN_PYTHON: rt.python, NO_COLOR: '1'};

function timed(cmd, args) {
  const t = performance.now();
  const r = spawnSync(cmd, args, {env, encoding: 'utf8', cwd: out});
  const wall = (performance.now() - t) / 1000;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return {wall, stdout: r.stdout};
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const f = (x) => x.toFixed(2).padStart(7);

console.log(`video generate: CPU, ${size}x${size}, ${frames} frames, ${steps} steps, fp32, ${runs} alternating runs, medians (s)`);
console.log(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), node ${process.version}, python ${rt.python}`);
const all = {};
for (const [name, fps] of [['tiny-wan', 16], ['tiny-cogvideox', 8]]) {
  const model = await resolveBuiltin(`builtin:${name}`, {python: rt.python});
  const mg = [];
  const py = [];
  for (let i = 0; i < runs; i++) {
    const a = timed(process.execPath, [join(root, 'bin/mgen'), 'generate', `builtin:${name}`, '--prompt', 'a red cube', '--width', String(size),
      '--height', String(size), '--frames', String(frames), '--steps', String(steps), '--seed', '1', '--out', join(out, `mgen-${name}-${i}.mp4`), '--json', '--no-reuse']);
    const doc = JSON.parse(a.stdout);
    mg.push({wall: a.wall, total: doc.timings.total_s, encode: doc.timings.encode_s ?? 0});
    const b = timed(rt.python, [join(root, 'bench/video_baseline.py'), model.path, join(out, `py-${name}-${i}.mp4`), String(size), String(size),
      String(frames), String(steps), String(fps), '1']);
    py.push({wall: b.wall, ...JSON.parse(b.stdout.trim().split('\n').at(-1))});
  }
  const ratio = median(mg.map((r) => r.wall)) / median(py.map((r) => r.wall));
  console.log('');
  console.log(`${name}                    mgen   python-diffusers`);
  console.log(`  whole process (wall) ${f(median(mg.map((r) => r.wall)))}   ${f(median(py.map((r) => r.wall)))}`);
  console.log(`  encode (MP4)         ${f(median(mg.map((r) => r.encode)))}   ${f(median(py.map((r) => r.encode)))}`);
  console.log(`  ratio mgen / python (whole process): ${ratio.toFixed(3)}  (goal <= 1.10)`);
  console.log(`  encode share of mgen's wall: ${(100 * median(mg.map((r) => r.encode)) / median(mg.map((r) => r.wall))).toFixed(1)} %`);
  all[name] = {mgen: mg, python: py, ratio};
}
rmSync(out, {recursive: true, force: true});
console.log(JSON.stringify(all));
