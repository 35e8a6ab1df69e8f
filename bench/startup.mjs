#!/usr/bin/env node
// Benchmark: how long the CLI takes to start, whole process, against what Node itself costs. Three commands in
// interleaved rounds (A, B, C, A, B, C, ...) so that load from the rest of the machine hits all of them alike:
//   node -e ''                                                         (the floor: Node 20 starting and exiting)
//   mgen --version                                                     (the CLI's own start: oclif, manifest)
//   mgen inspect test/examples/sdxl-base-header-only.safetensors       (a real command on a local file)
// Prints median and min-max per command and each one's ratio to bare node (goal for inspect: <= 2x and < 300 ms).
// Run after `npm run build`:  node bench/startup.mjs [rounds] [--instructions]   (default 15; MGEN_BIN=path/to/bin/mgen to time
// another build, e.g. a checkout of main, in the same run as a baseline: MGEN_BASE_BIN).
import {spawnSync} from 'node:child_process';
import {existsSync} from 'node:fs';
import {cpus, loadavg} from 'node:os';
import {dirname, join, resolve} from 'node:path';
import {fileURLToPath} from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ROUNDS = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 15);
const BIN = process.env.MGEN_BIN ?? join(ROOT, 'bin', 'mgen');
const BASE = process.env.MGEN_BASE_BIN;
const FILE = join(ROOT, 'test', 'examples', 'sdxl-base-header-only.safetensors');
if (!existsSync(join(dirname(BIN), '..', 'dist', 'commands', 'inspect.js'))) throw new Error('run `npm run build` first');

const cases = [
  {label: "node -e ''", args: ['-e', '']},
  {label: 'mgen --version', args: [BIN, '--version']},
  {label: 'mgen inspect <sdxl header>', args: [BIN, 'inspect', FILE]},
];
if (BASE) {
  cases.push({label: 'base: mgen --version', args: [BASE, '--version']});
  cases.push({label: 'base: mgen inspect <sdxl header>', args: [BASE, 'inspect', FILE]});
}
// `--instructions`: one run of each command under callgrind instead, and its instruction count (needs valgrind; minutes):
// unlike wall time on a busy machine, the count hardly moves with load. Node's own start includes whatever the
// environment adds (NODE_EXTRA_CA_CERTS: parsing a CA bundle is ~400 M instructions), so the ratios are printed with and
// without the bare-node count subtracted.
if (process.argv.includes('--instructions')) {
  const {mkdtempSync, readFileSync, rmSync} = await import('node:fs');
  const {tmpdir} = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'mgen-startup-cg-'));
  const counts = cases.map((c, i) => {
    const out = join(dir, `cg.${i}`);
    const p = spawnSync('valgrind', ['--tool=callgrind', `--callgrind-out-file=${out}`, process.execPath, ...c.args], {cwd: ROOT, encoding: 'utf8', env: {...process.env, NO_COLOR: '1'}});
    const m = /Collected : (\d+)/.exec(p.stderr ?? '');
    if (p.status !== 0 || !m) throw new Error(`${c.label} under callgrind: ${p.error?.message ?? p.stderr.trim().split('\n').at(-1)}`);
    return Number(m[1]);
  });
  rmSync(dir, {recursive: true, force: true});
  console.log(`startup instructions (callgrind, one run each); node ${process.version}; NODE_EXTRA_CA_CERTS ${process.env.NODE_EXTRA_CA_CERTS ? 'set' : 'unset'}`);
  console.log('| command | instructions | ratio to bare node | above bare node |');
  console.log('|---|---|---|---|');
  cases.forEach((c, i) => console.log(`| ${c.label} | ${(counts[i] / 1e6).toFixed(1)} M | ${(counts[i] / counts[0]).toFixed(2)}x | ${((counts[i] - counts[0]) / 1e6).toFixed(1)} M |`));
  process.exit(0);
}
// One untimed warm-up round: the page cache and the OS, not mgen, decide the first run.
for (const c of cases) run(c);
const load0 = loadavg()[0];
for (let r = 0; r < ROUNDS; r++) for (const c of cases) (c.times ??= []).push(run(c));
const load1 = loadavg()[0];

function run(c) {
  const t0 = process.hrtime.bigint();
  const p = spawnSync(process.execPath, c.args, {cwd: ROOT, encoding: 'utf8', env: {...process.env, NO_COLOR: '1'}});
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (p.status !== 0) throw new Error(`${c.label} exited ${p.status}: ${p.stderr.trim().split('\n')[0]}`);
  return ms;
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const node = median(cases[0].times);
console.log(`startup benchmark: ${ROUNDS} interleaved rounds, whole-process wall time; ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), node ${process.version}; load average ${load0.toFixed(2)} -> ${load1.toFixed(2)}`);
console.log('| command | median | min-max | ratio to bare node |');
console.log('|---|---|---|---|');
for (const c of cases) {
  const m = median(c.times);
  console.log(`| ${c.label} | ${m.toFixed(0)} ms | ${Math.min(...c.times).toFixed(0)}-${Math.max(...c.times).toFixed(0)} ms | ${(m / node).toFixed(2)}x |`);
}
const inspect = median(cases[2].times);
console.log(`inspect goal (< 300 ms and <= 2x bare node): ${inspect.toFixed(0)} ms, ${(inspect / node).toFixed(2)}x -> ${inspect < 300 && inspect <= 2 * node ? 'met' : 'not met'}`);
