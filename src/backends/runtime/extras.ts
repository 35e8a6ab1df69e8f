// Optional requirement sets installed on top of a provisioned runtime (`mgen runtime install --extra runpod`):
// python-runtime/requirements/<extra>.txt, exact pins that never touch torch, so the venv's stamp stays valid.
import {existsSync} from 'node:fs';
import {join} from 'node:path';
import {RuntimeSetupError} from '../../errors.js';
import {pythonRuntimeDir} from '../paths.js';
import {lastLine, runProcess} from './run-process.js';

export async function installExtra(o: {
  python: string;
  extra: string;
  /** Install into this folder (pip --target) instead of the venv itself. */
  target?: string;
  findLinks?: string;
  noIndex?: boolean;
  runtimeDir?: string;
  onProgress?: (text: string) => void;
}): Promise<void> {
  const req = join(o.runtimeDir ?? pythonRuntimeDir(), 'requirements', `${o.extra}.txt`);
  if (!existsSync(req)) throw new RuntimeSetupError(`no requirements for the extra ${o.extra}: ${req}`);
  o.onProgress?.(`installing the ${o.extra} extra`);
  const args = ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '-r', req];
  if (o.target) args.push('--target', o.target);
  if (o.findLinks) args.push('--find-links', o.findLinks);
  if (o.noIndex) args.push('--no-index');
  const r = await runProcess(o.python, args, {timeoutMs: 1_800_000});
  if (r.code !== 0) throw new RuntimeSetupError(`installing the ${o.extra} extra failed: ${lastLine(r.stderr || r.stdout)}`, {detail: r.stderr});
}
