// `inspect --vram`: the memory plan / quantization that makes a model fit a card (memory-plan.ts fitAdvice).
import type {ModelReport} from '../detect/types.js';
import {UsageError} from '../errors.js';
import {fitAdvice, parseVram} from '../backends/memory-plan.js';

/** Free memory of the first local NVIDIA GPU (nvidia-smi), in bytes. */
async function localFreeBytes(): Promise<number> {
  // child_process is loaded here, not when `mgen inspect` starts (`inspect` bundles this module).
  const [{execFile}, {promisify}] = await Promise.all([import('node:child_process'), import('node:util')]);
  try {
    const {stdout} = await promisify(execFile)('nvidia-smi', ['--query-gpu=memory.free', '--format=csv,noheader,nounits'], {timeout: 10_000});
    const mib = Number(stdout.trim().split('\n')[0]);
    if (Number.isFinite(mib) && mib > 0) return mib * 2 ** 20;
  } catch {
    // no driver or no GPU: below
  }
  throw new UsageError('--vram local: no local NVIDIA GPU found (nvidia-smi did not answer)', {hint: 'pass a size, e.g. --vram 8GiB'});
}

export async function fitFor(report: ModelReport, vram: string): Promise<ReturnType<typeof fitAdvice> & {vram_bytes: number}> {
  const bytes = vram.trim().toLowerCase() === 'local' ? await localFreeBytes() : parseVram(vram);
  return {...fitAdvice(report, bytes), vram_bytes: bytes};
}
