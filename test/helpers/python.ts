// The Python interpreter for interoperability tests: $MGEN_PYTHON, else the provisioned runtime interpreter
// (`./bin/mgen runtime which`). Under CI a missing interpreter is a failure, not a skip.
import {execFile, execFileSync} from 'node:child_process';
import {existsSync} from 'node:fs';
import {join} from 'node:path';

let cached: string | null | undefined;

export function findPython(): string | undefined {
  if (cached !== undefined) return cached ?? undefined;
  cached = null;
  const fromEnv = process.env.MGEN_PYTHON;
  if (fromEnv && existsSync(fromEnv)) cached = fromEnv;
  else {
    try {
      const out = execFileSync(join(process.cwd(), 'bin', 'mgen'), ['runtime', 'which'], {encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'ignore']}).trim();
      const line = out.split('\n').pop()?.trim();
      if (line && existsSync(line)) cached = line;
    } catch {
      /* no runtime provisioned */
    }
  }
  return cached ?? undefined;
}

/** True when a Python test may be skipped (never on CI). */
export function pythonMissingAllowed(): boolean {
  return process.env.CI !== 'true' && process.env.CI !== '1';
}

/** Runs a Python snippet asynchronously (the loopback servers keep serving); resolves stdout. */
export function runPython(python: string, code: string, env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(python, ['-c', code], {env: {...process.env, ...env}, timeout: timeoutMs, maxBuffer: 16 << 20}, (err, stdout, stderr) => {
      if (err) reject(new Error(`python failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}
