#!/usr/bin/env node
// Provisions the test-only Python venv of real client libraries that test/conformance drives (openai, webuiapi,
// runpod, prometheus_client, SSE clients, an A1111 infotext parser). It lives under MGEN_HOME beside the runtime
// venvs, named by a hash of the pinned requirement files, built in a temp folder and renamed into place, so a
// rerun is a no-op and an interrupted one leaves nothing half-made. `npm test` runs it before jest.
import {spawnSync} from 'node:child_process';
import {createHash} from 'node:crypto';
import {existsSync, mkdirSync, readFileSync, renameSync, rmSync} from 'node:fs';
import {homedir} from 'node:os';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const files = ['requirements.txt', 'requirements-nodeps.txt'].map((f) => join(root, 'test', 'conformance', f));

export function clientVenvDir(env = process.env) {
  const home = env.MGEN_HOME || join(homedir(), '.cache', 'mgen');
  const hash = createHash('sha256');
  for (const f of files) hash.update(readFileSync(f));
  return join(home, 'test-clients', `venv-${hash.digest('hex').slice(0, 12)}`);
}

export function clientPython(env = process.env) {
  return join(clientVenvDir(env), 'bin', 'python');
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, {stdio: ['ignore', 'inherit', 'inherit']});
  if (r.status !== 0) throw new Error(`${cmd} ${args.slice(0, 3).join(' ')} failed (exit ${r.status})`);
}

function ensure() {
  const dir = clientVenvDir();
  if (existsSync(join(dir, 'bin', 'python'))) return dir;
  mkdirSync(dirname(dir), {recursive: true});
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, {recursive: true, force: true});
  const base = process.env.MGEN_BASE_PYTHON || 'python3';
  console.error(`test clients: creating ${dir} (once)`);
  try {
    run(base, ['-m', 'venv', tmp]);
    const pip = join(tmp, 'bin', 'pip');
    run(pip, ['install', '-q', '--disable-pip-version-check', '-r', files[0]]);
    run(pip, ['install', '-q', '--disable-pip-version-check', '--no-deps', '-r', files[1]]);
    // venv scripts hard-code their folder; python itself does not, and that is all the tests call.
    renameSync(tmp, dir);
  } catch (error) {
    rmSync(tmp, {recursive: true, force: true});
    throw error;
  }
  return dir;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    console.log(ensure());
  } catch (error) {
    console.error(`test clients: ${error.message}`);
    process.exit(7);
  }
}
