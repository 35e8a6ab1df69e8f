// The environment the Python worker starts with: the caller's, plus threading defaults that keep torch's CPU
// threads from spin-waiting (under CPU contention OpenMP's default active wait made a 64x64 4-step request take
// 24-26 s instead of 0.2-0.3 s) and size its pool to the cores this process may run on. Whatever the user set wins.
import {availableParallelism} from 'node:os';

/** Threading defaults for the worker, each applied only where the environment does not set it already. */
export function threadingDefaults(env: NodeJS.ProcessEnv, cores = availableParallelism()): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  if (!isSet(env.OMP_WAIT_POLICY)) out.OMP_WAIT_POLICY = 'PASSIVE';
  // torch reads OMP_NUM_THREADS, then MKL_NUM_THREADS: a user's value for either one is theirs to keep.
  if (!isSet(env.OMP_NUM_THREADS) && !isSet(env.MKL_NUM_THREADS)) out.OMP_NUM_THREADS = String(Math.max(1, cores));
  return out;
}

/**
 * glibc malloc settings for the worker (Linux): keep freed memory for the next step instead of handing it back. By
 * default glibc serves every block above its (dynamic) mmap threshold with a fresh mmap and trims the heap's top once
 * 128 KiB-32 MiB are free, so each UNet step's activations and oneDNN's weight reorders were mapped, zero-filled page
 * by page and unmapped again: on the real-size SD 1.5 bench (256x256, 3 steps, CPU) 1.7-2.0 million minor page faults
 * per image, warm or not. With the threshold at glibc's maximum (32 MiB) and no trimming the first image took 177
 * thousand and a third less CPU time (bench/realsize.mjs, docs/runtime.md). The worker keeps its peak working set
 * between requests, which a warm model needs anyway. A user's GLIBC_TUNABLES (or MALLOC_* variables) wins.
 */
export const MALLOC_TUNABLES = 'glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=17179869184:glibc.malloc.top_pad=67108864';

export function mallocDefaults(env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): NodeJS.ProcessEnv {
  if (platform !== 'linux' || isSet(env.GLIBC_TUNABLES)) return {};
  if (['MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_', 'MALLOC_TOP_PAD_', 'LD_PRELOAD'].some((k) => isSet(env[k]))) return {};
  return {GLIBC_TUNABLES: MALLOC_TUNABLES};
}

/** process.env, then the caller's extra env, then the threading and malloc defaults for what neither set. */
export function workerEnv(base: NodeJS.ProcessEnv, extra: NodeJS.ProcessEnv = {}, cores?: number, platform?: NodeJS.Platform): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {...base, ...extra};
  return {...env, ...threadingDefaults(env, cores), ...mallocDefaults(env, platform), PYTHONUNBUFFERED: '1'};
}

function isSet(v: string | undefined): boolean {
  return v !== undefined && v.trim() !== '';
}

/**
 * With `--compile`: torch's compile caches (inductor's FX graph and AOT-autograd caches, Triton kernels on CUDA) under
 * MGEN_HOME instead of /tmp, so a restart (a new `mgen generate`, a RunPod scale-up with MGEN_HOME on a volume) reuses
 * the compiled artifacts. torch keys each entry by graph, input shapes, torch version and device itself, so one folder
 * per kind suffices. A user's own setting wins.
 */
export function compileCacheEnv(env: NodeJS.ProcessEnv, home: string): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  if (!isSet(env.TORCHINDUCTOR_CACHE_DIR)) out.TORCHINDUCTOR_CACHE_DIR = `${home}/compile-cache/inductor`;
  if (!isSet(env.TRITON_CACHE_DIR)) out.TRITON_CACHE_DIR = `${home}/compile-cache/triton`;
  if (!isSet(env.TORCHINDUCTOR_FX_GRAPH_CACHE)) out.TORCHINDUCTOR_FX_GRAPH_CACHE = '1';
  if (!isSet(env.TORCHINDUCTOR_AUTOGRAD_CACHE)) out.TORCHINDUCTOR_AUTOGRAD_CACHE = '1';
  return out;
}
