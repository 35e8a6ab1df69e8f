// The serve state file: $MGEN_HOME/run/<hash of model id + load options>.json, written when the server is ready
// and removed on exit, so `mgen generate` on this machine can find a warm server of the same model. No token in it.
// The key is the model id plus the load options (flags) rather than the load plan itself: `generate` must find
// the server before it starts a worker, and the plan needs the worker's answer (device, memory) to be built.
// The plan's hash is recorded in the file for diagnostics.
import {createHash} from 'node:crypto';
import {mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import type {LoadPlan} from '../worker/types.js';
import {stableStringify} from './queue.js';

export interface ServeState {
  pid: number;
  url: string;
  model_id: string;
  /** Hash of the load options (what the key is made of). */
  load_hash: string;
  plan_hash: string;
  /** Whether requests need a bearer token (the token itself is never written). */
  auth: boolean;
  started: string;
}

export function planHash(plan: LoadPlan): string {
  return createHash('sha256').update(stableStringify(plan)).digest('hex').slice(0, 16);
}

/** Load options that decide what gets loaded (model id included), normalized. */
export type LoadKey = Record<string, unknown> & {modelId: string};

export function loadHash(key: LoadKey): string {
  return createHash('sha256').update(stableStringify(key)).digest('hex').slice(0, 24);
}

export function runDir(home: string): string {
  return join(home, 'run');
}

export function stateFilePath(home: string, key: LoadKey): string {
  return join(runDir(home), `${loadHash(key)}.json`);
}

/** Writes the state file atomically (temp + rename); returns its path. */
export function writeState(home: string, key: LoadKey, state: ServeState): string {
  const file = stateFilePath(home, key);
  mkdirSync(runDir(home), {recursive: true});
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n', {mode: 0o600});
  renameSync(tmp, file);
  return file;
}

/** Removes the state file only when it is ours (another serve of the same model may have replaced it). */
export function removeState(file: string, pid = process.pid): void {
  try {
    const s = JSON.parse(readFileSync(file, 'utf8')) as ServeState;
    if (s.pid === pid) rmSync(file, {force: true});
  } catch {
    /* gone already */
  }
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The live state for these load options, or null; a state file whose pid is gone is deleted. */
export function readLiveState(home: string, key: LoadKey): ServeState | null {
  const file = stateFilePath(home, key);
  let s: ServeState;
  try {
    s = JSON.parse(readFileSync(file, 'utf8')) as ServeState;
  } catch {
    return null;
  }
  if (typeof s.pid !== 'number' || !pidAlive(s.pid) || s.load_hash !== loadHash(key)) {
    if (typeof s.pid !== 'number' || !pidAlive(s.pid)) rmSync(file, {force: true});
    return null;
  }
  return s;
}

/** Deletes every state file whose process is gone (called by serve at start). */
export function cleanStaleStates(home: string): number {
  let n = 0;
  let names: string[];
  try {
    names = readdirSync(runDir(home));
  } catch {
    return 0;
  }
  for (const name of names) {
    if (!name.endsWith('.json')) continue;
    const file = join(runDir(home), name);
    try {
      const s = JSON.parse(readFileSync(file, 'utf8')) as ServeState;
      if (typeof s.pid === 'number' && pidAlive(s.pid)) continue;
    } catch {
      /* unreadable: stale */
    }
    rmSync(file, {force: true});
    n++;
  }
  return n;
}
