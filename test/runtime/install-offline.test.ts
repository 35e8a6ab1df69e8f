// `mgen runtime install --python VENV --system-site-packages` and `--find-links DIR --no-index`, for real:
// the built CLI, real venvs and pip, each into its own temporary MGEN_HOME so the shared runtime is never
// touched. The interpreter "that already has torch" is the provisioned runtime itself (or $MGEN_PYTHON).
// The offline case hides diffusers from a copy of that interpreter's packages (a folder of symlinks), so pip
// must take diffusers' genuine, hash-pinned wheel from the wheel folder: the one `mgen runtime wheels`
// downloads once under $MGEN_HOME/wheelhouse (this test runs it itself: a no-op once the wheel is there).
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {spawnSync} from 'node:child_process';
import {existsSync, readdirSync, readFileSync, realpathSync} from 'node:fs';
import {mkdir, mkdtemp, readdir, rm, symlink, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {readPngInfo} from '../../src/backends/png-metadata.js';
import {mgenHome} from '../../src/backends/paths.js';
import {inPty, plainScreen} from '../helpers/pty.js';
import {cli, ROOT, TEST_HOME, testPython, tiny, type CliResult} from './support.js';

let tmp: string;
let given: string; // the interpreter that already has torch
let givenSite: string; // the folder its torch is imported from
let givenListing: string[];
let wheelhouse: string;

function py(python: string, code: string): string {
  const r = spawnSync(python, ['-c', code], {encoding: 'utf8', timeout: 120_000});
  if (r.status !== 0) throw new Error(`${python} -c failed: ${r.stderr}`);
  return r.stdout.trim();
}

/** Its own MGEN_HOME, no MGEN_PYTHON, and pip cut off from the machine's pip config and indexes. */
const mgenEnv = (home: string): NodeJS.ProcessEnv => ({
  MGEN_HOME: home, MGEN_PYTHON: undefined, PIP_CONFIG_FILE: '/dev/null',
  PIP_FIND_LINKS: undefined, PIP_INDEX_URL: undefined, PIP_EXTRA_INDEX_URL: undefined, PIP_NO_INDEX: undefined,
  NO_COLOR: '1', HF_HUB_OFFLINE: '1',
});

function mgen(home: string, args: string[]): Promise<CliResult> {
  return cli(args, {env: mgenEnv(home), timeoutMs: 400_000});
}

// Where torch would be imported from (found, not imported: the install itself already imported it).
const torchFile = (python: string) => py(python, 'import importlib.util as u; print(u.find_spec("torch").origin)');
const ownSite = (python: string) => py(python, 'import sysconfig; print(sysconfig.get_paths()["purelib"])');

beforeAll(async () => {
  given = await testPython();
  givenSite = join(torchFile(given), '..', '..');
  givenListing = readdirSync(givenSite).sort();
  tmp = await mkdtemp(join(tmpdir(), 'mgen-install-e2e-'));
  // The tiny model is built once in the runtime tests' home; the test homes share that folder.
  await tiny('tiny-sd');
  wheelhouse = process.env.MGEN_TEST_WHEELHOUSE ?? join(mgenHome(process.env), 'wheelhouse');
  // diffusers, and the aside packages (requirements/aside.txt), which a venv with no aside folder installs too.
  const w = await cli(['runtime', 'wheels', wheelhouse, '--profile', 'cpu', '--only', 'diffusers', '--only', 'torchao', '--only', 'spandrel'], {env: {MGEN_HOME: mgenHome(process.env)}});
  if (w.code !== 0) throw new Error(`cannot prepare the wheel folder ${wheelhouse}: ${w.stderr}`);
}, 600_000);
afterAll(async () => {
  if (tmp) await rm(tmp, {recursive: true, force: true});
});

describe('mgen runtime install --python VENV --system-site-packages', () => {
  let home: string;
  let venvPy: string;

  beforeAll(async () => {
    home = join(tmp, 'home-ssp');
    await mkdir(home, {recursive: true});
    await symlink(join(TEST_HOME, 'builtin'), join(home, 'builtin'));
  });

  it('reuses the given venv\'s torch (linked, nothing reinstalled), verifies and stamps; a second run is a no-op', async () => {
    const r = await mgen(home, ['runtime', 'install', '--profile', 'cpu', '--python', given, '--system-site-packages', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({installed: true, ok: true, profile: 'cpu', system_site_packages: true, base_python: given});
    expect(doc.reused).toEqual([expect.stringMatching(/^torch==/)]);
    venvPy = doc.python;
    expect(venvPy.startsWith(join(home, 'runtime'))).toBe(true);
    expect(JSON.parse(readFileSync(join(doc.venv, 'mgen-runtime.json'), 'utf8'))).toMatchObject({python: venvPy, hash: doc.hash});

    // torch (and diffusers) import from the given interpreter's site-packages, not from a copy.
    expect(torchFile(venvPy).startsWith(givenSite + '/')).toBe(true);
    // pip found everything satisfied: the new venv's own site-packages holds only the link.
    expect(await readdir(ownSite(venvPy))).toEqual(['mgen-base-site.pth']);
    // The given runtime's aside folder (torchao, spandrel) is lent the same way: linked, not installed again.
    expect(realpathSync(join(doc.venv, 'aside'))).toBe(realpathSync(join(givenSite, '..', '..', '..', 'aside')));

    const again = await mgen(home, ['runtime', 'install', '--profile', 'cpu', '--python', given, '--system-site-packages', '--json']);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({installed: false, python: venvPy, created: doc.created});
  }, 400_000);

  it('passes `mgen runtime doctor` and generates with it', async () => {
    expect(venvPy).toBeDefined();
    const d = await mgen(home, ['runtime', 'doctor', '--json']);
    const report = JSON.parse(d.stdout);
    expect(report).toMatchObject({ok: true, python: venvPy, source: 'provisioned', profile: 'cpu', device: 'cpu', problems: []});
    expect(d.code).toBe(0);

    // On a terminal (src/cli/progress.ts): the spinner while preparing, the denoising bar, and stdout (sent to a
    // file) holding only the image's path.
    const out = join(tmp, 'ssp.png');
    const stdoutFile = join(tmp, 'generate-stdout.txt');
    const args = ['generate', 'builtin:tiny-sd', '--prompt', 'a cube', '--width', '64', '--height', '64', '--steps', '2', '--seed', '1', '--out', out];
    const g = await inPty([process.execPath, join(ROOT, 'bin', 'mgen'), ...args], {...process.env, ...mgenEnv(home)}, {stdoutTo: stdoutFile, timeoutMs: 300_000});
    expect(g.code).toBe(0);
    const screen = plainScreen(g.screen);
    expect(screen).toMatch(/preparing builtin:tiny-sd/);
    // (2 steps of the tiny model's PNDM scheduler are 3 denoising steps.)
    expect(screen).toMatch(/^denoising \[[^\]]*\] 0\/\d steps \| \d+s$/m);
    expect(screen).toMatch(/^denoising \[[^\]]*\] [1-9]\/\d steps \| \d+s( \| ETA \d+s)?$/m);
    expect(screen).not.toContain(out);
    expect(readFileSync(stdoutFile, 'utf8')).toBe(`${out}\n`);
    const info = readPngInfo(readFileSync(out));
    expect([info.width, info.height]).toEqual([64, 64]);
  }, 400_000);
});

describe('mgen runtime install --find-links DIR --no-index', () => {
  let base: string; // a venv with the given interpreter's packages except diffusers (a lent GPU machine)

  beforeAll(async () => {
    const farm = join(tmp, 'site-without-diffusers');
    await mkdir(farm);
    for (const n of readdirSync(givenSite)) {
      if (/^diffusers([-_.].*)?$/i.test(n)) continue;
      await symlink(join(givenSite, n), join(farm, n));
    }
    base = join(tmp, 'base-venv');
    const mk = spawnSync(given, ['-m', 'venv', '--without-pip', base], {encoding: 'utf8', timeout: 120_000});
    if (mk.status !== 0) throw new Error(mk.stderr);
    await writeFile(join(ownSite(join(base, 'bin', 'python')), 'farm.pth'), `import site; site.addsitedir(${JSON.stringify(farm)})\n`);
    const probe = spawnSync(join(base, 'bin', 'python'), ['-c', 'import torch, diffusers'], {encoding: 'utf8'});
    expect(probe.stderr).toMatch(/No module named 'diffusers'/);
  }, 120_000);

  it('with a wheel folder lacking a needed wheel: exit 7, one line naming it, nothing left behind', async () => {
    const home = join(tmp, 'home-empty');
    const empty = join(tmp, 'empty-wheels');
    await mkdir(empty, {recursive: true});
    const r = await mgen(home, ['runtime', 'install', '--profile', 'cpu', '--python', join(base, 'bin', 'python'), '--system-site-packages', '--find-links', empty, '--no-index']);
    expect(r.code).toBe(7);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^mgen: error: no wheel for diffusers==0\.42\.1 in \S+empty-wheels \(--no-index\) \(add it with `mgen runtime wheels DIR --only diffusers`/)]);
    expect((await readdir(join(home, 'runtime'))).filter((n) => !n.endsWith('.lock'))).toEqual([]);
  }, 400_000);

  it('installs the missing package from the wheel folder alone, keeping the given torch', async () => {
    const home = join(tmp, 'home-offline');
    const r = await mgen(home, ['runtime', 'install', '--profile', 'cpu', '--python', join(base, 'bin', 'python'), '--system-site-packages', '--find-links', wheelhouse, '--no-index', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({installed: true, versions: {diffusers: '0.42.1'}});
    const site = ownSite(doc.python);
    // diffusers came from the wheel (installed into the new venv); torch is still the given one.
    expect((await readdir(site)).filter((n) => /^diffusers/.test(n)).sort()).toEqual(['diffusers', 'diffusers-0.42.1.dist-info']);
    expect(readFileSync(join(site, 'diffusers-0.42.1.dist-info', 'INSTALLER'), 'utf8').trim()).toBe('pip');
    expect(torchFile(doc.python).startsWith(join(tmp, 'site-without-diffusers') + '/')).toBe(true);
    expect(existsSync(join(doc.venv, 'mgen-runtime.json'))).toBe(true);
  }, 400_000);
});

describe('the interpreter borrowed from', () => {
  it('is left untouched', () => {
    expect(readdirSync(givenSite).sort()).toEqual(givenListing);
  });
});
