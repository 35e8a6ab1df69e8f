// Content hashes that name runtime folders: a venv is keyed by its requirement set, builtin models by
// the runtime package sources that build them.
import {createHash} from 'node:crypto';
import {readdir, readFile} from 'node:fs/promises';
import {join, relative, sep} from 'node:path';
import {NotFoundError} from '../../errors.js';
import type {Profile} from './profile.js';

export function shortHash(h: ReturnType<typeof createHash>): string {
  return h.digest('hex').slice(0, 12);
}

export function requirementsPath(runtimeDir: string, profile: Profile): string {
  return join(runtimeDir, 'requirements', `${profile}.txt`);
}

/** The packages installed beside site-packages (<venv>/aside), for every profile: see requirements/aside.txt. */
export function asideRequirementsPath(runtimeDir: string): string {
  return join(runtimeDir, 'requirements', 'aside.txt');
}

/** Hash of what goes into the venv: the profile's requirements file, aside.txt and pyproject.toml when present.
 * The mgen_runtime package itself runs from python-runtime/ on PYTHONPATH, so editing it needs no new venv. */
export async function venvHash(runtimeDir: string, profile: Profile): Promise<string> {
  const req = requirementsPath(runtimeDir, profile);
  const text = await readFile(req).catch(() => {
    throw new NotFoundError(`no requirements file for profile ${profile}: ${req}`);
  });
  const h = createHash('sha256').update(`profile=${profile}\0`).update(text);
  const aside = await readFile(asideRequirementsPath(runtimeDir)).catch(() => null);
  if (aside) h.update('\0aside\0').update(aside);
  const pyproject = await readFile(join(runtimeDir, 'pyproject.toml')).catch(() => null);
  if (pyproject) h.update('\0pyproject\0').update(pyproject);
  return shortHash(h);
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    const entries = await readdir(d, {withFileTypes: true}).catch(() => []);
    for (const e of entries) {
      if (e.name === '__pycache__' || e.name.startsWith('.')) continue;
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && !e.name.endsWith('.pyc')) out.push(p);
    }
  };
  await walk(dir);
  return out.sort();
}

/** Hash of the mgen_runtime package sources (what builds tiny models and runs the worker). */
export async function packageSourcesHash(runtimeDir: string): Promise<string> {
  const pkg = join(runtimeDir, 'mgen_runtime');
  const files = await listFiles(pkg);
  if (files.length === 0) throw new NotFoundError(`the Python runtime package is missing: ${pkg}`);
  const h = createHash('sha256');
  for (const f of files) h.update(relative(pkg, f).split(sep).join('/')).update('\0').update(await readFile(f)).update('\0');
  return shortHash(h);
}
