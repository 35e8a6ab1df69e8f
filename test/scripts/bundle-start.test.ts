// The start path the build makes (scripts/bundle-start.mjs, issue 17): the built CLI loads @oclif/core as one bundle,
// not node_modules' ~170 files, and the detection rules as part of detect/index.js, not one module per rule. What it
// loads is checked, not how long it takes (no timed assertions): bench/startup.mjs measures the time.
import {beforeAll, describe, expect, it} from '@jest/globals';
import {spawnSync} from 'node:child_process';
import {existsSync, readFileSync, writeFileSync} from 'node:fs';
import {createRequire} from 'node:module';
import {join, resolve} from 'node:path';
import {pathToFileURL} from 'node:url';
import {useTmpDir} from '../helpers/tmp.js';

const ROOT = resolve(process.cwd());
const BIN = join(ROOT, 'bin', 'mgen');
const EXAMPLE = join(ROOT, 'test', 'examples', 'sdxl-base-header-only.safetensors');
// Without esbuild (a node_modules from before it was a devDependency) the build falls back to @oclif/core unbundled.
const bundled = (() => {
  try {
    createRequire(join(ROOT, 'package.json')).resolve('esbuild');
    return true;
  } catch {
    return false;
  }
})();

const tmp = useTmpDir('mgen-bundle-start-');
beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist', 'oclif-core.js'))) throw new Error('dist/ is missing: run `npm run build` first');
});

/** Runs the built CLI and returns its exit code, stdout and every module file it loaded. */
function loaded(args: string[], name: string) {
  const log = join(tmp.dir, `${name}.log`);
  const r = spawnSync(process.execPath, ['--import', pathToFileURL(join(ROOT, 'test', 'helpers', 'module-log.mjs')).href, BIN, ...args], {
    cwd: ROOT,
    env: {...process.env, NO_COLOR: '1', MGEN_MODULE_LOG: log},
    encoding: 'utf8',
    timeout: 30_000,
  });
  const files = existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : [];
  return {code: r.status, stdout: r.stdout, files};
}

describe('the built CLI starts from bundles', () => {
  (bundled ? it : it.skip)('mgen --version loads no file of node_modules/@oclif/core', () => {
    const r = loaded(['--version'], 'version');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^mgen\/\d/);
    expect(r.files.some((f) => f.includes('dist/oclif-core.js'))).toBe(true);
    expect(r.files.filter((f) => f.includes('node_modules/@oclif/core/'))).toEqual([]);
  });

  (bundled ? it : it.skip)('mgen inspect on a local file loads neither @oclif/core nor a rule or analysis module of its own', () => {
    const r = loaded(['inspect', EXAMPLE], 'inspect');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('checkpoint');
    expect(r.files.filter((f) => f.includes('node_modules/@oclif/core/'))).toEqual([]);
    expect(r.files.filter((f) => /dist\/detect\/(rules|analyze)\//.test(f))).toEqual([]);
  });

  (bundled ? it : it.skip)('mgen inspect loads its command as one file, not the modules only it uses', () => {
    const r = loaded(['inspect', EXAMPLE], 'inspect-own');
    expect(r.code).toBe(0);
    expect(r.files.some((f) => f.includes('dist/commands/inspect.js'))).toBe(true);
    // Loaded one by one before the build bundled each command with the modules it reaches.
    for (const own of ['dist/cli/open-for-inspect.js', 'dist/detect/counting-tree.js', 'dist/render/inspect-text.js', 'dist/detect/index.js', 'dist/base-command.js']) {
      expect(r.files.filter((f) => f.includes(own))).toEqual([]);
    }
  });

  (bundled ? it : it.skip)('the bundled @oclif/core sorts its commands without localeCompare (ICU collator setup on every start)', () => {
    const bundle = readFileSync(join(ROOT, 'dist', 'oclif-core.cjs'), 'utf8');
    expect(bundle).not.toContain('a.id.localeCompare(b.id)');
    const r = loaded(['help'], 'help');
    expect(r.code).toBe(0);
    const ids = [...r.stdout.split('COMMANDS')[1]!.matchAll(/^ {2}(\S+)/gm)].map((m) => m[1]!);
    expect(ids.length).toBeGreaterThan(3);
    expect(ids).toEqual([...ids].sort((a, b) => a.localeCompare(b)));
  });

  (bundled ? it : it.skip)('mgen inspect runs its command from a V8 code cache that V8 accepts, and prints what the ES module printed', () => {
    const log = join(tmp.dir, 'code-cache.log');
    const r = spawnSync(process.execPath, [BIN, 'inspect', EXAMPLE, '--json'], {cwd: ROOT, env: {...process.env, NO_COLOR: '1', MGEN_CODE_CACHE_LOG: log}, encoding: 'utf8', timeout: 30_000});
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({kind: 'checkpoint', family: 'sdxl'});
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    expect(lines).toContain(`${join(ROOT, 'dist', 'oclif-core.cjs')} accepted`);
    expect(lines).toContain(`${join(ROOT, 'dist', 'start', 'commands', 'inspect.cjs')} accepted`);
    // Every command keeps its place for oclif (the manifest's path) and loads the same way.
    for (const args of [['list', '--json'], ['runtime', 'which', '--help']]) expect(loaded(args, args.join('-')).code).toBe(0);
  });

  (bundled ? it : it.skip)('mgen inspect on a safetensors file loads neither zlib nor worker_threads (only deflated zip entries and huge headers need them)', () => {
    const list = join(tmp.dir, 'builtins.txt');
    const hook = `data:text/javascript,${encodeURIComponent(`import {writeFileSync} from 'node:fs'; process.on('exit', () => writeFileSync(${JSON.stringify(list)}, process.moduleLoadList.join('\\n')));`)}`;
    const r = spawnSync(process.execPath, ['--import', hook, BIN, 'inspect', EXAMPLE], {cwd: ROOT, env: {...process.env, NO_COLOR: '1'}, encoding: 'utf8', timeout: 30_000});
    expect(r.status).toBe(0);
    const builtins = readFileSync(list, 'utf8').split('\n');
    expect(builtins).toContain('NativeModule fs');
    expect(builtins.filter((m) => /^NativeModule (zlib|worker_threads|internal\/worker)$/.test(m))).toEqual([]);
  });

  (bundled ? it : it.skip)('the bundle checks the Node version as semver would, without loading semver for a release version', () => {
    const bundle = readFileSync(join(ROOT, 'dist', 'oclif-core.cjs'), 'utf8');
    expect(bundle).not.toContain('require(path.join(root, "package.json"))');
    expect(bundle).toContain('var tinyglobby_1 = __mgenLazy(');
    const warns = (node: string) => {
      const fake = `data:text/javascript,${encodeURIComponent(`Object.defineProperty(process, 'versions', {value: {...process.versions, node: ${JSON.stringify(node)}}});`)}`;
      const r = spawnSync(process.execPath, ['--import', fake, BIN, '--version'], {cwd: ROOT, env: {...process.env, NO_COLOR: '1'}, encoding: 'utf8', timeout: 30_000});
      expect(r.status).toBe(0);
      return r.stderr.includes('Node version must be >=20');
    };
    expect(warns('18.20.0')).toBe(true);
    expect(warns('20.1.0')).toBe(false);
    expect(warns('22.0.0-nightly20240101')).toBe(true); // semver leaves pre-releases out of a plain range
  });

  it('a bundled command still exits with the typed errors\' codes', () => {
    const bad = join(tmp.dir, 'bad.safetensors');
    writeFileSync(bad, '{}');
    expect(loaded(['inspect', join(tmp.dir, 'missing.safetensors')], 'missing').code).toBe(3);
    expect(loaded(['inspect', '--bogus'], 'usage').code).toBe(2);
    expect(loaded(['inspect', bad], 'invalid').code).toBe(6);
  });
});
