// Process lifecycle end to end: Ctrl-C cancels (exit 130, no worker left), a killed worker is reported
// cleanly, pickles are refused, and `runtime install` is a no-op once provisioned.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {spawn, type ChildProcess} from 'node:child_process';
import {existsSync, readdirSync, readFileSync} from 'node:fs';
import {mkdtemp, rm} from 'node:fs/promises';
import {homedir, tmpdir} from 'node:os';
import {join} from 'node:path';
import {findRuntime} from '../../src/backends/runtime/resolve.js';
import {cli, processAlive, ROOT, testEnv, testPython, tiny} from './support.js';

let out: string;

beforeAll(async () => {
  await testPython();
  await tiny('tiny-sd');
  await tiny('tiny-sd-single');
  out = await mkdtemp(join(tmpdir(), 'mgen-life-'));
}, 600_000);
afterAll(async () => {
  await rm(out, {recursive: true, force: true});
});

/** Pids whose parent is `pid` (Linux /proc). */
function childrenOf(pid: number): number[] {
  const kids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) kids.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return kids;
}

async function waitFor<T>(fn: () => T | undefined | false, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Starts a long generation and resolves once the worker is denoising (the output folder is made just before). */
async function startLongGeneration(dir: string): Promise<{child: ChildProcess; worker: number; done: Promise<{code: number | null; stderr: string}>}> {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'mgen'), 'generate', 'builtin:tiny-sd', '--prompt', 'x', '--width', '64', '--height', '64',
    '--steps', '5000', '--seed', '1', '--out', join(dir, 'long.png')], {env: testEnv(), stdio: ['ignore', 'pipe', 'pipe']});
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const done = new Promise<{code: number | null; stderr: string}>((res) => child.on('close', (code) => res({code, stderr})));
  await waitFor(() => existsSync(dir), 240_000);
  const worker = await waitFor(() => childrenOf(child.pid!)[0], 10_000);
  await new Promise((r) => setTimeout(r, 2000)); // a few denoising steps in
  return {child, worker, done};
}

describe('process lifecycle', () => {
  it('Ctrl-C cancels at the next step: exit 130, no image, no worker left behind', async () => {
    const dir = join(out, 'cancel');
    const {child, worker, done} = await startLongGeneration(dir);
    expect(processAlive(worker)).toBe(true);
    child.kill('SIGINT');
    const r = await done;
    expect(r.code).toBe(130);
    expect(r.stderr.trim().split('\n').at(-1)).toMatch(/^mgen: error: .*cancel/);
    await waitFor(() => !processAlive(worker), 10_000);
    expect(readdirSync(dir)).toEqual([]);
  }, 300_000);

  it('a worker killed mid-generation is reported with exit 8 and its cause', async () => {
    const dir = join(out, 'killed');
    const {worker, done} = await startLongGeneration(dir);
    process.kill(worker, 'SIGKILL');
    const r = await done;
    expect(r.code).toBe(8);
    // No Python error before the kill: the message says so and guesses the usual cause (this kill was not mgen's).
    expect(r.stderr).toMatch(/mgen: error: the Python worker died during generate \(killed by SIGKILL; the system may have run out of memory\)/);
    expect(readdirSync(dir)).toEqual([]);
  }, 300_000);

  it('refuses a pickle checkpoint without --allow-pickle (exit 6, one line naming it)', async () => {
    const ckpt = join(out, 'tiny.ckpt');
    const single = (await tiny('tiny-sd-single')).path;
    const py = spawn(await testPython(), ['-c', `import torch\nfrom safetensors.torch import load_file\ntorch.save({"state_dict": load_file(${JSON.stringify(single)})}, ${JSON.stringify(ckpt)})`]);
    await new Promise((res) => py.on('close', res));
    expect(existsSync(ckpt)).toBe(true);
    const r = await cli(['generate', ckpt, '--prompt', 'x', '--steps', '2', '--out', join(out, 'pickle.png')]);
    expect(r.code).toBe(6);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/tiny\.ckpt is a pickle checkpoint.*--allow-pickle/);
    expect(existsSync(join(out, 'pickle.png'))).toBe(false);
  }, 300_000);
});

describe('a pickle refused with --allow-pickle', () => {
  it('says why in its one line: the global torch\'s weights-only loader refused (exit 6)', async () => {
    const ckpt = join(out, 'hooked.ckpt');
    const single = (await tiny('tiny-sd-single')).path;
    const code = `import os, torch\nfrom safetensors.torch import load_file\nclass Hook:\n    def __reduce__(self):\n        return (os.system, ("true",))\n` +
      `torch.save({"state_dict": load_file(${JSON.stringify(single)}), "hook": Hook()}, ${JSON.stringify(ckpt)})`;
    const py = spawn(await testPython(), ['-c', code]);
    await new Promise((res) => py.on('close', res));
    expect(existsSync(ckpt)).toBe(true);
    const r = await cli(['generate', ckpt, '--prompt', 'x', '--steps', '2', '--allow-pickle', '--out', join(out, 'hooked.png')]);
    expect(r.code).toBe(6);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^mgen: error: torch's weights-only loader refused a pickle file: .*GLOBAL \S*system\b.*\(the file holds objects that are not tensors/);
    expect(existsSync(join(out, 'hooked.png'))).toBe(false);
  }, 300_000);
});

describe('mgen runtime doctor / make-tiny', () => {
  it('doctor re-checks the interpreter for real and reports versions as JSON', async () => {
    const r = await cli(['runtime', 'doctor', '--json']);
    const doc = JSON.parse(r.stdout);
    expect(doc.python).toBe(await testPython());
    expect(doc.versions.torch).toMatch(/^\d+\.\d+/);
    expect(doc.versions.diffusers).toMatch(/^\d+\.\d+/);
    expect(doc.versions.mgen_runtime).toBeTruthy();
    expect(doc.disk_free_bytes).toBeGreaterThan(0);
    expect(r.code).toBe(doc.ok ? 0 : 7);
  }, 120_000);

  it('doctor says what is wrong when MGEN_PYTHON points nowhere (exit 7)', async () => {
    const r = await cli(['runtime', 'doctor'], {env: {MGEN_PYTHON: join(out, 'no-python')}});
    expect(r.code).toBe(7);
    expect(r.stdout).toMatch(/problems:\n.*MGEN_PYTHON/);
  }, 60_000);

  it('make-tiny builds a named tiny model into a folder; an unknown name is exit 2', async () => {
    const dir = join(out, 'ti');
    const r = await cli(['runtime', 'make-tiny', 'tiny-sd-ti', dir]);
    expect(r.code).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'mgen-tiny.json'), 'utf8')).name).toBe('tiny-sd-ti');
    const bad = await cli(['runtime', 'make-tiny', 'tiny-nope', join(out, 'nope')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown builtin model builtin:tiny-nope/);
  }, 120_000);
});

// Needs a provisioned runtime (CI provisions one before the tests); with only MGEN_PYTHON there is nothing to check.
const provisioned = process.env.MGEN_PYTHON ? null : await findRuntime().catch(() => null);
(provisioned?.stamp ? describe : describe.skip)('mgen runtime install', () => {
  it('is a no-op the second time: installed=false, nothing rebuilt', async () => {
    const env = {MGEN_PYTHON: '', MGEN_HOME: process.env.MGEN_HOME ?? join(homedir(), '.cache', 'mgen')};
    const t0 = performance.now();
    const r = await cli(['runtime', 'install', '--profile', provisioned!.stamp!.profile, '--json'], {env});
    const ms = performance.now() - t0;
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({installed: false, created: provisioned!.stamp!.created, python: provisioned!.python});
    process.stderr.write(`runtime install (already provisioned): ${ms.toFixed(0)} ms whole process\n`);
    const which = await cli(['runtime', 'which'], {env});
    expect(which.stdout.trim()).toBe(provisioned!.python);
  }, 60_000);
});
