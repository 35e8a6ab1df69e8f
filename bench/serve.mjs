#!/usr/bin/env node
// mgen serve vs a plain diffusers loop, same machine, same run (CONVENTIONS: baselines in the same run, ratios).
//   node bench/serve.mjs [--model builtin:tiny-sd] [--n 50] [--clients 8] [--size 64] [--steps 4] [--gen 10] [--flags "--device cpu --dtype float32"]
// 1. images/s: N sequential requests and CLIENTS concurrent clients through `mgen serve` vs N pipeline calls in one
//    Python process (bench/serve_baseline.py). Goal >= 0.9x.
// 2. server overhead per request = client wall time - the worker's own time (p50, p99). Goal p50 < 5 ms.
// 3. GEN calls of `mgen generate` with a running serve vs without (--no-reuse): per-call wall time. Goal: with
//    serve within 300 ms of the pipeline's per-call time.
// Needs `npm run build` and a runtime (MGEN_PYTHON or `mgen runtime install`). Every loop is bounded.
import {spawn, spawnSync} from 'node:child_process';
import {mkdtempSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'mgen');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const MODEL = arg('model', 'builtin:tiny-sd');
const N = Number(arg('n', 50));
const CLIENTS = Number(arg('clients', 8));
const SIZE = Number(arg('size', 64));
const STEPS = Number(arg('steps', 4));
const GEN = Number(arg('gen', 10));
const FLAGS = arg('flags', '--device cpu --dtype float32').split(' ').filter(Boolean);
const BUDGET_MS = Number(arg('budget', 900)) * 1000;
const started = Date.now();
const overBudget = () => Date.now() - started > BUDGET_MS;

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const ms = (s) => `${(s * 1000).toFixed(1)} ms`;
const log = (...a) => process.stderr.write(a.join(' ') + '\n');

function python() {
  if (process.env.MGEN_PYTHON) return process.env.MGEN_PYTHON;
  const r = spawnSync(process.execPath, [BIN, 'runtime', 'which'], {encoding: 'utf8'});
  if (r.status !== 0) throw new Error('no runtime: run `mgen runtime install` or set MGEN_PYTHON');
  return r.stdout.trim();
}

function runCli(args, env = {}) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [BIN, ...args], {encoding: 'utf8', env: {...process.env, ...env}, timeout: 600_000});
  return {wall: (performance.now() - t0) / 1000, code: r.status, stdout: r.stdout, stderr: r.stderr};
}

async function main() {
  const py = python();
  const work = mkdtempSync(join(tmpdir(), 'mgen-bench-serve-'));
  log(`model ${MODEL}, ${SIZE}x${SIZE}, ${STEPS} steps, python ${py}`);

  // The load plan the server uses, for the baseline to load the same thing.
  const plan = runCli(['serve', MODEL, '--print-plan', ...FLAGS]);
  if (plan.code !== 0) throw new Error(plan.stderr);
  const planFile = join(work, 'plan.json');
  writeFileSync(planFile, plan.stdout);

  log('baseline: plain Python loop');
  const base = spawnSync(py, [join(ROOT, 'bench', 'serve_baseline.py'), planFile, String(N), String(SIZE), String(SIZE), String(STEPS)], {encoding: 'utf8', timeout: 900_000});
  if (base.status !== 0) throw new Error(base.stderr);
  const baseline = JSON.parse(base.stdout.trim().split('\n').at(-1));
  const basePerCall = pct(baseline.per_call_s, 50);

  log('starting mgen serve');
  const serve = spawn(process.execPath, [BIN, 'serve', MODEL, '--port', '0', '--json', ...FLAGS], {stdio: ['ignore', 'pipe', 'pipe']});
  let serveErr = '';
  serve.stderr.on('data', (c) => (serveErr += c));
  const url = await new Promise((res, rej) => {
    let buf = '';
    const t = setTimeout(() => rej(new Error(`serve not ready: ${serveErr}`)), 600_000);
    serve.stdout.on('data', (c) => {
      buf += c;
      const line = buf.split('\n').find((l) => l.startsWith('{'));
      if (line) {
        clearTimeout(t);
        res(JSON.parse(line).url);
      }
    });
    serve.on('exit', (code) => rej(new Error(`serve exited ${code}: ${serveErr}`)));
  });
  const body = (i) => JSON.stringify({prompt: 'a red cube on a table', width: SIZE, height: SIZE, steps: STEPS, guidance_scale: 5, seed: 1000 + i});
  const one = async (i) => {
    const t0 = performance.now();
    const r = await fetch(`${url}/v1/generate`, {method: 'POST', headers: {'content-type': 'application/json'}, body: body(i)});
    const j = await r.json();
    if (!r.ok) throw new Error(JSON.stringify(j));
    const wall = (performance.now() - t0) / 1000;
    return {wall, worker: j.timings.worker_total_s, queue: j.timings.queue_s};
  };
  try {
    for (let i = 0; i < 2; i++) await one(i); // warm-up, as the baseline gets

    const seq = [];
    const t0 = performance.now();
    for (let i = 0; i < N && !overBudget(); i++) seq.push(await one(i));
    const seqWall = (performance.now() - t0) / 1000;

    const perClient = Math.ceil(N / CLIENTS);
    const conc = [];
    const t1 = performance.now();
    await Promise.all(
      Array.from({length: CLIENTS}, async (_, c) => {
        for (let k = 0; k < perClient && !overBudget(); k++) conc.push(await one(c * perClient + k));
      }),
    );
    const concWall = (performance.now() - t1) / 1000;

    const baseRate = baseline.n / baseline.total_s;
    const seqRate = seq.length / seqWall;
    const concRate = conc.length / concWall;
    const overhead = seq.map((r) => r.wall - r.worker);

    log(`mgen generate x${GEN} with the running serve`);
    const genArgs = (i, extra) => ['generate', MODEL, ...FLAGS, '--prompt', 'a red cube on a table', '--width', String(SIZE), '--height', String(SIZE), '--steps', String(STEPS), '--guidance', '5', '--seed', String(i), '--out', join(work, `g-${i}.png`), ...extra];
    const warm = [];
    for (let i = 0; i < GEN && !overBudget(); i++) {
      const r = runCli(genArgs(i, ['--json']));
      if (r.code !== 0 || !JSON.parse(r.stdout).served_by) throw new Error(`generate did not reuse the serve: ${r.stderr}`);
      warm.push(r.wall);
    }
    log(`mgen generate x${GEN} --no-reuse (cold start each)`);
    const cold = [];
    for (let i = 0; i < GEN && !overBudget(); i++) {
      const r = runCli(genArgs(i, ['--no-reuse']));
      if (r.code !== 0) throw new Error(r.stderr);
      cold.push(r.wall);
    }

    const rows = [
      ['images/s, sequential', seqRate.toFixed(2), baseRate.toFixed(2), (seqRate / baseRate).toFixed(2) + 'x', `${seq.length} requests vs ${baseline.n} calls`],
      [`images/s, ${CLIENTS} clients`, concRate.toFixed(2), baseRate.toFixed(2), (concRate / baseRate).toFixed(2) + 'x', `${conc.length} requests, ${CLIENTS} clients`],
      ['server overhead p50', ms(pct(overhead, 50)), '-', '-', 'client wall - worker time'],
      ['server overhead p99', ms(pct(overhead, 99)), '-', '-', ''],
      ['generate per call, serve running', ms(pct(warm, 50)), ms(basePerCall), `+${ms(pct(warm, 50) - basePerCall)}`, `p50 of ${warm.length}; baseline = one pipeline call`],
      ['generate per call, no serve', ms(pct(cold, 50)), ms(basePerCall), `+${ms(pct(cold, 50) - basePerCall)}`, `p50 of ${cold.length} (cold start each)`],
    ];
    const head = ['measure', 'mgen', 'baseline', 'ratio/diff', 'note'];
    const table = [head, head.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
    process.stdout.write(`${table}\n`);
    process.stdout.write(
      JSON.stringify({model: MODEL, size: SIZE, steps: STEPS, baseRate, seqRate, concRate, overheadP50: pct(overhead, 50), overheadP99: pct(overhead, 99), warmP50: pct(warm, 50), coldP50: pct(cold, 50), basePerCall}) + '\n',
    );
  } finally {
    serve.kill('SIGTERM');
    await new Promise((r) => serve.on('exit', r));
  }
}

main().catch((err) => {
  process.stderr.write(`bench/serve.mjs: ${err.message}\n`);
  process.exit(1);
});
