// `mgen runtime wheels DIR`: the genuine wheels of a profile's pinned requirement set, downloaded into a
// folder (hash-checked) to carry to a machine with no network, where `mgen runtime install --find-links DIR
// --no-index` installs from it. A no-op when DIR already holds a file matching each wanted pin's hash.
import {createHash} from 'node:crypto';
import {createReadStream} from 'node:fs';
import {mkdir, readdir, readFile, rm, writeFile} from 'node:fs/promises';
import {join, resolve} from 'node:path';
import {RuntimeSetupError, UsageError} from '../../errors.js';
import {pythonRuntimeDir} from '../paths.js';
import {asideRequirementsPath, requirementsPath} from './hash.js';
import {resolveProfile, type Profile} from './profile.js';
import {lastLine, runProcess} from './run-process.js';

export interface Requirement {
  /** Normalized name (lower case, '-' for '_' and '.'). */
  name: string;
  /** The whole logical line (continuations joined). */
  line: string;
  hashes: string[];
}

export function normalizeName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

/** The logical requirement lines of a requirements file (comments and blank lines dropped). */
export function parseRequirements(text: string): Requirement[] {
  const out: Requirement[] = [];
  let cur = '';
  for (const raw of text.split('\n')) {
    const l = raw.trimEnd();
    if (l.endsWith('\\')) {
      cur += l.slice(0, -1) + ' ';
      continue;
    }
    const line = (cur + l).split('#')[0]!.trim();
    cur = '';
    const name = /^([A-Za-z0-9_.-]+)/.exec(line)?.[1];
    if (!name) continue;
    out.push({name: normalizeName(name), line, hashes: [...line.matchAll(/--hash[= ]sha256:([0-9a-f]{64})/g)].map((m) => m[1]!)});
  }
  return out;
}

async function sha256(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** The file in `dir` that satisfies a hash-pinned requirement, if any (only files named after it are hashed). */
async function findPinned(dir: string, names: string[], req: Requirement): Promise<string | null> {
  if (req.hashes.length === 0) return null;
  for (const n of names) {
    if (normalizeName(n.split('-')[0]!) !== req.name && !normalizeName(n).startsWith(`${req.name}-`)) continue;
    if (req.hashes.includes(await sha256(join(dir, n)))) return n;
  }
  return null;
}

export interface WheelsOptions {
  dir: string;
  profile?: 'auto' | Profile;
  /** Only these packages (default: the whole set). */
  only?: string[];
  /** Leave these out (e.g. torch, which the target machine has). */
  skip?: string[];
  /** The interpreter whose pip downloads (default python3); the wheels are picked for its Python and platform. */
  python?: string;
  /** Wheels for a target machine's Python version / platform (pip download --python-version / --platform). */
  pythonVersion?: string;
  platform?: string;
  runtimeDir?: string;
  env?: NodeJS.ProcessEnv;
}

export interface WheelsResult {
  dir: string;
  /** File names in DIR that match the wanted pins. */
  files: string[];
  /** How many were downloaded now (0: everything was there already). */
  downloaded: number;
}

export async function downloadWheels(o: WheelsOptions): Promise<WheelsResult> {
  const env = o.env ?? process.env;
  const profile = resolveProfile(o.profile);
  const dir = resolve(o.dir);
  const runtimeDir = o.runtimeDir ?? pythonRuntimeDir();
  // The aside packages (requirements/aside.txt) come along: an offline install needs their wheels too.
  const aside = await readFile(asideRequirementsPath(runtimeDir), 'utf8').catch(() => '');
  const all = parseRequirements(`${await readFile(requirementsPath(runtimeDir, profile), 'utf8')}\n${aside}`);
  const only = (o.only ?? []).map(normalizeName);
  const skip = (o.skip ?? []).map(normalizeName);
  for (const n of [...only, ...skip]) {
    if (!all.some((r) => r.name === n)) throw new UsageError(`${n} is not in the ${profile} requirement set`, {hint: `see python-runtime/requirements/${profile}.txt`});
  }
  const wanted = all.filter((r) => (only.length === 0 || only.includes(r.name)) && !skip.includes(r.name));
  await mkdir(dir, {recursive: true});
  const have = async () => {
    const names = (await readdir(dir)).filter((n) => !n.startsWith('.'));
    const found = await Promise.all(wanted.map((r) => findPinned(dir, names, r)));
    return {found, missing: wanted.filter((_, i) => found[i] === null)};
  };
  const before = await have();
  if (before.missing.length === 0) return {dir, files: before.found as string[], downloaded: 0};

  const reqFile = join(dir, `.mgen-wheels-${process.pid}.txt`);
  await writeFile(reqFile, before.missing.map((r) => r.line).join('\n') + '\n');
  try {
    const args = ['-m', 'pip', 'download', '--disable-pip-version-check', '--no-input', '--no-deps', '--only-binary', ':all:', '-r', reqFile, '-d', dir];
    if (before.missing.some((r) => r.hashes.length > 0)) args.push('--require-hashes');
    if (o.pythonVersion) args.push('--python-version', o.pythonVersion);
    if (o.platform) args.push('--platform', o.platform);
    const r = await runProcess(o.python ?? 'python3', args, {env, timeoutMs: 3_600_000});
    if (r.code !== 0) {
      throw new RuntimeSetupError(`downloading wheels failed: ${lastLine(r.stderr) || lastLine(r.stdout) || r.error?.message || 'pip failed'}`, {
        detail: (r.stdout + r.stderr).slice(-8000),
      });
    }
  } finally {
    await rm(reqFile, {force: true});
  }
  const after = await have();
  if (after.missing.length > 0) throw new RuntimeSetupError(`pip left no wheel matching the pinned hash of ${after.missing.map((m) => m.name).join(', ')} in ${dir}`);
  return {dir, files: after.found as string[], downloaded: before.missing.length};
}
