// Provisioning: a venv per (profile, requirement set) under $MGEN_HOME/runtime, built in a temp folder and
// renamed into place only once pip succeeded and torch + diffusers import, then stamped. A valid stamp makes
// a second run a no-op that starts no Python.
import {existsSync} from 'node:fs';
import {mkdir, readFile, rename, rm, symlink, writeFile} from 'node:fs/promises';
import {dirname, join} from 'node:path';
import {RuntimeSetupError} from '../../errors.js';
import {withLock} from '../lock.js';
import {mgenHome, pythonRuntimeDir, venvPython} from '../paths.js';
import {asideRequirementsPath, venvHash, requirementsPath} from './hash.js';
import {linkSitePackages, probeBaseInterpreter} from './base-python.js';
import {resolveProfile, type Profile} from './profile.js';
import {lastLine, runProcess} from './run-process.js';
import {parseRequirements} from './wheels.js';
import {readValidStamp, venvDirFor, writeStamp, type RuntimeStamp} from './stamp.js';

export interface InstallOptions {
  profile?: 'auto' | Profile;
  /** The interpreter to make the venv from (default: python3 on PATH). */
  python?: string;
  systemSitePackages?: boolean;
  findLinks?: string;
  noIndex?: boolean;
  torchIndexUrl?: string;
  /** Rebuild even when a valid stamp exists. */
  force?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Progress text for a spinner. */
  onProgress?: (text: string) => void;
  /** One line per stage (creating the venv, installing, checking), for output that is not a terminal, where a
   *  spinner shows nothing. None by default; ensureRuntime (provisioning on first use) passes `stageLineOffTty()`. */
  onStageLine?: (line: string) => void;
  /** Overrides the bundled python-runtime/ (tests). */
  runtimeDir?: string;
}

export interface InstallResult {
  stamp: RuntimeStamp;
  venvDir: string;
  /** False when a valid stamp was found and nothing was done. */
  installed: boolean;
  seconds: number;
}

/** Where the venv for these options lives and whether it is already complete (no Python started). */
export async function plannedRuntime(opts: {profile?: 'auto' | Profile; env?: NodeJS.ProcessEnv; runtimeDir?: string} = {}) {
  const env = opts.env ?? process.env;
  const profile = resolveProfile(opts.profile);
  const runtimeDir = opts.runtimeDir ?? pythonRuntimeDir();
  const hash = await venvHash(runtimeDir, profile);
  const venvDir = venvDirFor(profile, hash, env);
  return {profile, hash, venvDir, runtimeDir, stamp: await readValidStamp(venvDir, hash)};
}

export async function installRuntime(opts: InstallOptions = {}): Promise<InstallResult> {
  const t0 = Date.now();
  const env = opts.env ?? process.env;
  const planned = await plannedRuntime(opts);
  if (planned.stamp && !opts.force) return {stamp: planned.stamp, venvDir: planned.venvDir, installed: false, seconds: (Date.now() - t0) / 1000};
  await mkdir(join(mgenHome(env), 'runtime'), {recursive: true});
  return withLock(`${planned.venvDir}.lock`, async () => {
    // Someone else may have finished it while we waited for the lock.
    const again = await readValidStamp(planned.venvDir, planned.hash);
    if (again && !opts.force) return {stamp: again, venvDir: planned.venvDir, installed: false, seconds: (Date.now() - t0) / 1000};
    const stamp = await buildVenv(planned.profile, planned.hash, planned.venvDir, planned.runtimeDir, opts, env, t0);
    return {stamp, venvDir: planned.venvDir, installed: true, seconds: (Date.now() - t0) / 1000};
  });
}

async function buildVenv(
  profile: Profile,
  hash: string,
  venvDir: string,
  runtimeDir: string,
  opts: InstallOptions,
  env: NodeJS.ProcessEnv,
  t0: number,
): Promise<RuntimeStamp> {
  const spinner = opts.onProgress ?? (() => {});
  const stageLine = opts.onStageLine;
  // A stage is spinner text on a terminal and one printed line off one (a first install takes a minute or more).
  const stage = (text: string) => {
    spinner(text);
    stageLine?.(text);
  };
  const progress = spinner;
  const base = opts.python ?? 'python3';
  const given = await probeBaseInterpreter(base, env);
  // A venv given with --system-site-packages: its own site-packages are linked in (see base-python.ts).
  const linked = opts.systemSitePackages ? given.venvSitePackages : [];
  // Its pip then comes along too, so the new venv needs none of its own: no ensurepip (seconds), and no
  // older setuptools of its own shadowing the linked one (pip would reinstall it).
  const borrowPip = linked.length > 0 && given.venvPip;

  const tmp = `${venvDir}.tmp-${process.pid}-${Date.now()}`;
  await rm(tmp, {recursive: true, force: true});
  try {
    stage(`creating a ${profile} venv`);
    const venvArgs = ['-m', 'venv', ...(opts.systemSitePackages ? ['--system-site-packages'] : []), ...(borrowPip ? ['--without-pip'] : []), tmp];
    const mk = await runProcess(base, venvArgs, {env, timeoutMs: 300_000});
    if (mk.code !== 0) throw new RuntimeSetupError(`creating the venv failed: ${lastLine(mk.stderr + mk.stdout)}`, {hint: 'install the python3-venv package'});
    const py = venvPython(tmp);
    if (linked.length > 0) {
      stage(`linking the site-packages of ${base}`);
      await linkSitePackages(py, linked, env);
    }

    // With --system-site-packages, reuse a torch the base interpreter already has (lent GPU machines).
    const reused: string[] = [];
    if (opts.systemSitePackages) {
      // Its metadata is enough here (importing torch costs seconds); the check after pip imports it for real.
      const probe = await runProcess(py, ['-c', 'from importlib.metadata import version; print(version("torch"))'], {env, timeoutMs: 60_000});
      if (probe.code === 0) reused.push(`torch==${probe.stdout.trim()}`);
    }
    const reqFile = requirementsPath(runtimeDir, profile);
    const reqText = await readFile(reqFile, 'utf8');
    const {text: req, hasHashes} = filterRequirements(reqText, reused.length > 0 ? ['torch'] : []);
    const reqUsed = join(tmp, 'mgen-requirements.txt');
    await writeFile(reqUsed, req);

    stage(`installing ${installSummary(req, profile, reused)} with pip`);
    const pipArgs = ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '-r', reqUsed];
    if (hasHashes) pipArgs.push('--require-hashes');
    if (opts.findLinks) pipArgs.push('--find-links', opts.findLinks);
    if (opts.noIndex) pipArgs.push('--no-index');
    if (opts.torchIndexUrl) pipArgs.push('--extra-index-url', opts.torchIndexUrl);
    const pipEnv = {...env, PIP_CACHE_DIR: env.PIP_CACHE_DIR ?? join(mgenHome(env), 'pip-cache')};
    const pip = await runProcess(py, pipArgs, {
      env: pipEnv,
      onLine: (l) => {
        const m = /^(Collecting|Installing collected packages|Successfully installed)\s*(.*)$/.exec(l);
        if (m) progress(`pip: ${m[1]} ${m[2]}`.slice(0, 100));
      },
    });
    if (pip.code !== 0) {
      const last = lastLine(pip.stderr) || lastLine(pip.stdout);
      const missing = /No matching distribution found for (\S+)/.exec(pip.stderr)?.[1];
      if (missing && opts.noIndex) {
        throw new RuntimeSetupError(`no wheel for ${missing}${opts.findLinks ? ` in ${opts.findLinks}` : ''} (--no-index)`, {
          detail: (pip.stdout + pip.stderr).slice(-8000),
          hint: `add it with \`mgen runtime wheels DIR --only ${missing.split(/[=<>!~]/)[0]}\` on a machine with network`,
        });
      }
      throw new RuntimeSetupError(`pip install failed: ${last.replace(/^ERROR:\s*/, '')}`, {detail: (pip.stdout + pip.stderr).slice(-8000), hint: pipHint(last)});
    }

    // Packages kept off sys.path until the code that needs one asks (mgen_runtime/aside.py): no dependencies of
    // their own beyond what the profile pinned.
    const asideFile = asideRequirementsPath(runtimeDir);
    const aside = existsSync(asideFile) ? await readFile(asideFile, 'utf8') : null;
    // A given venv (--system-site-packages) that holds the same aside set lends it, as it lends its site-packages.
    const lent = aside !== null && linked.length > 0 ? asideHolding(dirname(dirname(base)), aside) : null;
    if (lent) {
      await symlink(lent, join(tmp, 'aside'));
    } else if (aside !== null) {
      stage(`installing ${parseRequirements(aside).map((r) => r.name).join(', ')} aside`);
      const asideArgs = ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '--no-deps', '--target', join(tmp, 'aside'), '-r', asideFile];
      if (/--hash=/.test(aside)) asideArgs.push('--require-hashes');
      if (opts.findLinks) asideArgs.push('--find-links', opts.findLinks);
      if (opts.noIndex) asideArgs.push('--no-index');
      const r = await runProcess(py, asideArgs, {env: pipEnv});
      if (r.code !== 0) {
        const last = lastLine(r.stderr) || lastLine(r.stdout);
        throw new RuntimeSetupError(`pip install of the aside packages failed: ${last.replace(/^ERROR:\s*/, '')}`, {detail: (r.stdout + r.stderr).slice(-8000), hint: pipHint(last)});
      }
    }

    stage('checking that torch and diffusers import');
    const versions = await verifyImports(py, env, runtimeDir);
    const stamp: RuntimeStamp = {
      schema: 1,
      ok: true,
      profile,
      hash,
      python: venvPython(venvDir),
      base_python: base,
      system_site_packages: Boolean(opts.systemSitePackages),
      versions,
      reused,
      ...(linked.length > 0 ? {linked_site_packages: linked} : {}),
      created: new Date().toISOString(),
      install_seconds: Math.round((Date.now() - t0) / 100) / 10,
    };
    await writeStamp(tmp, stamp);
    // Swap into place: a broken old venv (no valid stamp) is removed first.
    if (existsSync(venvDir)) await rm(venvDir, {recursive: true, force: true});
    await rename(tmp, venvDir);
    return stamp;
  } catch (err) {
    await rm(tmp, {recursive: true, force: true});
    throw err;
  }
}

/** `<prefix>/aside` when it holds every `name==version` pinned in `aside` (by their .dist-info folders), else null. */
export function asideHolding(prefix: string, aside: string): string | null {
  const dir = join(prefix, 'aside');
  const pins = parseRequirements(aside).map((r) => ({name: r.name, version: /==\s*([^\s;]+)/.exec(r.line)?.[1]}));
  if (pins.length === 0 || !existsSync(dir)) return null;
  // A .dist-info folder is named with the normalized name's '-' as '_'.
  const all = pins.every((p) => p.version && existsSync(join(dir, `${p.name.replace(/-/g, '_')}-${p.version}.dist-info`)));
  return all ? dir : null;
}

const VERIFY = `
import json, sys
import torch, diffusers, transformers
print(json.dumps({"python": "%d.%d.%d" % sys.version_info[:3], "torch": torch.__version__,
  "diffusers": diffusers.__version__, "transformers": transformers.__version__, "cuda": torch.version.cuda}))
`;

export async function verifyImports(python: string, env: NodeJS.ProcessEnv, runtimeDir = pythonRuntimeDir()): Promise<RuntimeStamp['versions']> {
  const r = await runProcess(python, ['-c', VERIFY], {env: {...env, PYTHONPATH: runtimeDir}, timeoutMs: 600_000});
  if (r.code !== 0) {
    throw new RuntimeSetupError(`the new runtime cannot import torch/diffusers: ${lastLine(r.stderr)}`, {
      detail: r.stderr.slice(-4000),
      hint: 'run `mgen runtime install --force` or `mgen runtime doctor`',
    });
  }
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as RuntimeStamp['versions'];
}

/** Drops the named packages from a requirements file (continuation lines included); says whether it pins hashes. */
export function filterRequirements(text: string, drop: string[]): {text: string; hasHashes: boolean} {
  const logical: string[] = [];
  let cur = '';
  for (const raw of text.split('\n')) {
    if (raw.trimEnd().endsWith('\\')) {
      cur += raw.trimEnd().slice(0, -1) + ' ';
      continue;
    }
    logical.push(cur + raw);
    cur = '';
  }
  if (cur) logical.push(cur);
  const kept = logical.filter((l) => {
    const name = /^\s*([A-Za-z0-9_.-]+)/.exec(l.split('#')[0] ?? '')?.[1]?.toLowerCase();
    return !(name && drop.includes(name.replace(/_/g, '-')));
  });
  return {text: kept.join('\n'), hasHashes: kept.some((l) => /--hash[= ]/.test(l))};
}

/** `mgen: <stage>` lines on stderr when it is not a terminal (a spinner shows the stages on one). */
export function stageLineOffTty(): ((line: string) => void) | undefined {
  if (process.stderr.isTTY) return undefined;
  return (line) => process.stderr.write(`mgen: ${line}\n`);
}

/** `torch 2.13.0 (cpu), diffusers 0.42.1 and 23 more packages` from the requirements pip is given. */
export function installSummary(requirements: string, profile: Profile, reused: string[] = []): string {
  const pins = new Map<string, string>();
  for (const line of requirements.split('\n')) {
    const m = /^\s*([A-Za-z0-9_.-]+)\s*==\s*([^\s;\\]+)/.exec(line);
    if (m) pins.set(m[1]!.toLowerCase().replace(/_/g, '-'), m[2]!);
  }
  const named: string[] = [];
  const torch = pins.get('torch');
  if (torch) named.push(`torch ${torch} (${profile})`);
  else if (reused.length) named.push(`${reused[0]!.replace('==', ' ')} (reused)`);
  if (pins.has('diffusers')) named.push(`diffusers ${pins.get('diffusers')}`);
  const more = [...pins.keys()].filter((k) => k !== 'torch' && k !== 'diffusers').length;
  if (!named.length) return `${pins.size} packages`;
  return more ? `${named.join(', ')} and ${more} more package${more === 1 ? '' : 's'}` : named.join(' and ');
}

function pipHint(last: string): string {
  if (/hash/i.test(last)) return 'a downloaded file does not match the pinned hash; clear $MGEN_HOME/pip-cache and retry';
  if (/No matching distribution|Could not find a version/i.test(last)) {
    return 'pip could not find a package: check the network, or pass --find-links DIR / --torch-index-url URL';
  }
  if (/No space left/i.test(last)) return 'free some disk space under $MGEN_HOME';
  return 'run again with --verbose to see pip\'s output';
}
