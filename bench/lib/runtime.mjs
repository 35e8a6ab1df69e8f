// Bench support for the generate-type benchmarks: the Python runtime they time against ($MGEN_PYTHON or the
// provisioned venv, as `mgen` finds it), a timed child process, and the median.
import {spawnSync} from 'node:child_process';
import {join} from 'node:path';
import {ROOT} from './helpers.mjs';

export async function benchRuntime() {
  const {findRuntime} = await import(join(ROOT, 'dist/backends/runtime/resolve.js'));
  const rt = await findRuntime();
  if (!rt) throw new Error('no runtime: run ./bin/mgen runtime install or set MGEN_PYTHON');
  return {python: rt.python, env: {...process.env, MGEN_PYTHON: rt.python, NO_COLOR: '1'}};
}

/** Runs a command to completion; its wall time in seconds and its stdout. A failure throws with its stderr. */
export function timed(cmd, args, opts) {
  const t = performance.now();
  const r = spawnSync(cmd, args, {env: opts.env, encoding: 'utf8', cwd: opts.cwd});
  const wall = (performance.now() - t) / 1000;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return {wall, stdout: r.stdout};
}

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
