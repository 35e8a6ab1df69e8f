// Runs a child process to completion, capturing its output (pip, python probes, nvidia-smi).
import {spawn} from 'node:child_process';

export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  error?: Error;
}

export function runProcess(
  cmd: string,
  args: string[],
  opts: {env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; onLine?: (line: string) => void} = {},
): Promise<ProcessResult> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let settled = false;
    const child = spawn(cmd, args, {env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe']});
    const finish = (r: ProcessResult) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      resolve(r);
    };
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    const onData = (which: 'out' | 'err') => (chunk: Buffer) => {
      const s = chunk.toString('utf8');
      if (which === 'out') stdout += s;
      else stderr += s;
      if (opts.onLine) for (const l of s.split('\n')) if (l.trim()) opts.onLine(l.trim());
    };
    child.stdout.on('data', onData('out'));
    child.stderr.on('data', onData('err'));
    child.on('error', (error) => finish({code: null, signal: null, stdout, stderr, error}));
    child.on('close', (code, signal) => finish({code, signal, stdout, stderr}));
  });
}

/** The last line of output that says something, for one-line error messages. */
export function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  for (let i = lines.length - 1; i >= 0; i--) if (/^(ERROR|error:|[A-Za-z_.]+Error\b)/.test(lines[i]!)) return lines[i]!;
  return lines.at(-1) ?? '';
}
