// Runs an oclif command class in-process with a given environment, capturing stdout, stderr and the exit code.
import type {Command} from '@oclif/core';

export interface CliResult {
  stdout: string;
  stderr: string;
  code: number;
}

export async function runCli(cmd: typeof Command, argv: string[], env: Record<string, string | undefined>): Promise<CliResult> {
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) {
    saved[k] = process.env[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  let stdout = '';
  let stderr = '';
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((c: string | Uint8Array) => ((stdout += String(c)), true)) as typeof process.stdout.write;
  process.stderr.write = ((c: string | Uint8Array) => ((stderr += String(c)), true)) as typeof process.stderr.write;
  process.exitCode = undefined;
  try {
    await (cmd as unknown as {run(argv: string[], root: string): Promise<unknown>}).run(argv, process.cwd());
  } catch (err) {
    stderr += String((err as Error).message);
    process.exitCode ??= 1;
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = undefined;
  return {stdout, stderr, code};
}
