// Helpers of the quantized-file runtime tests (quantized*.test.ts): the runtime's Python with mgen_runtime on its
// path (quant_tiny writes the files), and how far two PNGs are apart.
import {spawnSync} from 'node:child_process';
import {join} from 'node:path';
import {ROOT, testEnv} from './support.js';

/** Runs the runtime's Python with python-runtime on PYTHONPATH; its stdout, or an error with its stderr's tail. */
export function runPython(py: string, args: string[], env: NodeJS.ProcessEnv = {}): string {
  const r = spawnSync(py, args, {env: testEnv({PYTHONPATH: join(ROOT, 'python-runtime'), ...env}), encoding: 'utf8', timeout: 300_000});
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr.slice(-2000)}`);
  return r.stdout;
}

/** Mean absolute difference of two PNGs' pixels (0-255). */
export function meanPixelDiff(py: string, a: string, b: string): number {
  const src = 'import sys, numpy as np\nfrom PIL import Image\nx, y = (np.asarray(Image.open(p).convert("RGB"), dtype=float) for p in sys.argv[1:3])\nprint(float(np.abs(x - y).mean()))';
  return Number(runPython(py, ['-c', src, a, b]).trim());
}
