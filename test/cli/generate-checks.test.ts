// `mgen generate` checks what needs no model before a serve is asked or a worker starts: MGEN_PYTHON names an
// interpreter that does not exist, so reaching the runtime would be exit 7; these end in exit 2 (or 3) instead.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {createServer, type Server} from 'node:http';
import {mkdtempSync, writeFileSync} from 'node:fs';
import {rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join, resolve} from 'node:path';
import Generate from '../../src/commands/generate.js';
import {sessionOptionsFromFlags} from '../../src/cli/load-flags.js';
import {loadKeyFor} from '../../src/backends/server/load-key.js';
import {loadHash, writeState} from '../../src/backends/server/state.js';
import {runCli} from '../helpers/sources-cli.js';

const ROOT = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', '..');
let home: string;
let env: Record<string, string | undefined>;
let server: Server;
let requests: string[];

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'mgen-gen-checks-'));
  env = {MGEN_HOME: join(home, 'mgen'), MGEN_PYTHON: join(home, 'no-such-python'), HF_HOME: join(home, 'hf'), HF_HUB_OFFLINE: '1', MODEL_ID: undefined};
  // A running serve of builtin:tiny-sd (a stand-in that records every request).
  requests = [];
  server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    res.writeHead(req.url === '/readyz' ? 200 : 500, {'content-type': 'application/json'}).end('{}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  const key = loadKeyFor(sessionOptionsFromFlags('builtin:tiny-sd', {}));
  writeState(env.MGEN_HOME!, key, {pid: process.pid, url, model_id: 'builtin:tiny-sd', load_hash: loadHash(key), plan_hash: 'x', auth: false, started: new Date().toISOString()});
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  await rm(home, {recursive: true, force: true});
});

const gen = (args: string[]) => runCli(Generate, ['builtin:tiny-sd', '--prompt', 'a red cube', ...args], env);

describe('mgen generate: request validation before the worker (the validator serve uses)', () => {
  it('--width 63 for an SD 1.x model: exit 2 naming the nearest valid size, no worker, no serve request', async () => {
    const r = await gen(['--width', '63']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('mgen: error: --width 63 is not a multiple of 8 for sd1 (try 64)');
    expect(requests).toEqual([]);
  });

  it('the family of a local file comes from its header (an SDXL checkpoint is checked as sdxl)', async () => {
    const r = await runCli(Generate, [join(ROOT, 'test', 'examples', 'sdxl-base-header-only.safetensors'), '--prompt', 'x', '--height', '100'], env);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('mgen: error: --height 100 is not a multiple of 8 for sdxl (try 96 or 104)');
  });

  it('ranges are checked too', async () => {
    const r = await gen(['--guidance', '-2']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('mgen: error: --guidance -2 must be between 0 and 100');
  });
});

describe('mgen generate: --out problems are exit 2 naming the path, before the worker', () => {
  it('--out under a regular file', async () => {
    const file = join(home, 'a-file');
    writeFileSync(file, 'x');
    const r = await gen(['--out', join(file, 'x.png')]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`mgen: error: --out ${join(file, 'x.png')}: ${file} is a file, not a folder`);
  });

  it('--out in a folder that cannot be written (placeholders in the name are fine)', async () => {
    // /proc refuses new files even to root, which passes every permission check on an ordinary folder.
    const r = await gen(['--out', '/proc/mgen-{seed}.png']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('mgen: error: --out /proc/mgen-{seed}.png: cannot write in /proc (permission denied)');
  });

  it('a folder that does not exist yet is fine (it is created): the run goes on to the runtime', async () => {
    const r = await gen(['--out', join(home, 'new', 'deeper', '{seed}.png')]);
    expect(r.stderr).toMatch(/MGEN_PYTHON/);
    expect(r.code).toBe(7);
  });
});
