// Temporary folders for tests, removed after the test file.
import {afterAll, beforeAll} from '@jest/globals';
import {mkdtemp, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

export async function makeTmpDir(prefix = 'mgen-test-'): Promise<{dir: string; cleanup: () => Promise<void>}> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return {dir, cleanup: () => rm(dir, {recursive: true, force: true})};
}

/** A temporary folder for the whole test file: made before its tests, removed after. Read `.dir` inside tests. */
export function useTmpDir(prefix?: string): {readonly dir: string} {
  let made: {dir: string; cleanup: () => Promise<void>} | undefined;
  beforeAll(async () => {
    made = await makeTmpDir(prefix);
  });
  afterAll(async () => {
    await made?.cleanup();
  });
  return {
    get dir() {
      if (!made) throw new Error('useTmpDir: read .dir inside a test, not at module load');
      return made.dir;
    },
  };
}
