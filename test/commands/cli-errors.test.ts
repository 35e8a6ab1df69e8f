// What a user sees for the first mistakes (issue 10): the built CLI in a subprocess, exact stderr and exit code.
import {beforeAll, describe, expect, it} from '@jest/globals';
import {spawnSync} from 'node:child_process';
import {existsSync} from 'node:fs';
import {join, resolve} from 'node:path';

const ROOT = resolve(process.cwd());
const BIN = join(ROOT, 'bin', 'mgen');

function mgen(args: string[]) {
  const env: NodeJS.ProcessEnv = {...process.env, NO_COLOR: '1'};
  delete env.MODEL_ID;
  const r = spawnSync(process.execPath, [BIN, ...args], {cwd: ROOT, env, encoding: 'utf8', timeout: 30_000});
  return {code: r.status, stdout: r.stdout, stderr: r.stderr};
}

beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist', 'commands', 'generate.js'))) throw new Error('dist/ is missing: run `npm run build` first');
});

describe('usage errors say the reason on one line, exit 2', () => {
  it.each([
    [['generate', 'builtin:tiny-sd', '--steps', '0'], 'mgen: error: --steps: expected an integer >= 1, got 0\n'],
    [['generate', 'builtin:tiny-sd', '--steps', '-3'], 'mgen: error: --steps: expected an integer >= 1, got -3\n'],
    // --revision becomes a refs/ file name: the MODEL_ID's revision grammar, before any request
    [['pull', 'org/name', '--revision', '../x'], 'mgen: error: --revision: expected a branch, tag or commit (letters, digits, - _ .) or refs/pr/N, got "../x"\n'],
    [['generate', 'builtin:tiny-sd', '--width', 'abc'], 'mgen: error: --width: expected an integer, got abc\n'],
    [['rm'], 'mgen: error: missing required argument: model (MODEL_ID of a cached model)\n'],
    [['generate', 'builtin:tiny-sd', '--prompot', 'a red cube'], 'mgen: error: Unknown flag --prompot (did you mean --prompt?)\n'],
    [['genrate', 'builtin:tiny-sd'], 'mgen: error: command genrate not found (did you mean generate?)\n'],
    [['runtime', 'instal'], 'mgen: error: command runtime instal not found (did you mean runtime install?)\n'],
    [['help', 'genrate'], 'mgen: error: command genrate not found (did you mean generate?)\n'],
    // What was typed is echoed escaped: an OSC sequence in it must not retitle the terminal.
    [['gen\x1b]0;pwned\x07'], 'mgen: error: command gen\\x1b]0;pwned\\x07 not found (see mgen --help)\n'],
    [['generate', '--x\x1b[2J'], 'mgen: error: Unknown flag --x\\x1b[2J (see mgen generate --help)\n'],
  ])('mgen %j', (args, stderr) => {
    const r = mgen(args);
    expect(r.stderr).toBe(stderr);
    expect(r.stdout).toBe('');
    expect(r.code).toBe(2);
  });
});

describe('help as in other CLIs', () => {
  it('mgen -h lists the commands', () => {
    const r = mgen(['-h']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^USAGE\n {2}\$ mgen \[COMMAND\]$/m);
    expect(r.stdout).toMatch(/^ {2}generate {2}Generate images/m);
  });

  it.each([[['help', 'generate']], [['generate', '-h']], [['generate', '--help']]])('mgen %j shows the generate help', (args) => {
    const r = mgen(args);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^USAGE\n {2}\$ mgen generate \[MODEL\]/m);
    expect(r.stdout).toMatch(/--steps=<value>\s+denoising steps/);
  });
});
