// Warms the page cache with the model's weight files while the worker is still importing torch and diffusers
// (seconds of CPU work that leave the disk idle): the load that follows then maps pages that are already in memory.
// Reads run in libuv's thread pool, one file at a time in large blocks, and stop on their own when the files turn
// out to be cached already (a warm cache costs a few milliseconds, not a second copy of the model), when they would
// not fit in free memory, or when the caller aborts. Nothing here can fail a load: every error just ends the prefetch.
import {open, readdir, stat} from 'node:fs/promises';
import {freemem} from 'node:os';
import {join} from 'node:path';

const WEIGHT_EXT = /\.(safetensors|bin|gguf|ckpt|pt|pth|sft)$/i;
// diffusers picks one of `x.safetensors` / `x.fp16.safetensors` by the load's variant; before the plan exists we
// warm the plain file and a variant file only when it has no plain sibling.
const VARIANT = /\.(fp16|bf16|fp32|fp8)\.(safetensors|bin)$/i;
const BLOCK = 8 * 1024 * 1024;
/** Throughput above which the blocks after the first must have come from memory: the rest is cached too, stop. On this
 * project's machine the 64 MiB after the first block read at 7 GB/s cached, and at 1.6-2.3 GB/s evicted (the VM's
 * disk is itself cached by its host: the whole model averaged 0.5 GB/s). 1.5 GB/s took evicted files for cached. */
const CACHED_BYTES_PER_S = 3e9;
const PROBE_BYTES = 64 * 1024 * 1024;

export interface PrefetchTarget {
  path: string;
  size: number;
}

export interface PrefetchResult {
  files: number;
  bytes: number;
  seconds: number;
  /** Why it ended early, if it did. */
  stopped?: 'cached' | 'memory' | 'aborted' | 'error';
}

/** The weight files under `roots` (files, or folders searched three levels deep), largest budget first. */
export async function prefetchTargets(roots: string[]): Promise<PrefetchTarget[]> {
  const out: PrefetchTarget[] = [];
  const seen = new Set<string>();
  const visit = async (path: string, depth: number): Promise<void> => {
    if (seen.has(path)) return;
    seen.add(path);
    const st = await stat(path).catch(() => null); // follows the HF cache's snapshot -> blob links
    if (!st) return;
    if (st.isFile()) {
      if (WEIGHT_EXT.test(path)) out.push({path, size: st.size});
      return;
    }
    if (!st.isDirectory() || depth > 3) return;
    const names = await readdir(path).catch(() => [] as string[]);
    for (const name of names.sort()) {
      if (name.startsWith('.')) continue;
      if (VARIANT.test(name) && names.includes(name.replace(VARIANT, '.$2'))) continue;
      await visit(join(path, name), depth + 1);
    }
  };
  for (const root of roots) await visit(root, 0);
  return out;
}

/**
 * Reads the targets into the page cache until done, aborted, or evidently cached already. `budget` caps the bytes
 * (default: half the free memory, so a model larger than memory is not read twice).
 */
export async function prefetchWeights(
  targets: PrefetchTarget[],
  opts: {signal?: AbortSignal; budget?: number; probeBytes?: number; cachedBytesPerS?: number} = {},
): Promise<PrefetchResult> {
  const probe = opts.probeBytes ?? PROBE_BYTES;
  const cachedRate = opts.cachedBytesPerS ?? CACHED_BYTES_PER_S;
  const started = performance.now();
  const result: PrefetchResult = {files: 0, bytes: 0, seconds: 0};
  const total = targets.reduce((n, t) => n + t.size, 0);
  const budget = opts.budget ?? freemem() / 2;
  const done = (stopped?: PrefetchResult['stopped']) => ({...result, ...(stopped ? {stopped} : {}), seconds: (performance.now() - started) / 1000});
  if (total > budget) return done('memory');
  const buf = Buffer.allocUnsafe(BLOCK);
  // The rate is timed from the end of the first block: opening the file and faulting in the buffer's pages cost about
  // as much as reading 64 cached MiB, and made a warm cache look uncached (and get read again) one time in two.
  let probeStart = 0;
  let probeFrom = 0;
  for (const target of targets) {
    if (opts.signal?.aborted) return done('aborted');
    let fh;
    try {
      fh = await open(target.path, 'r');
      let pos = 0;
      while (pos < target.size) {
        if (opts.signal?.aborted) return done('aborted');
        const {bytesRead} = await fh.read(buf, 0, BLOCK, pos);
        if (bytesRead === 0) break;
        pos += bytesRead;
        result.bytes += bytesRead;
        if (probeStart === 0) {
          probeStart = performance.now();
          probeFrom = result.bytes;
        } else if (probeFrom >= 0 && result.bytes - probeFrom >= probe) {
          const rate = (result.bytes - probeFrom) / Math.max(1e-6, (performance.now() - probeStart) / 1000);
          if (rate > cachedRate) return done('cached');
          probeFrom = -1; // probed once: uncached, read on
        }
      }
      result.files++;
    } catch {
      return done('error');
    } finally {
      await fh?.close().catch(() => {});
    }
  }
  return done();
}
