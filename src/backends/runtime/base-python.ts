// The interpreter a runtime venv is made from (`--python`), and how its packages reach the venv with
// `--system-site-packages`. `python -m venv --system-site-packages` exposes the *base* installation's
// site-packages, so when the given interpreter is itself a venv (a provisioned runtime, a RunPod image's
// venv) its own site-packages would stay invisible and pip would reinstall torch. Those folders are added
// to the new venv with a .pth file instead, after the venv's own site-packages and before the base's.
import {writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import {RuntimeSetupError} from '../../errors.js';
import {runProcess} from './run-process.js';

export interface BaseInterpreter {
  python: string;
  version: string;
  /** True when the interpreter runs inside a venv (sys.prefix != sys.base_prefix). */
  isVenv: boolean;
  /** The venv's own site-packages folders (empty when it is not a venv). */
  venvSitePackages: string[];
  /** Whether the interpreter has a pip of its venv's own (not the base installation's), which linking brings along. */
  venvPip: boolean;
}

const PROBE = `
import json, os, site, sys
prefix = os.path.realpath(sys.prefix)
own = [p for p in getattr(site, "getsitepackages", lambda: [])() if os.path.isdir(p) and os.path.realpath(p).startswith(prefix + os.sep)]
try:
    import importlib.util
    spec = importlib.util.find_spec("pip")
    pip_at = os.path.realpath(spec.origin) if spec and spec.origin else None
except Exception:
    pip_at = None
venv_pip = bool(pip_at) and not pip_at.startswith(os.path.realpath(sys.base_prefix) + os.sep)
print(json.dumps({"version": "%d.%d.%d" % sys.version_info[:3], "venv": sys.prefix != sys.base_prefix, "site": own, "pip": venv_pip}))
`;

export async function probeBaseInterpreter(python: string, env: NodeJS.ProcessEnv): Promise<BaseInterpreter> {
  const r = await runProcess(python, ['-I', '-c', PROBE], {env, timeoutMs: 60_000});
  let out: {version: string; venv: boolean; site: string[]; pip: boolean} | undefined;
  try {
    out = r.code === 0 ? JSON.parse(r.stdout.trim().split('\n').at(-1)!) : undefined;
  } catch {
    out = undefined;
  }
  if (!out) {
    throw new RuntimeSetupError(`cannot run the Python interpreter ${python}${r.error ? `: ${r.error.message}` : ''}`, {
      hint: 'install Python >= 3.10 or pass --python PATH',
    });
  }
  const [maj, min] = out.version.split('.').map(Number);
  if (maj! < 3 || (maj === 3 && min! < 10)) {
    throw new RuntimeSetupError(`Python ${out.version} at ${python} is too old (need >= 3.10)`, {hint: 'pass --python PATH to a newer one'});
  }
  return {python, version: out.version, isVenv: out.venv, venvSitePackages: out.venv ? out.site : [], venvPip: out.venv && out.pip};
}

export const LINK_FILE = 'mgen-base-site.pth';

/** Makes the given folders importable in the venv whose interpreter is `venvPy` (their own .pth files included). */
export async function linkSitePackages(venvPy: string, dirs: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const r = await runProcess(venvPy, ['-I', '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], {env, timeoutMs: 60_000});
  const purelib = r.stdout.trim().split('\n').at(-1);
  if (r.code !== 0 || !purelib) throw new RuntimeSetupError(`cannot find the new venv's site-packages (${venvPy})`);
  const lines = dirs.map((d) => `import site; site.addsitedir(${JSON.stringify(d)})`);
  const file = join(purelib, LINK_FILE);
  await writeFile(file, `${lines.join('\n')}\n`);
  return file;
}
