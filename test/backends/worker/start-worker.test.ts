// startWorker's environment for the Python process, checked with a stand-in interpreter (a shell script that
// records its environment and says ready), so no Python is needed.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {chmod, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {startWorker} from '../../../src/backends/worker/start-worker.js';

let dir: string;
let fake: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mgen-sw-'));
  fake = join(dir, 'python');
  await writeFile(fake, '#!/bin/sh\nprintf "%s|%s" "${OMP_WAIT_POLICY-unset}" "$PYTHONPATH" > "$FAKE_ENV_OUT"\necho \'{"event":"ready","protocol":1}\'\ncat > /dev/null\n');
  await chmod(fake, 0o755);
});
afterAll(async () => {
  await rm(dir, {recursive: true, force: true});
});

async function envSeen(env: NodeJS.ProcessEnv): Promise<string> {
  const out = join(dir, `env-${Math.random().toString(36).slice(2)}`);
  const w = await startWorker({python: fake, env: {...env, FAKE_ENV_OUT: out}, readyTimeoutMs: 20_000});
  const seen = await readFile(out, 'utf8');
  w.kill();
  await w.exited;
  return seen;
}

describe('startWorker environment', () => {
  it('leaves the OpenMP wait policy to the user: none of its own, the caller\'s passed through', async () => {
    const saved = process.env.OMP_WAIT_POLICY;
    delete process.env.OMP_WAIT_POLICY;
    try {
      expect((await envSeen({})).split('|')[0]).toBe('unset');
      expect((await envSeen({OMP_WAIT_POLICY: 'PASSIVE'})).split('|')[0]).toBe('PASSIVE');
      expect((await envSeen({OMP_WAIT_POLICY: 'ACTIVE'})).split('|')[0]).toBe('ACTIVE');
      process.env.OMP_WAIT_POLICY = 'active';
      expect((await envSeen({})).split('|')[0]).toBe('active');
    } finally {
      if (saved === undefined) delete process.env.OMP_WAIT_POLICY;
      else process.env.OMP_WAIT_POLICY = saved;
    }
  });

  it('puts the bundled python-runtime/ first on PYTHONPATH', async () => {
    const path = (await envSeen({PYTHONPATH: '/x/y'})).split('|')[1]!;
    expect(path.split(':')[0]).toMatch(/python-runtime\/?$/);
    expect(path.split(':').at(-1)).toBe('/x/y');
  });
});
