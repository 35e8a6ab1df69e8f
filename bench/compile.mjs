#!/usr/bin/env node
// `mgen generate --compile` on CPU: time to the first image with an empty compile cache and with the warm cache an
// earlier process left (issue 17), interleaved rounds (empty, warm, plain, empty, warm, plain, ...), medians:
//   node bench/compile.mjs [--rounds 3] [--size 64] [--steps 2] [--realsize]        (npm run bench compile)
//   a) empty: $MGEN_HOME/compile-cache removed first: dynamo traces, inductor generates and compiles C++ for each kernel;
//   b) warm:  the same command again: inductor's FX-graph and AOT-autograd caches under $MGEN_HOME/compile-cache
//      (worker-env.ts compileCacheEnv) should answer, leaving dynamo's trace and loading the cached kernels;
//   c) plain: the same command without --compile, for scale.
// Models: the tiny builtin SD (builtin:tiny-sd, its local folder) and, with --realsize, the real-size random SD 1.5
// that bench/realsize.mjs builds under $MGEN_HOME/bench-models (not built here: run bench/realsize.mjs once first).
// The runs use an MGEN_HOME of their own (a temp folder: the shared compile cache is never touched), after one
// untimed run per model that fills its file-hash cache and the page cache. A warm run must be served from the cache:
// the worker reports inductor's cache counters (timings.compile_cache), and the folder must not grow with new graphs.
import {spawnSync} from 'node:child_process';
import {existsSync, mkdtempSync, readdirSync, rmSync} from 'node:fs';
import {cpus, homedir, loadavg, tmpdir} from 'node:os';
import {join, relative} from 'node:path';
import {ROOT} from './lib/helpers.mjs';
import {benchRuntime, median} from './lib/runtime.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const ROUNDS = Number(arg('rounds', 3));
const SIZE = Number(arg('size', 64));
const STEPS = Number(arg('steps', 2));
const BIN = join(ROOT, 'bin', 'mgen');
const USER_HOME = process.env.MGEN_HOME || join(homedir(), '.cache', 'mgen');

const {python, env: baseEnv} = await benchRuntime();
const {resolveBuiltin} = await import(join(ROOT, 'dist/backends/builtin.js'));
const models = [{label: 'tiny-sd (builtin)', path: (await resolveBuiltin('builtin:tiny-sd', {python})).path}];
if (process.argv.includes('--realsize')) {
  const path = arg('model', join(USER_HOME, 'bench-models', 'sd15-corpus-random'));
  if (!existsSync(join(path, 'model_index.json'))) throw new Error(`no real-size model at ${path}: run node bench/realsize.mjs once to build it`);
  models.push({label: 'real-size SD 1.5 (random)', path});
}

const home = mkdtempSync(join(tmpdir(), 'mgen-bench-compile-'));
const cacheDir = join(home, 'compile-cache');
const out = join(home, 'out');
// mgen's own cache location is what is measured: a caller's torch cache settings would override it.
const env = {...baseEnv, MGEN_HOME: home, HF_HUB_OFFLINE: '1'};
for (const k of ['TORCHINDUCTOR_CACHE_DIR', 'TRITON_CACHE_DIR', 'TORCHINDUCTOR_FX_GRAPH_CACHE', 'TORCHINDUCTOR_AUTOGRAD_CACHE', 'TORCHINDUCTOR_FORCE_DISABLE_CACHES']) delete env[k];

function generate(model, compile, name) {
  const args = [BIN, 'generate', model.path, '--device', 'cpu', '--dtype', 'float32', '--prompt', 'a red cube', '--width', String(SIZE),
    '--height', String(SIZE), '--steps', String(STEPS), '--seed', '1', '--out', join(out, `${name}.png`), '--json', '--no-reuse', ...(compile ? ['--compile'] : [])];
  const t = performance.now();
  const r = spawnSync(process.execPath, args, {env, encoding: 'utf8', maxBuffer: 64 << 20});
  const wall = (performance.now() - t) / 1000;
  if (r.status !== 0) throw new Error(`mgen generate${compile ? ' --compile' : ''} failed (${r.status}): ${r.stderr.slice(-1500)}`);
  const doc = JSON.parse(r.stdout);
  return {wall, load: doc.timings.load ?? 0, denoise: doc.timings.denoise_s, cache: doc.timings.compile_cache};
}

/** Every file under the compile cache, relative to it. */
function files(dir = cacheDir, acc = new Set()) {
  if (!existsSync(dir)) return acc;
  for (const e of readdirSync(dir, {withFileTypes: true})) {
    const p = join(dir, e.name);
    if (e.isDirectory()) files(p, acc);
    else acc.add(relative(cacheDir, p));
  }
  return acc;
}
const graphs = (set) => [...set].filter((f) => /^inductor\/(fxgraph|aotautograd)\//.test(f));

const loadStart = loadavg();
console.log(`compile cache: mgen generate --compile, CPU fp32, ${SIZE}x${SIZE}, ${STEPS} steps, ${ROUNDS} interleaved rounds, medians (min-max) in s`);
console.log(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), node ${process.version}; load average at start ${loadStart.map((x) => x.toFixed(2)).join(' ')}`);
const results = [];
let failures = 0;
try {
  for (const model of models) {
    generate(model, false, 'warm-up');
    const rows = {empty: [], warm: [], plain: []};
    const checks = [];
    for (let r = 0; r < ROUNDS; r++) {
      rmSync(cacheDir, {recursive: true, force: true});
      rows.empty.push(generate(model, true, `empty-${r}`));
      const afterEmpty = files();
      rows.warm.push(generate(model, true, `warm-${r}`));
      const added = graphs(files()).filter((f) => !afterEmpty.has(f));
      checks.push({written: graphs(afterEmpty).length, added: added.length, cold: rows.empty.at(-1).cache, warm: rows.warm.at(-1).cache});
      rows.plain.push(generate(model, false, `plain-${r}`));
      console.error(`${model.label} round ${r + 1}/${ROUNDS}: empty ${rows.empty.at(-1).wall.toFixed(2)} warm ${rows.warm.at(-1).wall.toFixed(2)} plain ${rows.plain.at(-1).wall.toFixed(2)} s; cache files written ${checks.at(-1).written}, added by the warm run ${added.length}`);
    }
    results.push({model: model.label, rows, checks});
  }
} finally {
  rmSync(home, {recursive: true, force: true});
}

const f = (xs, k) => `${median(xs.map((x) => x[k])).toFixed(2)} (${Math.min(...xs.map((x) => x[k])).toFixed(2)}-${Math.max(...xs.map((x) => x[k])).toFixed(2)})`;
for (const {model, rows, checks} of results) {
  console.log(`\n${model}`);
  console.log('| run | whole process | load | first image denoise (compiles here) |');
  console.log('|---|---|---|---|');
  for (const [k, label] of [['empty', '--compile, empty cache'], ['warm', '--compile, warm cache'], ['plain', 'no --compile']]) {
    console.log(`| ${label} | ${f(rows[k], 'wall')} | ${f(rows[k], 'load')} | ${f(rows[k], 'denoise')} |`);
  }
  const m = (k, x) => median(rows[k].map((r) => r[x]));
  console.log(`warm / empty: whole process ${(m('warm', 'wall') / m('empty', 'wall')).toFixed(3)}, first image ${(m('warm', 'denoise') / m('empty', 'denoise')).toFixed(3)}`);
  const c = checks.at(-1);
  const hit = checks.every((x) => x.written > 0 && x.added === 0 && (!x.warm || (x.warm.fxgraph_hit > 0 && x.warm.fxgraph_miss === 0)));
  console.log(`cache reuse: the empty-cache run wrote ${c.written} graph entries, the warm run added ${c.added}; inductor counters, empty run ${JSON.stringify(c.cold ?? 'not reported')}, warm run ${JSON.stringify(c.warm ?? 'not reported')} -> ${hit ? 'warm runs hit the cache' : 'NOT reused'}`);
  if (!hit) failures++;
}
console.log(`\nload average at end ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
console.log(JSON.stringify(results.map(({model, rows, checks}) => ({model, rows, checks}))));
process.exit(failures === 0 ? 0 : 1);
