// Which requirements profile to provision: cuda when nvidia-smi exists and answers, else cpu.
import {spawnSync} from 'node:child_process';
import {UsageError} from '../../errors.js';

export type Profile = 'cpu' | 'cuda';
export const PROFILES: Profile[] = ['cpu', 'cuda'];

export function hasWorkingNvidiaSmi(): boolean {
  const r = spawnSync('nvidia-smi', ['-L'], {timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore']});
  return r.status === 0 && /GPU \d+/.test(String(r.stdout ?? ''));
}

export function resolveProfile(requested: string | undefined): Profile {
  const p = requested ?? 'auto';
  if (p === 'auto') return hasWorkingNvidiaSmi() ? 'cuda' : 'cpu';
  if (p === 'cpu' || p === 'cuda') return p;
  throw new UsageError(`unknown runtime profile: ${p}`, {hint: 'use auto, cpu or cuda'});
}
