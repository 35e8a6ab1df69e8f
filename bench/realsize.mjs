#!/usr/bin/env node
// Real-size SD 1.5 (random weights, the architecture of ../shared/corpus/detect/invokeai-dreamshaper-8, fp32; built once
// into $MGEN_HOME/bench-models/) on this machine's CPU, against a plain diffusers script, interleaved rounds, medians:
//   node bench/realsize.mjs [--rounds 5] [--size 256] [--steps 10] [--cold-steps 1] [--only parity|cold] [--plain-malloc]
// 1. parity: per-image denoise seconds (text encoding + the denoising loop, up to the last step) of
//    a) a plain loop (one Python process, warm, images one after another),
//    b) `mgen generate` (a cold worker per image, `--json` timings), and
//    c) `mgen serve` (one server, warm `/v1/generate` requests).
//    Goal: c within 3% of a and of b.
// 2. cold: whole-process time to the first image of `mgen generate` vs a plain script (imports, from_pretrained, one
//    image, save), with the page cache warm and with the model's files evicted (posix_fadvise DONTNEED after sync:
//    only these files, the rest of the machine keeps its cache). Goal: mgen <= 0.8x the script cold, <= 1.0x warm.
// Fairness: same prompt, size, steps, guidance, seed and dtype; the script gets the same thread settings mgen gives its
// worker (OMP_WAIT_POLICY=PASSIVE, OMP_NUM_THREADS = cores). The load average is printed at start and end.
import {spawn, spawnSync} from 'node:child_process';
import {existsSync, mkdtempSync, rmSync} from 'node:fs';
import {availableParallelism, cpus, homedir, loadavg, tmpdir} from 'node:os';
import {dirname, join} from 'node:path';
import {createInterface} from 'node:readline';
import {fileURLToPath} from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'mgen');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const ROUNDS = Number(arg('rounds', 5));
const SIZE = Number(arg('size', 256));
const STEPS = Number(arg('steps', 10));
const COLD_STEPS = Number(arg('cold-steps', 1));
const ONLY = arg('only', '');
const HOME = process.env.MGEN_HOME || join(homedir(), '.cache', 'mgen');
const MODEL = arg('model', join(HOME, 'bench-models', 'sd15-corpus-random'));
const CORPUS = join(ROOT, '..', 'shared', 'corpus', 'detect', 'invokeai-dreamshaper-8', 'dreamshaper-8');

const {findRuntime} = await import(join(ROOT, 'dist/backends/runtime/resolve.js'));
const rt = await findRuntime();
if (!rt) throw new Error('no runtime: run ./bin/mgen runtime install or set MGEN_PYTHON');
// mgen's worker also starts with glibc malloc tunables (worker-env.ts mallocDefaults): a plain script does not, unless
// --plain-malloc gives them to it too (to see how much of a difference is the allocator's).
const {MALLOC_TUNABLES} = await import(join(ROOT, 'dist/backends/worker/worker-env.js'));
const threads = {OMP_WAIT_POLICY: 'PASSIVE', OMP_NUM_THREADS: String(availableParallelism()),
  ...(process.argv.includes('--plain-malloc') ? {GLIBC_TUNABLES: MALLOC_TUNABLES} : {})};
const env = {...process.env, MGEN_PYTHON: rt.python, NO_COLOR: '1', HF_HUB_OFFLINE: '1'};
const pyEnv = {...env, ...threads, PYTHONPATH: join(ROOT, 'python-runtime')};
const LOAD = ['--device', 'cpu', '--dtype', 'float32'];
const out = mkdtempSync(join(tmpdir(), 'mgen-realsize-'));

if (!existsSync(join(MODEL, 'model_index.json'))) {
  console.error(`building the random real-size SD 1.5 into ${MODEL} (once)`);
  const r = spawnSync(rt.python, [join(ROOT, 'bench/lib/make_sd15_corpus.py'), CORPUS, MODEL], {env: pyEnv, stdio: 'inherit'});
  if (r.status !== 0) throw new Error('building the model failed');
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const range = (xs) => `${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)}`;
const genArgs = (steps, file) => ['generate', MODEL, ...LOAD, '--prompt', 'a red cube', '--width', String(SIZE), '--height', String(SIZE),
  '--steps', String(steps), '--seed', '1', '--out', file, '--json', '--no-reuse'];

function timed(cmd, args, extraEnv = {}) {
  const t = performance.now();
  const r = spawnSync(cmd, args, {env: {...env, ...extraEnv}, encoding: 'utf8', cwd: out, maxBuffer: 64 << 20});
  const wall = (performance.now() - t) / 1000;
  if (r.status !== 0) throw new Error(`${cmd} ${args.slice(0, 3).join(' ')} failed (${r.status}): ${r.stderr.slice(-1500)}`);
  // mgen --json prints one pretty document; the plain script prints one JSON line last.
  const text = r.stdout.trim();
  return {wall, doc: JSON.parse(text.startsWith('{\n') ? text : text.split('\n').at(-1))};
}

function evict() {
  // sync first so dirty pages can go; DONTNEED per file keeps everyone else's cache.
  spawnSync('sync');
  const code = `import os,sys\nfor d,_,fs in os.walk(sys.argv[1]):\n  for f in fs:\n    fd=os.open(os.path.join(d,f),os.O_RDONLY); os.posix_fadvise(fd,0,0,os.POSIX_FADV_DONTNEED); os.close(fd)`;
  const r = spawnSync(rt.python, ['-c', code, MODEL]);
  if (r.status !== 0) throw new Error('evicting the model from the page cache failed');
}

/** A long-lived plain diffusers process: one line in ("go"), one JSON line out per image. */
function plainLoop() {
  const code = `
import json, sys, time, torch
from diffusers import StableDiffusionPipeline
pipe = StableDiffusionPipeline.from_pretrained(sys.argv[1], torch_dtype=torch.float32); pipe.set_progress_bar_config(disable=True)
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    last = {}
    def cb(p, i, t, kw):
        last["t"] = time.perf_counter(); return kw
    t0 = time.perf_counter()
    with torch.inference_mode():
        img = pipe("a red cube", width=${SIZE}, height=${SIZE}, num_inference_steps=${STEPS}, guidance_scale=7.5,
                   generator=torch.Generator("cpu").manual_seed(1), callback_on_step_end=cb).images[0]
    print(json.dumps({"denoise": last["t"] - t0, "total": time.perf_counter() - t0}), flush=True)
`;
  const proc = spawn(rt.python, ['-c', code, MODEL], {env: pyEnv, stdio: ['pipe', 'pipe', 'inherit']});
  const lines = createInterface({input: proc.stdout});
  const queue = [];
  let waiter = null;
  lines.on('line', (l) => (waiter ? (waiter(l), (waiter = null)) : queue.push(l)));
  const next = () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => (waiter = r)));
  return {
    ready: next(),
    async one() {
      proc.stdin.write('go\n');
      return JSON.parse(await next());
    },
    close: () => proc.kill(),
  };
}

function startServe() {
  const proc = spawn(process.execPath, [BIN, 'serve', MODEL, ...LOAD, '--port', '0', '--json', '--no-state'], {env, stdio: ['ignore', 'pipe', 'pipe']});
  let err = '';
  proc.stderr.on('data', (c) => (err += c));
  return new Promise((res, rej) => {
    let buf = '';
    proc.stdout.on('data', (c) => {
      buf += c;
      const line = buf.split('\n').find((l) => l.startsWith('{'));
      if (line) res({proc, url: JSON.parse(line).url});
    });
    proc.on('exit', (code) => rej(new Error(`serve exited ${code}: ${err.slice(-1500)}`)));
  });
}

console.log(`realsize: random SD 1.5 (corpus configs), CPU fp32, ${SIZE}x${SIZE}; ${cpus().length} cores (${cpus()[0]?.model ?? '?'}); load average at start ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);

if (ONLY !== 'cold') {
  const plain = plainLoop();
  await plain.ready;
  const serve = await startServe();
  const rows = {plain: [], generate: [], serve: []};
  const order = ['plain', 'generate', 'serve'];
  for (let r = 0; r < ROUNDS; r++) {
    for (let k = 0; k < order.length; k++) {
      const which = order[(k + r) % order.length];
      if (which === 'plain') rows.plain.push((await plain.one()).denoise);
      if (which === 'generate') rows.generate.push(timed(process.execPath, [BIN, ...genArgs(STEPS, join(out, `g${r}.png`))]).doc.timings.denoise_s);
      if (which === 'serve') {
        const res = await fetch(`${serve.url}/v1/generate`, {method: 'POST', headers: {'content-type': 'application/json'},
          body: JSON.stringify({prompt: 'a red cube', width: SIZE, height: SIZE, steps: STEPS, seed: 1, guidance_scale: 7.5})});
        const doc = await res.json();
        if (!res.ok) throw new Error(`serve answered ${res.status}: ${JSON.stringify(doc)}`);
        rows.serve.push(doc.timings.denoise_s);
      }
    }
    console.error(`round ${r + 1}/${ROUNDS}: plain ${rows.plain.at(-1).toFixed(2)} generate ${rows.generate.at(-1).toFixed(2)} serve ${rows.serve.at(-1).toFixed(2)}`);
  }
  plain.close();
  serve.proc.kill('SIGTERM');
  console.log(`\nparity: denoise seconds per image, ${STEPS} steps, ${ROUNDS} interleaved rounds, median (min-max)`);
  for (const k of order) console.log(`  ${k.padEnd(9)} ${median(rows[k]).toFixed(2)} (${range(rows[k])})`);
  console.log(`  serve / generate ${(median(rows.serve) / median(rows.generate)).toFixed(3)}   serve / plain ${(median(rows.serve) / median(rows.plain)).toFixed(3)}   (goal <= 1.03)`);
  console.log(JSON.stringify({parity: rows}));
}

if (ONLY !== 'parity') {
  const rows = {warm: {mgen: [], plain: []}, cold: {mgen: [], plain: []}};
  const script = join(ROOT, 'bench', 'generate_baseline.py');
  for (let r = 0; r < ROUNDS; r++) {
    for (const cache of ['warm', 'cold']) {
      const pair = r % 2 === 0 ? ['mgen', 'plain'] : ['plain', 'mgen'];
      for (const who of pair) {
        if (cache === 'cold') evict();
        const file = join(out, `${who}-${cache}-${r}.png`);
        const t = who === 'mgen'
          ? timed(process.execPath, [BIN, ...genArgs(COLD_STEPS, file)])
          : timed(rt.python, [script, MODEL, file, String(SIZE), String(SIZE), String(COLD_STEPS), '1'], threads);
        rows[cache][who].push(t.wall);
      }
    }
    console.error(`round ${r + 1}/${ROUNDS}: warm mgen ${rows.warm.mgen.at(-1).toFixed(2)} plain ${rows.warm.plain.at(-1).toFixed(2)}; cold mgen ${rows.cold.mgen.at(-1).toFixed(2)} plain ${rows.cold.plain.at(-1).toFixed(2)}`);
  }
  console.log(`\ncold start: whole process to the first image (${COLD_STEPS} step${COLD_STEPS === 1 ? '' : 's'}), ${ROUNDS} rounds, median (min-max) seconds`);
  for (const cache of ['warm', 'cold']) {
    const m = median(rows[cache].mgen);
    const p = median(rows[cache].plain);
    console.log(`  ${cache} page cache: mgen ${m.toFixed(2)} (${range(rows[cache].mgen)})  plain ${p.toFixed(2)} (${range(rows[cache].plain)})  ratio ${(m / p).toFixed(3)}  (goal ${cache === 'cold' ? '<= 0.80' : '<= 1.00'})`);
  }
  console.log(JSON.stringify({cold: rows}));
}
console.log(`load average at end ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
rmSync(out, {recursive: true, force: true});
