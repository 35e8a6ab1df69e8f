// Where mgen keeps its runtime, builtin models and caches, and where the bundled python-runtime/ lives.
import {homedir} from 'node:os';
import {join} from 'node:path';
import {fileURLToPath} from 'node:url';

/** $MGEN_HOME, default ~/.cache/mgen. */
export function mgenHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.MGEN_HOME && env.MGEN_HOME.length > 0 ? env.MGEN_HOME : join(homedir(), '.cache', 'mgen');
}

/** The package root (src/backends -> ../..; dist/backends -> ../..). */
export function packageRoot(): string {
  return fileURLToPath(new URL('../../', import.meta.url));
}

/** The bundled Python package folder (holds mgen_runtime/ and requirements/). */
export function pythonRuntimeDir(): string {
  return join(packageRoot(), 'python-runtime');
}

/** bin/python inside a venv (Scripts/python.exe on Windows). */
export function venvPython(venvDir: string): string {
  return process.platform === 'win32' ? join(venvDir, 'Scripts', 'python.exe') : join(venvDir, 'bin', 'python');
}

/** `~` and `~/...` as the user's home, as a shell would expand them in a MODEL_ID or a --model-dir. */
export function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? homedir() + p.slice(1) : p;
}
