// Which interpreter runs the worker: $MGEN_PYTHON (no provisioning), else the provisioned venv for this
// machine's profile, installed on first use.
import {existsSync} from 'node:fs';
import {RuntimeSetupError} from '../../errors.js';
import {installRuntime, plannedRuntime, stageLineOffTty, type InstallOptions} from './install.js';
import {listStamps, type RuntimeStamp} from './stamp.js';

export interface RuntimeLocation {
  python: string;
  source: 'MGEN_PYTHON' | 'provisioned' | 'installed-now';
  stamp?: RuntimeStamp;
  seconds?: number;
}

/** The runtime that already exists, without installing or starting anything; null when there is none. */
export async function findRuntime(env: NodeJS.ProcessEnv = process.env): Promise<RuntimeLocation | null> {
  if (env.MGEN_PYTHON) {
    if (!existsSync(env.MGEN_PYTHON)) throw new RuntimeSetupError(`MGEN_PYTHON points at a missing interpreter: ${env.MGEN_PYTHON}`);
    return {python: env.MGEN_PYTHON, source: 'MGEN_PYTHON'};
  }
  const planned = await plannedRuntime({env}).catch(() => null);
  if (planned?.stamp) return {python: planned.stamp.python, source: 'provisioned', stamp: planned.stamp};
  // Another profile's runtime that is current for its own requirement set (e.g. cpu on a GPU machine).
  for (const s of await listStamps(env)) {
    const p = await plannedRuntime({env, profile: s.profile}).catch(() => null);
    if (p?.stamp && p.stamp.hash === s.hash) return {python: s.python, source: 'provisioned', stamp: s};
  }
  return null;
}

/** The runtime to use now, provisioning it (with progress) on first use. */
export async function ensureRuntime(opts: InstallOptions = {}): Promise<RuntimeLocation> {
  const env = opts.env ?? process.env;
  const found = await findRuntime(env);
  if (found) return found;
  // Provisioning on first use (`mgen generate` on a fresh machine) takes a minute or more: off a terminal, where the
  // caller's spinner shows nothing, each stage is one line on stderr.
  const r = await installRuntime({onStageLine: stageLineOffTty(), ...opts, env});
  return {python: r.stamp.python, source: 'installed-now', stamp: r.stamp, seconds: r.seconds};
}
