import {afterAll, beforeAll, describe, expect, it, jest} from '@jest/globals';
import {chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {spawnSync} from 'node:child_process';
import {createHash} from 'node:crypto';
import {linkSitePackages, probeBaseInterpreter} from '../../src/backends/runtime/base-python.js';
import {asideHolding, filterRequirements, installRuntime, installSummary, plannedRuntime} from '../../src/backends/runtime/install.js';
import {downloadWheels, parseRequirements} from '../../src/backends/runtime/wheels.js';
import {venvHash} from '../../src/backends/runtime/hash.js';
import {ensureRuntime, findRuntime} from '../../src/backends/runtime/resolve.js';
import {readValidStamp, STAMP_FILE, venvDirFor, type RuntimeStamp} from '../../src/backends/runtime/stamp.js';
import {ExitCode, MgenError} from '../../src/errors.js';

let tmp: string;
let runtimeDir: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'mgen-prov-'));
  runtimeDir = join(tmp, 'python-runtime');
  await mkdir(join(runtimeDir, 'requirements'), {recursive: true});
  await writeFile(join(runtimeDir, 'requirements', 'cpu.txt'), 'torch==2.13.0\ndiffusers==0.42.1\n');
  await writeFile(join(runtimeDir, 'requirements', 'cuda.txt'), 'torch==2.13.0\n');
  env = {...process.env, MGEN_HOME: join(tmp, 'home')};
  delete env.MGEN_PYTHON;
});
afterAll(async () => {
  await rm(tmp, {recursive: true, force: true});
});

async function fakeVenv(hash: string, over: Partial<RuntimeStamp> = {}): Promise<string> {
  const dir = venvDirFor('cpu', hash, env);
  await mkdir(join(dir, 'bin'), {recursive: true});
  await writeFile(join(dir, 'bin', 'python'), '');
  const stamp: RuntimeStamp = {
    schema: 1, ok: true, profile: 'cpu', hash, python: join(dir, 'bin', 'python'), base_python: 'python3', system_site_packages: false,
    versions: {python: '3.11.7', torch: '2.13.0', diffusers: '0.42.1', transformers: '5.24.0', cuda: null}, reused: [],
    created: new Date().toISOString(), install_seconds: 1, ...over,
  };
  await writeFile(join(dir, STAMP_FILE), JSON.stringify(stamp));
  return dir;
}

describe('runtime provisioning', () => {
  it('names the venv by profile and a hash of the requirement set', async () => {
    const a = await venvHash(runtimeDir, 'cpu');
    expect(a).toMatch(/^[0-9a-f]{12}$/);
    expect(await venvHash(runtimeDir, 'cpu')).toBe(a);
    expect(await venvHash(runtimeDir, 'cuda')).not.toBe(a);
    await writeFile(join(runtimeDir, 'requirements', 'cpu.txt'), 'torch==2.13.0\ndiffusers==0.42.2\n');
    const b = await venvHash(runtimeDir, 'cpu');
    expect(b).not.toBe(a);
    await writeFile(join(runtimeDir, 'requirements', 'cpu.txt'), 'torch==2.13.0\ndiffusers==0.42.1\n');
    expect(await venvHash(runtimeDir, 'cpu')).toBe(a);
    // The aside packages (requirements/aside.txt) are part of the venv too.
    await writeFile(join(runtimeDir, 'requirements', 'aside.txt'), 'torchao==0.18.0\n');
    const c = await venvHash(runtimeDir, 'cpu');
    expect(c).not.toBe(a);
    await rm(join(runtimeDir, 'requirements', 'aside.txt'));
    expect(await venvHash(runtimeDir, 'cpu')).toBe(a);
  });

  it('is a no-op that starts no Python when a valid stamp exists', async () => {
    const hash = await venvHash(runtimeDir, 'cpu');
    const dir = await fakeVenv(hash);
    // The base interpreter does not exist: any attempt to build would fail.
    const t0 = performance.now();
    const r = await installRuntime({profile: 'cpu', runtimeDir, env, python: join(tmp, 'no-such-python')});
    expect(r.installed).toBe(false);
    expect(r.venvDir).toBe(dir);
    expect(r.stamp.versions.torch).toBe('2.13.0');
    expect(performance.now() - t0).toBeLessThan(5000); // generous: the point is that nothing was built
    expect((await plannedRuntime({profile: 'cpu', runtimeDir, env})).stamp?.hash).toBe(hash);
    await rm(dir, {recursive: true});
  });

  it('treats a stamp for another requirement set, or a venv whose python is gone, as broken', async () => {
    const hash = await venvHash(runtimeDir, 'cpu');
    const dir = await fakeVenv(hash, {hash: '000000000000'});
    expect((await plannedRuntime({profile: 'cpu', runtimeDir, env})).stamp).toBeNull();
    await rm(join(dir, 'bin', 'python'));
    await fakeVenv(hash);
    await rm(join(dir, 'bin', 'python'));
    expect((await plannedRuntime({profile: 'cpu', runtimeDir, env})).stamp).toBeNull();
    await expect(installRuntime({profile: 'cpu', runtimeDir, env, python: join(tmp, 'no-such-python')})).rejects.toMatchObject({exitCode: ExitCode.runtime});
    await rm(dir, {recursive: true});
  });

  it('fails with exit 7 and one line naming what pip could not find, leaving no half-built venv behind', async () => {
    await writeFile(join(runtimeDir, 'requirements', 'cpu.txt'), 'mgen-no-such-package-xyz==1.0\n');
    try {
      let err: MgenError | undefined;
      try {
        await installRuntime({profile: 'cpu', runtimeDir, env: {...env, PIP_FIND_LINKS: '', PIP_EXTRA_INDEX_URL: ''}, noIndex: true});
      } catch (e) {
        err = e as MgenError;
      }
      expect(err?.exitCode).toBe(ExitCode.runtime);
      // --no-index: the message names the wheel that is missing, not pip's traceback.
      expect(err?.message).toMatch(/^no wheel for mgen-no-such-package-xyz==1\.0 \(--no-index\)$/);
      expect(err?.hint).toMatch(/mgen runtime wheels DIR --only mgen-no-such-package-xyz/);
      const left = await readdir(join(env.MGEN_HOME!, 'runtime'));
      expect(left.filter((n) => !n.endsWith('.lock'))).toEqual([]);
      expect(left).toEqual([]);
    } finally {
      await writeFile(join(runtimeDir, 'requirements', 'cpu.txt'), 'torch==2.13.0\ndiffusers==0.42.1\n');
    }
  }, 120_000);

  it('MGEN_PYTHON skips provisioning; a missing one is exit 7', async () => {
    expect(await findRuntime({...env, MGEN_PYTHON: process.execPath})).toMatchObject({python: process.execPath, source: 'MGEN_PYTHON'});
    await expect(findRuntime({...env, MGEN_PYTHON: join(tmp, 'nope')})).rejects.toMatchObject({exitCode: ExitCode.runtime});
  });

  it('drops reused packages from the requirements, continuation lines included, and notices hashes', () => {
    const req = 'torch==2.13.0 \\\n    --hash=sha256:aa\n# comment\ndiffusers==0.42.1 \\\n    --hash=sha256:bb\n';
    const r = filterRequirements(req, ['torch']);
    expect(r.text).not.toContain('torch');
    expect(r.text).toContain('diffusers==0.42.1');
    expect(r.text).toContain('sha256:bb');
    expect(r.hasHashes).toBe(true);
    expect(filterRequirements('torch==1\n', []).hasHashes).toBe(false);
  });

  it('treats a venv whose linked site-packages are gone as broken', async () => {
    const hash = await venvHash(runtimeDir, 'cpu');
    const linked = join(tmp, 'linked-site');
    await mkdir(linked, {recursive: true});
    const dir = await fakeVenv(hash, {linked_site_packages: [linked]});
    expect(await readValidStamp(dir, hash)).not.toBeNull();
    await rm(linked, {recursive: true});
    expect(await readValidStamp(dir, hash)).toBeNull();
    await rm(dir, {recursive: true});
  });
});

describe('first-time provisioning off a terminal', () => {
  // A stand-in interpreter that plays python3, venv, pip and the import check in milliseconds.
  const FAKE_PYTHON = String.raw`#!/bin/sh
case "$1 $2" in
  "-I -c") echo '{"version": "3.11.7", "venv": false, "site": [], "pip": false}' ;;
  "-m venv") for last; do :; done; mkdir -p "$last/bin" && cp "$0" "$last/bin/python" ;;
  "-m pip") echo "Collecting torch==2.13.0"; echo "Successfully installed torch-2.13.0 diffusers-0.42.1" ;;
  *) echo '{"python": "3.11.7", "torch": "2.13.0", "diffusers": "0.42.1", "transformers": "5.24.0", "cuda": null}' ;;
esac
`;

  let fake: string;
  beforeAll(async () => {
    fake = join(tmp, 'fake-python3');
    await writeFile(fake, FAKE_PYTHON);
    await chmod(fake, 0o755);
  });

  it('prints one line per stage (venv, what pip installs, the check) so a minute of silence never looks like a hang', async () => {
    const home = join(tmp, 'stage-lines-home');
    await writeFile(join(runtimeDir, 'requirements', 'cpu.txt'), 'torch==2.13.0 \\\n    --hash=sha256:aa\ndiffusers==0.42.1\nsafetensors==0.6.2\n');
    try {
      const lines: string[] = [];
      const spinner: string[] = [];
      const r = await installRuntime({
        profile: 'cpu', runtimeDir, env: {...env, MGEN_HOME: home}, python: fake,
        onStageLine: (l) => lines.push(l), onProgress: (t) => spinner.push(t),
      });
      expect(r.installed).toBe(true);
      expect(lines).toEqual([
        'creating a cpu venv',
        'installing torch 2.13.0 (cpu), diffusers 0.42.1 and 1 more package with pip',
        'checking that torch and diffusers import',
      ]);
      // The spinner still gets every stage and pip's lines too.
      expect(spinner).toEqual(expect.arrayContaining([...lines, 'pip: Collecting torch==2.13.0']));
    } finally {
      await writeFile(join(runtimeDir, 'requirements', 'cpu.txt'), 'torch==2.13.0\ndiffusers==0.42.1\n');
      await rm(home, {recursive: true, force: true});
    }
  }, 60_000);

  it('installs requirements/aside.txt into <venv>/aside without dependencies, hash-checked', async () => {
    const home = join(tmp, 'aside-home');
    const log = join(tmp, 'aside-pip-args');
    const logging = join(tmp, 'fake-python3-logging');
    // The stand-in again, recording each pip command line.
    await writeFile(logging, FAKE_PYTHON.replace('"-m pip")', `"-m pip") echo "$*" >> ${log};`));
    await chmod(logging, 0o755);
    const aside = 'spandrel==0.4.2 \\\n    --hash=sha256:bb\ntorchao==0.18.0 \\\n    --hash=sha256:cc\n';
    await writeFile(join(runtimeDir, 'requirements', 'aside.txt'), aside);
    try {
      const lines: string[] = [];
      const r = await installRuntime({profile: 'cpu', runtimeDir, env: {...env, MGEN_HOME: home}, python: logging, onStageLine: (l) => lines.push(l)});
      expect(lines).toContain('installing spandrel, torchao aside');
      const calls = (await readFile(log, 'utf8')).trim().split('\n');
      expect(calls).toHaveLength(2);
      const asideCall = calls[1]!.split(' ');
      expect(asideCall).toEqual(expect.arrayContaining(['--no-deps', '--require-hashes', '--target', '-r', join(runtimeDir, 'requirements', 'aside.txt')]));
      // Into the venv being built, which is then moved into place.
      const target = asideCall[asideCall.indexOf('--target') + 1]!;
      expect(target.startsWith(`${r.venvDir}.tmp-`) && target.endsWith('/aside')).toBe(true);
      expect(calls[0]).not.toMatch(/torchao|--target/);
    } finally {
      await rm(join(runtimeDir, 'requirements', 'aside.txt'), {force: true});
      await rm(home, {recursive: true, force: true});
    }
  }, 60_000);

  it('lends a given venv\'s aside folder only when it holds every pinned version', async () => {
    const prefix = join(tmp, 'lender');
    const pins = 'spandrel==0.4.2 \\\n    --hash=sha256:bb\ntorchao==0.18.0\n';
    expect(asideHolding(prefix, pins)).toBeNull(); // no aside folder
    await mkdir(join(prefix, 'aside', 'spandrel-0.4.2.dist-info'), {recursive: true});
    expect(asideHolding(prefix, pins)).toBeNull(); // torchao missing
    await mkdir(join(prefix, 'aside', 'torchao-0.17.0.dist-info'));
    expect(asideHolding(prefix, pins)).toBeNull(); // another torchao
    await mkdir(join(prefix, 'aside', 'torchao-0.18.0.dist-info'));
    expect(asideHolding(prefix, pins)).toBe(join(prefix, 'aside'));
  });

  it('provisioning on first use prints those lines on a stderr that is not a terminal', async () => {
    const home = join(tmp, 'stage-lines-home-2');
    const written: string[] = [];
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    const tty = process.stderr.isTTY;
    try {
      Object.defineProperty(process.stderr, 'isTTY', {value: false, configurable: true});
      const r = await ensureRuntime({profile: 'cpu', runtimeDir, env: {...env, MGEN_HOME: home}, python: fake});
      expect(r.source).toBe('installed-now');
    } finally {
      spy.mockRestore();
      Object.defineProperty(process.stderr, 'isTTY', {value: tty, configurable: true});
      await rm(home, {recursive: true, force: true});
    }
    expect(written).toEqual([
      'mgen: creating a cpu venv\n',
      'mgen: installing torch 2.13.0 (cpu) and diffusers 0.42.1 with pip\n',
      'mgen: checking that torch and diffusers import\n',
    ]);
  }, 60_000);

  it('names the torch it reuses and counts the rest', () => {
    expect(installSummary('diffusers==0.42.1\n', 'cuda', ['torch==2.5.1'])).toBe('torch 2.5.1 (reused) and diffusers 0.42.1');
    expect(installSummary('a==1\nb==2\n', 'cpu')).toBe('2 packages');
  });
});

describe('a venv given as --python with --system-site-packages', () => {
  it('links the given venv\'s own site-packages (not just the base\'s) into the new venv', async () => {
    const mk = (dir: string, python = 'python3') => {
      const r = spawnSync(python, ['-m', 'venv', '--without-pip', dir], {encoding: 'utf8'});
      if (r.status !== 0) throw new Error(r.stderr);
      return join(dir, 'bin', 'python');
    };
    const givenPy = mk(join(tmp, 'given-venv'));
    const given = await probeBaseInterpreter(givenPy, process.env);
    expect(given.isVenv).toBe(true);
    expect(given.venvSitePackages).toHaveLength(1);
    await writeFile(join(given.venvSitePackages[0]!, 'mgen_linked_probe.py'), 'X = 1\n');
    // What `python -m venv --system-site-packages` alone gives: the base's packages, not the venv's.
    const newPy = mk(join(tmp, 'new-venv'), givenPy);
    const find = (py: string) => spawnSync(py, ['-c', 'import importlib.util as u; s = u.find_spec("mgen_linked_probe"); print(s.origin if s else None)'], {encoding: 'utf8'}).stdout.trim();
    expect(find(newPy)).toBe('None');
    await linkSitePackages(newPy, given.venvSitePackages, process.env);
    expect(find(newPy)).toBe(join(given.venvSitePackages[0]!, 'mgen_linked_probe.py'));
    // A plain interpreter is not a venv: nothing to link.
    expect((await probeBaseInterpreter('python3', process.env)).venvSitePackages).toEqual([]);
  }, 60_000);

  it('a missing interpreter is exit 7 naming it', async () => {
    await expect(probeBaseInterpreter(join(tmp, 'no-python'), process.env)).rejects.toMatchObject({exitCode: ExitCode.runtime, message: expect.stringContaining('no-python')});
  });
});

describe('mgen runtime wheels', () => {
  const wheelA = Buffer.from('not really a wheel A');
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

  it('parses names (normalized), continuation lines and hashes', () => {
    const r = parseRequirements(`# c\nTyping_Extensions==4.16.0 \\\n    --hash=sha256:${'a'.repeat(64)} \\\n    --hash=sha256:${'b'.repeat(64)}\n\ntorch==2.13.0  # why\n`);
    expect(r.map((x) => x.name)).toEqual(['typing-extensions', 'torch']);
    expect(r[0]!.hashes).toEqual(['a'.repeat(64), 'b'.repeat(64)]);
    expect(r[1]!.hashes).toEqual([]);
  });

  it('is a no-op that starts no pip when the folder holds a file matching each pin\'s hash; an unknown name is exit 2', async () => {
    const rdir = join(tmp, 'wheels-runtime');
    await mkdir(join(rdir, 'requirements'), {recursive: true});
    await writeFile(join(rdir, 'requirements', 'cpu.txt'), `torch==2.13.0 \\\n  --hash=sha256:${'0'.repeat(64)}\nmgen-a==1.0 \\\n  --hash=sha256:${sha(wheelA)}\n`);
    const dir = join(tmp, 'wheelhouse');
    await mkdir(dir, {recursive: true});
    await writeFile(join(dir, 'mgen_a-1.0-py3-none-any.whl'), wheelA);
    const noPython = join(tmp, 'no-such-python');
    const r = await downloadWheels({dir, profile: 'cpu', skip: ['torch'], python: noPython, runtimeDir: rdir});
    expect(r).toEqual({dir, files: ['mgen_a-1.0-py3-none-any.whl'], downloaded: 0});
    await expect(downloadWheels({dir, profile: 'cpu', only: ['diffusers'], python: noPython, runtimeDir: rdir})).rejects.toMatchObject({exitCode: ExitCode.usage});
    // A file with the right name but the wrong bytes does not count: pip is needed (and here cannot run).
    await writeFile(join(dir, 'mgen_a-1.0-py3-none-any.whl'), 'tampered');
    await expect(downloadWheels({dir, profile: 'cpu', only: ['mgen-a'], python: noPython, runtimeDir: rdir})).rejects.toMatchObject({exitCode: ExitCode.runtime});
    expect((await readdir(dir)).filter((n) => n.startsWith('.'))).toEqual([]);
  });
});
