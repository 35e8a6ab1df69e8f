// startWorker's environment for the Python process, checked with a stand-in interpreter (a shell script that
// records its environment and says ready), so no Python is needed.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {chmod, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises';
import {availableParallelism, tmpdir} from 'node:os';
import {join} from 'node:path';
import {startWorker} from '../../../src/backends/worker/start-worker.js';
import {compileCacheEnv, MALLOC_TUNABLES, mallocDefaults, threadingDefaults, workerEnv} from '../../../src/backends/worker/worker-env.js';

let dir: string;
let fake: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mgen-sw-'));
  fake = join(dir, 'python');
  await writeFile(fake, '#!/bin/sh\nprintf "%s|%s|%s|%s|%s" "${OMP_WAIT_POLICY-unset}" "$PYTHONPATH" "${OMP_NUM_THREADS-unset}" "${MKL_NUM_THREADS-unset}" "${MGEN_WORKER_VERBOSE-unset}" > "$FAKE_ENV_OUT"\necho \'{"event":"ready","protocol":1}\'\ncat > /dev/null\n');
  await chmod(fake, 0o755);
});
afterAll(async () => {
  await rm(dir, {recursive: true, force: true});
});

async function envSeen(env: NodeJS.ProcessEnv, verbose = false): Promise<string> {
  const out = join(dir, `env-${Math.random().toString(36).slice(2)}`);
  const w = await startWorker({python: fake, env: {...env, FAKE_ENV_OUT: out}, readyTimeoutMs: 20_000, verbose});
  const seen = await readFile(out, 'utf8');
  w.kill();
  await w.exited;
  return seen;
}

describe('startWorker environment', () => {
  it('starts the worker with a passive OpenMP wait and one thread per usable core, unless the user set them', async () => {
    const saved = {w: process.env.OMP_WAIT_POLICY, n: process.env.OMP_NUM_THREADS, m: process.env.MKL_NUM_THREADS};
    delete process.env.OMP_WAIT_POLICY;
    delete process.env.OMP_NUM_THREADS;
    delete process.env.MKL_NUM_THREADS;
    try {
      const [policy, , threads, mkl] = (await envSeen({})).split('|');
      expect(policy).toBe('PASSIVE');
      expect(threads).toBe(String(availableParallelism()));
      expect(mkl).toBe('unset');
      expect((await envSeen({OMP_WAIT_POLICY: 'ACTIVE'})).split('|')[0]).toBe('ACTIVE');
      expect((await envSeen({OMP_NUM_THREADS: '3'})).split('|')[2]).toBe('3');
      // MKL_NUM_THREADS alone is the user's choice too: no OMP_NUM_THREADS of ours overrides it.
      expect((await envSeen({MKL_NUM_THREADS: '2'})).split('|').slice(2, 4)).toEqual(['unset', '2']);
      process.env.OMP_WAIT_POLICY = 'active';
      process.env.OMP_NUM_THREADS = '5';
      expect((await envSeen({})).split('|')[0]).toBe('active');
      expect((await envSeen({})).split('|')[2]).toBe('5');
    } finally {
      for (const [k, v] of [['OMP_WAIT_POLICY', saved.w], ['OMP_NUM_THREADS', saved.n], ['MKL_NUM_THREADS', saved.m]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it('asks the worker for its libraries\' chatter only with --verbose', async () => {
    const saved = process.env.MGEN_WORKER_VERBOSE;
    delete process.env.MGEN_WORKER_VERBOSE;
    try {
      expect((await envSeen({})).split('|')[4]).toBe('unset');
      expect((await envSeen({}, true)).split('|')[4]).toBe('1');
    } finally {
      if (saved !== undefined) process.env.MGEN_WORKER_VERBOSE = saved;
    }
  });

  it('puts the bundled python-runtime/ first on PYTHONPATH', async () => {
    const path = (await envSeen({PYTHONPATH: '/x/y'})).split('|')[1]!;
    expect(path.split(':')[0]).toMatch(/python-runtime\/?$/);
    expect(path.split(':').at(-1)).toBe('/x/y');
  });
});

describe('worker threading defaults', () => {
  it('fills only what the environment leaves unset (blank counts as unset)', () => {
    expect(threadingDefaults({}, 6)).toEqual({OMP_WAIT_POLICY: 'PASSIVE', OMP_NUM_THREADS: '6'});
    expect(threadingDefaults({OMP_WAIT_POLICY: 'ACTIVE', OMP_NUM_THREADS: '1'}, 6)).toEqual({});
    expect(threadingDefaults({MKL_NUM_THREADS: '4'}, 6)).toEqual({OMP_WAIT_POLICY: 'PASSIVE'});
    expect(threadingDefaults({OMP_WAIT_POLICY: ' '}, 0)).toEqual({OMP_WAIT_POLICY: 'PASSIVE', OMP_NUM_THREADS: '1'});
  });

  it('lets the caller\'s env win over process.env, and the defaults fill what both leave out', () => {
    const env = workerEnv({OMP_WAIT_POLICY: 'ACTIVE', PATH: '/bin'}, {OMP_NUM_THREADS: '2'}, 8);
    expect(env).toMatchObject({OMP_WAIT_POLICY: 'ACTIVE', OMP_NUM_THREADS: '2', PATH: '/bin', PYTHONUNBUFFERED: '1'});
    expect(workerEnv({}, {}, 8)).toMatchObject({OMP_WAIT_POLICY: 'PASSIVE', OMP_NUM_THREADS: '8'});
  });

  it('keeps freed memory in the worker on Linux (glibc tunables), unless the user set malloc up', () => {
    expect(workerEnv({}, {}, 2, 'linux').GLIBC_TUNABLES).toBe(MALLOC_TUNABLES);
    expect(MALLOC_TUNABLES).toContain('glibc.malloc.mmap_threshold=33554432');
    expect(MALLOC_TUNABLES).toContain('glibc.malloc.trim_threshold=');
    expect(mallocDefaults({GLIBC_TUNABLES: 'glibc.malloc.arena_max=2'}, 'linux')).toEqual({});
    expect(workerEnv({}, {GLIBC_TUNABLES: 'mine'}, 2, 'linux').GLIBC_TUNABLES).toBe('mine');
    expect(mallocDefaults({MALLOC_TRIM_THRESHOLD_: '0'}, 'linux')).toEqual({});
    expect(mallocDefaults({LD_PRELOAD: '/usr/lib/libjemalloc.so.2'}, 'linux')).toEqual({});
    expect(mallocDefaults({}, 'darwin')).toEqual({});
  });
});

describe('worker death messages', () => {
  async function deathOf(script: string): Promise<Error> {
    const py = join(dir, `dying-${Math.random().toString(36).slice(2)}`);
    // Says ready, then on the first request writes `script`'s stderr and dies as it says.
    await writeFile(py, `#!/bin/sh\necho '{"event":"ready","protocol":1}'\nread line\n${script}\n`);
    await chmod(py, 0o755);
    const w = await startWorker({python: py, readyTimeoutMs: 20_000});
    const err = await w.load({} as never).then(() => new Error('loaded'), (e: Error) => e);
    await w.exited;
    return err;
  }

  it('give the Python exception as the reason, not the progress bar drawn after it', async () => {
    const err = await deathOf(String.raw`printf 'Traceback (most recent call last):\n  File "x.py", line 1, in <module>\nRuntimeError: weights do not fit\n' >&2
printf '\rLoading pipeline components...:  43%%|####3     | 3/7 [00:01<00:01,  2.6it/s]\rLoading pipeline components...:  57%%|#####7    | 4/7 [00:02<00:01,  2.6it/s]' >&2
exit 1`);
    expect(err.message).toBe('the Python worker died during load (exit code 1): RuntimeError: weights do not fit');
  });

  it('never quote a progress bar: a silent SIGKILL says the system may have run out of memory', async () => {
    const err = await deathOf(String.raw`printf 'Loading checkpoint shards:  50%%|#####     | 1/2 [00:09<00:09,  9.1s/it]\r' >&2
printf 'Loading checkpoint shards:  50%%|#####     | 1/2 [00:10<00:10,  9.1s/it]' >&2
kill -9 $$`);
    expect(err.message).toBe('the Python worker died during load (killed by SIGKILL; the system may have run out of memory)');
    expect(err.message).not.toMatch(/%\|/);
  });
});

describe('compile cache location', () => {
  it('puts torch\'s compile caches under MGEN_HOME unless the user chose a folder', () => {
    expect(compileCacheEnv({}, '/h')).toEqual({
      TORCHINDUCTOR_CACHE_DIR: '/h/compile-cache/inductor', TRITON_CACHE_DIR: '/h/compile-cache/triton',
      TORCHINDUCTOR_FX_GRAPH_CACHE: '1', TORCHINDUCTOR_AUTOGRAD_CACHE: '1',
    });
    expect(compileCacheEnv({TORCHINDUCTOR_CACHE_DIR: '/mine', TORCHINDUCTOR_FX_GRAPH_CACHE: '0'}, '/h')).toEqual({
      TRITON_CACHE_DIR: '/h/compile-cache/triton', TORCHINDUCTOR_AUTOGRAD_CACHE: '1',
    });
  });
});
