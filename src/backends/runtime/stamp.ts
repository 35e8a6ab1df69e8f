// The `mgen-runtime.json` stamp a finished venv carries: what was installed and verified. A venv without a
// valid stamp is treated as broken and rebuilt; with one, provisioning is a no-op (no Python started).
import {existsSync} from 'node:fs';
import {readdir, readFile, rename, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import {mgenHome, venvPython} from '../paths.js';
import type {Profile} from './profile.js';

export const STAMP_FILE = 'mgen-runtime.json';

export interface RuntimeStamp {
  schema: 1;
  ok: true;
  profile: Profile;
  hash: string;
  /** The venv's interpreter (absolute). */
  python: string;
  /** The interpreter the venv was made from. */
  base_python: string;
  system_site_packages: boolean;
  versions: {python: string; torch: string; diffusers: string; transformers: string; cuda: string | null};
  /** Packages left to the base interpreter (system site packages), e.g. torch. */
  reused: string[];
  /** Site-packages of a venv given as --python with --system-site-packages, linked into this one by a .pth file. */
  linked_site_packages?: string[];
  created: string;
  install_seconds: number;
}

export function runtimeRoot(env: NodeJS.ProcessEnv = process.env): string {
  return join(mgenHome(env), 'runtime');
}

export function venvDirFor(profile: Profile, hash: string, env: NodeJS.ProcessEnv = process.env): string {
  return join(runtimeRoot(env), `${profile}-${hash}`);
}

/** The stamp of a venv when it is complete and matches the expected hash; null otherwise. */
export async function readValidStamp(venvDir: string, expectHash?: string): Promise<RuntimeStamp | null> {
  let stamp: RuntimeStamp;
  try {
    stamp = JSON.parse(await readFile(join(venvDir, STAMP_FILE), 'utf8')) as RuntimeStamp;
  } catch {
    return null;
  }
  if (stamp?.schema !== 1 || stamp.ok !== true || typeof stamp.python !== 'string') return null;
  if (expectHash && stamp.hash !== expectHash) return null;
  if (stamp.python !== venvPython(venvDir) || !existsSync(stamp.python)) return null;
  // The venv it borrows torch from is gone (e.g. rebuilt for a new requirement set): this one is broken too.
  if (stamp.linked_site_packages?.some((d) => !existsSync(d))) return null;
  return stamp;
}

export async function writeStamp(venvDir: string, stamp: RuntimeStamp): Promise<void> {
  const p = join(venvDir, STAMP_FILE);
  const tmp = `${p}.tmp-${process.pid}`;
  await writeFile(tmp, JSON.stringify(stamp, null, 2) + '\n');
  await rename(tmp, p);
}

/** Every complete venv under $MGEN_HOME/runtime (newest first). */
export async function listStamps(env: NodeJS.ProcessEnv = process.env): Promise<RuntimeStamp[]> {
  const root = runtimeRoot(env);
  const names = await readdir(root).catch(() => [] as string[]);
  const out: RuntimeStamp[] = [];
  for (const n of names) {
    if (!/^(cpu|cuda)-[0-9a-f]+$/.test(n)) continue;
    const s = await readValidStamp(join(root, n));
    if (s) out.push(s);
  }
  return out.sort((a, b) => b.created.localeCompare(a.created));
}
