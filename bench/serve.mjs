#!/usr/bin/env node
// mgen serve vs a plain diffusers loop, same machine, same run (CONVENTIONS: baselines in the same run, ratios).
//   node bench/serve.mjs [--model builtin:tiny-sd] [--n 50] [--clients 8] [--rounds 5] [--size 64] [--steps 4] [--gen 10] [--flags "--device cpu --dtype float32"]
// 1. images/s: N sequential requests and CLIENTS concurrent clients through `mgen serve` vs N pipeline calls in one
//    Python process (bench/serve_baseline.py). Goal >= 0.9x.
// 2. server overhead per request = client wall time - the worker's own time (p50, p99). Goal p50 < 5 ms.
// 3. GEN calls of `mgen generate` with a running serve vs without (--no-reuse): per-call wall time. Goal: with
//    serve within 300 ms of the pipeline's per-call time. Broken down: `mgen --version` (the CLI's own start-up
//    floor), the CLI's start-up before the reuse path, the HTTP round trip, the worker's time.
// Fairness: the baseline does the same work (prompt, size, steps, guidance, a PNG with a text chunk per call) in the
// same environment as the worker (mgen sets no OpenMP policy). The machine's speed drifts by 10-20% within minutes on
// this shared VM, so the baseline process stays loaded and the three loops run interleaved in ROUNDS rounds (a block
// of plain calls, a block of sequential requests, a block of concurrent requests; the order rotates each round), and
// each rate is the sum of its blocks' images over the sum of their times. The HTTP client is node:http with keep-alive
// (fetch adds ~5-10 ms per request of its own on a 2-core VM). The load average is printed at start and end.
// Needs `npm run build` and a runtime (MGEN_PYTHON or `mgen runtime install`). Every loop is bounded.
import {spawn, spawnSync} from 'node:child_process';
import {mkdtempSync, writeFileSync} from 'node:fs';
import {Agent, request as httpRequest} from 'node:http';
import {loadavg, tmpdir} from 'node:os';
import {createInterface} from 'node:readline';
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
const ROUNDS = Math.max(1, Number(arg('rounds', 5)));
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

const agent = new Agent({keepAlive: true, maxSockets: 64});
function post(url, body) {
  return new Promise((resolve, reject) => {
    const buf = Buffer.from(body);
    const req = httpRequest(url, {method: 'POST', agent, headers: {'content-type': 'application/json', 'content-length': String(buf.length)}}, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({status: res.statusCode, json: JSON.parse(Buffer.concat(chunks).toString('utf8'))}));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(buf);
  });
}
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');

async function main() {
  const py = python();
  const work = mkdtempSync(join(tmpdir(), 'mgen-bench-serve-'));
  const loadStart = load();
  log(`model ${MODEL}, ${SIZE}x${SIZE}, ${STEPS} steps, python ${py}, load average ${loadStart}`);

  // The load plan the server uses, for the baseline to load the same thing.
  const plan = runCli(['serve', MODEL, '--print-plan', ...FLAGS]);
  if (plan.code !== 0) throw new Error(plan.stderr);
  const planFile = join(work, 'plan.json');
  writeFileSync(planFile, plan.stdout);

  log('loading the baseline loop (plain Python, one process, block mode)');
  const base = spawn(py, [join(ROOT, 'bench', 'serve_baseline.py'), planFile, '0', String(SIZE), String(SIZE), String(STEPS), '--blocks'], {stdio: ['pipe', 'pipe', 'pipe']});
  let baseErr = '';
  base.stderr.on('data', (c) => (baseErr = (baseErr + c).slice(-4000)));
  const baseLines = createInterface({input: base.stdout});
  const baseNext = () => new Promise((res, rej) => {
    const onExit = (code) => rej(new Error(`baseline exited ${code}: ${baseErr}`));
    base.once('exit', onExit);
    baseLines.once('line', (l) => {
      base.off('exit', onExit);
      res(JSON.parse(l));
    });
  });
  await baseNext(); // {"ready": true}
  const baseBlock = async (k) => {
    base.stdin.write(`${k}\n`);
    return baseNext();
  };

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
    const {status, json: j} = await post(`${url}/v1/generate`, body(i));
    if (status !== 200) throw new Error(JSON.stringify(j));
    const wall = (performance.now() - t0) / 1000;
    return {wall, worker: j.timings.worker_total_s, queue: j.timings.queue_s};
  };
  try {
    for (let i = 0; i < 2; i++) await one(i); // warm-up, as the baseline gets

    // Interleaved rounds: a block of plain calls, a block of sequential requests, a block of CLIENTS concurrent clients.
    const block = Math.ceil(N / ROUNDS);
    const perClient = Math.max(1, Math.ceil(block / CLIENTS));
    const seq = [];
    const conc = [];
    const baseRuns = [];
    let seqWall = 0;
    let concWall = 0;
    let next = 0;
    const phases = {
      baseline: async () => baseRuns.push(await baseBlock(block)),
      sequential: async () => {
        const t0 = performance.now();
        for (let i = 0; i < block; i++) seq.push(await one(next++));
        seqWall += (performance.now() - t0) / 1000;
      },
      concurrent: async () => {
        const t1 = performance.now();
        await Promise.all(
          Array.from({length: CLIENTS}, async () => {
            for (let k = 0; k < perClient; k++) conc.push(await one(next++));
          }),
        );
        concWall += (performance.now() - t1) / 1000;
      },
    };
    const order = Object.keys(phases);
    for (let r = 0; r < ROUNDS && !overBudget(); r++) {
      log(`round ${r + 1}/${ROUNDS}, load average ${load()}`);
      for (let j = 0; j < order.length; j++) await phases[order[(r + j) % order.length]]();
    }
    base.stdin.end();

    const seqRate = seq.length / seqWall;
    const concRate = conc.length / concWall;
    const overhead = seq.map((r) => r.wall - r.worker);
    const baseRate = baseRuns.reduce((a, b) => a + b.n, 0) / baseRuns.reduce((a, b) => a + b.total_s, 0);
    const baseN = baseRuns.reduce((a, b) => a + b.n, 0);
    const basePerCall = pct(baseRuns.flatMap((b) => b.per_call_s), 50);

    log(`mgen --version x${GEN} (the CLI's start-up floor), load average ${load()}`);
    const floor = [];
    for (let i = 0; i < GEN && !overBudget(); i++) floor.push(runCli(['--version']).wall);
    log(`mgen generate x${GEN} with the running serve`);
    const genArgs = (i, extra) => ['generate', MODEL, ...FLAGS, '--prompt', 'a red cube on a table', '--width', String(SIZE), '--height', String(SIZE), '--steps', String(STEPS), '--guidance', '5', '--seed', String(i), '--out', join(work, `g-${i}.png`), ...extra];
    const warm = [];
    const warmParts = [];
    for (let i = 0; i < GEN && !overBudget(); i++) {
      const r = runCli(genArgs(i, ['--json']));
      const doc = r.code === 0 ? JSON.parse(r.stdout) : null;
      if (!doc?.served_by) throw new Error(`generate did not reuse the serve: ${r.stderr}`);
      warm.push(r.wall);
      warmParts.push({startup: r.wall - doc.timings.total_s, http: doc.timings.total_s - doc.timings.worker_total_s, worker: doc.timings.worker_total_s});
    }
    log(`mgen generate x${GEN} --no-reuse (cold start each)`);
    const cold = [];
    for (let i = 0; i < GEN && !overBudget(); i++) {
      const r = runCli(genArgs(i, ['--no-reuse']));
      if (r.code !== 0) throw new Error(r.stderr);
      cold.push(r.wall);
    }

    const part = (k) => pct(warmParts.map((p) => p[k]), 50);
    const rows = [
      ['images/s, sequential', seqRate.toFixed(2), baseRate.toFixed(2), (seqRate / baseRate).toFixed(2) + 'x', `${seq.length} requests vs ${baseN} calls, ${ROUNDS} interleaved rounds`],
      [`images/s, ${CLIENTS} clients`, concRate.toFixed(2), baseRate.toFixed(2), (concRate / baseRate).toFixed(2) + 'x', `${conc.length} requests, ${CLIENTS} clients, same rounds`],
      ['server overhead p50', ms(pct(overhead, 50)), '-', '-', 'client wall - worker time'],
      ['server overhead p99', ms(pct(overhead, 99)), '-', '-', ''],
      ['generate per call, serve running', ms(pct(warm, 50)), ms(basePerCall), `+${ms(pct(warm, 50) - basePerCall)}`, `p50 of ${warm.length}; baseline = one pipeline call`],
      ['  of which CLI start-up before the request', ms(part('startup')), ms(pct(floor, 50)), '-', 'baseline column: `mgen --version` p50 (oclif start-up floor)'],
      ['  of which reuse HTTP round trip + server', ms(part('http')), '-', '-', 'readyz + POST + writing the PNG'],
      ['  of which worker', ms(part('worker')), ms(basePerCall), '-', ''],
      ['generate per call, no serve', ms(pct(cold, 50)), ms(basePerCall), `+${ms(pct(cold, 50) - basePerCall)}`, `p50 of ${cold.length} (cold start each)`],
    ];
    const head = ['measure', 'mgen', 'baseline', 'ratio/diff', 'note'];
    const table = [head, head.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
    process.stdout.write(`${table}\nload average: start ${loadStart}, end ${load()}\n`);
    process.stdout.write(
      JSON.stringify({model: MODEL, size: SIZE, steps: STEPS, rounds: ROUNDS, ompWaitPolicy: process.env.OMP_WAIT_POLICY ?? null, baseRate, seqRate, concRate, cliFloorP50: pct(floor, 50), warmParts: {startup: part('startup'), http: part('http'), worker: part('worker')}, overheadP50: pct(overhead, 50), overheadP99: pct(overhead, 99), warmP50: pct(warm, 50), coldP50: pct(cold, 50), basePerCall}) + '\n',
    );
  } finally {
    base.kill();
    serve.kill('SIGTERM');
    await new Promise((r) => serve.on('exit', r));
  }
}

main().catch((err) => {
  process.stderr.write(`bench/serve.mjs: ${err.message}\n`);
  process.exit(1);
});
