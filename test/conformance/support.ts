// Shared setup for the conformance suite: the real client libraries (Python ones in the venv that
// scripts/test-clients.mjs provisions, Node ones from devDependencies) against a real `mgen serve` on a tiny
// builtin. One serve per test file (spawnServe in test/runtime/support.ts).
import {spawn, type ChildProcess} from 'node:child_process';
import {existsSync} from 'node:fs';
import {createServer} from 'node:net';
import {join} from 'node:path';
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

export interface RunpodHandler {
  proc: ChildProcess;
  /** The SDK's local API (`--rp_serve_api`), e.g. http://127.0.0.1:PORT. */
  api: string;
  /** The last of what the handler wrote to stderr. */
  log: () => string;
}

/** The RunPod handler under the SDK's local API, from the client venv (stdlib and the SDK, no torch), with `env` added
 * (MGEN_SERVE_URL, MODEL_ID, ...); resolves once the API answers. */
export async function spawnRunpodHandler(env: NodeJS.ProcessEnv): Promise<RunpodHandler> {
  const port = await new Promise<number>((res) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as {port: number}).port;
      s.close(() => res(p));
    });
  });
  const api = `http://127.0.0.1:${port}`;
  const proc = spawn(clientPython(), ['-m', 'mgen_runtime.runpod_handler', '--rp_serve_api', '--rp_api_host', '127.0.0.1', '--rp_api_port', String(port)], {
    cwd: ROOT,
    env: {...process.env, PYTHONPATH: join(ROOT, 'python-runtime'), ...env},
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  proc.stderr!.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-10_000)));
  for (let i = 0; i < 600; i++) {
    if (proc.exitCode !== null) throw new Error(`the handler exited: ${log}`);
    if (await fetch(`${api}/docs`).then((r) => r.ok, () => false)) return {proc, api, log: () => log};
    await new Promise((r) => setTimeout(r, 100));
  }
  proc.kill('SIGTERM');
  throw new Error(`the handler did not come up: ${log}`);
}
