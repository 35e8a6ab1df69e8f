// Shared setup for runtime tests: the real Python runtime ($MGEN_PYTHON or the provisioned venv), tiny
// models built by the runtime itself (cached under a test MGEN_HOME, keyed by the runtime sources), and
// a runner for the built CLI (bin/mgen -> dist/, so `npm run build` first).
import {spawn, type ChildProcessWithoutNullStreams} from 'node:child_process';
import {createHash} from 'node:crypto';
import {existsSync, readFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join, resolve} from 'node:path';
import {resolveBuiltin, type BuiltinModel} from '../../src/backends/builtin.js';
import {findRuntime} from '../../src/backends/runtime/resolve.js';

export const ROOT = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', '..');
export const TEST_HOME = process.env.MGEN_TEST_HOME ?? join(tmpdir(), `mgen-runtime-tests-${process.getuid?.() ?? 0}`);

let python: string | undefined;
export async function testPython(): Promise<string> {
  if (python) return python;
  const loc = await findRuntime();
  if (!loc) throw new Error('runtime tests need a Python runtime: run `./bin/mgen runtime install` or set MGEN_PYTHON');
  python = loc.python;
  return python;
}

export function testEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {...process.env, MGEN_HOME: TEST_HOME, MGEN_PYTHON: python, NO_COLOR: '1', HF_HUB_OFFLINE: '1', ...extra};
}

export async function tiny(name: string): Promise<BuiltinModel> {
  const py = await testPython();
  return resolveBuiltin(`builtin:${name}`, {env: testEnv(), python: py});
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function cli(
  args: string[],
  opts: {env?: NodeJS.ProcessEnv; cwd?: string; input?: string; onStderr?: (s: string, child: ReturnType<typeof spawn>) => void; timeoutMs?: number} = {},
): Promise<CliResult> {
  const bin = join(ROOT, 'bin', 'mgen');
  if (!existsSync(join(ROOT, 'dist', 'commands', 'generate.js'))) throw new Error('build first: npm run build');
  return new Promise((res) => {
    const child = spawn(process.execPath, [bin, ...args], {cwd: opts.cwd ?? ROOT, env: testEnv(opts.env), stdio: ['pipe', 'pipe', 'pipe']});
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 240_000);
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      opts.onStderr?.(stderr, child);
    });
    child.stdin.end(opts.input ?? '');
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      res({code, signal, stdout, stderr});
    });
  });
}

/** Whether a process with this pid exists (and is not a zombie). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) Z /.test(stat);
  } catch {
    return true;
  }
}

/** The "Lora hashes" entry A1111 writes for a safetensors LoRA: `<name>: <sha256 of the bytes after the header, 12 hex>`. */
export function a1111LoraEntry(file: string): string {
  const bytes = readFileSync(file);
  const start = 8 + Number(bytes.readBigUInt64LE(0));
  const name = file.split('/').pop()!.replace(/\.safetensors$/, '');
  return `${name}: ${createHash('sha256').update(bytes.subarray(start)).digest('hex').slice(0, 12)}`;
}

export interface SpawnedServe {
  proc: ChildProcessWithoutNullStreams;
  url: string;
  /** Everything the server wrote to stderr so far. */
  stderr: () => string;
}

/** `mgen serve ARGS --port 0 --json` as its own process; resolves with its URL once it prints the ready line. */
export function spawnServe(args: string[], timeoutMs: number): Promise<SpawnedServe> {
  const proc = spawn(process.execPath, [join(ROOT, 'bin', 'mgen'), 'serve', ...args, '--port', '0', '--json'], {cwd: ROOT, env: testEnv()});
  let err = '';
  proc.stderr.on('data', (c: Buffer) => (err += c.toString()));
  return new Promise<SpawnedServe>((res, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`serve did not get ready: ${err}`)), timeoutMs);
    proc.stdout.on('data', (c: Buffer) => {
      buf += c.toString();
      const line = buf.split('\n').find((l) => l.startsWith('{'));
      if (line) {
        clearTimeout(timer);
        res({proc, url: (JSON.parse(line) as {url: string}).url, stderr: () => err});
      }
    });
    proc.on('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
}
