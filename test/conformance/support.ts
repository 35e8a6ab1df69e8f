// Shared setup for the conformance suite: the real client libraries (Python ones in the venv that
// scripts/test-clients.mjs provisions, Node ones from devDependencies) against a real `mgen serve` on a tiny
// builtin. One serve per test file (spawnServe in test/runtime/support.ts).
import {spawn} from 'node:child_process';
import {existsSync} from 'node:fs';
// @ts-expect-error: plain .mjs script shared with `npm test`, no type declarations
import {clientPython as venvPython} from '../../scripts/test-clients.mjs';
import {ROOT} from '../runtime/support.js';

export function clientPython(): string {
  const py = (venvPython as (env?: NodeJS.ProcessEnv) => string)(process.env);
  if (!existsSync(py)) throw new Error('conformance tests need the client venv: run `npm run test:clients`');
  return py;
}

export interface PyResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a Python snippet with the client venv; `env` adds variables (e.g. the server URL). */
export function runPy(code: string, env: NodeJS.ProcessEnv = {}, timeoutMs = 180_000): Promise<PyResult> {
  return new Promise((res) => {
    const child = spawn(clientPython(), ['-c', code], {cwd: ROOT, env: {...process.env, PYTHONUNBUFFERED: '1', ...env}});
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => {
      clearTimeout(timer);
      res({code, stdout, stderr});
    });
  });
}

/** Runs a snippet that prints one JSON document as its last stdout line, and returns it parsed. */
export async function pyJson<T = unknown>(code: string, env: NodeJS.ProcessEnv = {}, timeoutMs?: number): Promise<T> {
  const r = await runPy(code, env, timeoutMs);
  const last = r.stdout.trim().split('\n').pop() ?? '';
  if (r.code !== 0) throw new Error(`client snippet exited ${r.code}: ${r.stderr.slice(-2000)}`);
  return JSON.parse(last) as T;
}
