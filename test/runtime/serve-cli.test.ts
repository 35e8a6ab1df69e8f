// `mgen serve` as a process: ready line, the reuse state file, `mgen generate` sending its request to the
// running server (no worker of its own, same pixels and metadata as a cold run), SIGTERM draining accepted work
// and exiting 0. The built CLI, the real worker, builtin:tiny-sd on CPU.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import type {ChildProcessWithoutNullStreams} from 'node:child_process';
import {existsSync, readdirSync, readFileSync} from 'node:fs';
import {mkdtemp, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {readPngInfo} from '../../src/backends/png-metadata.js';
import {cli, spawnServe, TEST_HOME, testPython} from './support.js';

// Explicit load flags: the state key differs from other test files' plain `generate builtin:tiny-sd`.
const LOAD = ['--device', 'cpu', '--dtype', 'float32'];
let serve: ChildProcessWithoutNullStreams;
let url = '';
let out: string;
let serveErr: () => string = () => '';
let exited: Promise<number | null>;

const stateFiles = (): Array<{file: string; state: Record<string, unknown>}> => {
  const dir = join(TEST_HOME, 'run');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => n.endsWith('.json'))
    .map((n) => ({file: join(dir, n), state: JSON.parse(readFileSync(join(dir, n), 'utf8')) as Record<string, unknown>}));
};

beforeAll(async () => {
  await testPython();
  out = await mkdtemp(join(tmpdir(), 'mgen-serve-cli-'));
  const started = await spawnServe(['builtin:tiny-sd', ...LOAD], 400_000);
  serve = started.proc;
  url = started.url;
  serveErr = started.stderr;
  exited = new Promise((r) => serve.on('exit', (code) => r(code)));
}, 420_000);

afterAll(async () => {
  if (serve.exitCode === null) serve.kill('SIGKILL');
  await rm(out, {recursive: true, force: true});
});

describe('mgen serve (process)', () => {
  it('prints its URL on 127.0.0.1 and advertises itself in $MGEN_HOME/run without a token', async () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const mine = stateFiles().find((s) => s.state.pid === serve.pid);
    expect(mine?.state).toMatchObject({url, model_id: 'builtin:tiny-sd', auth: false});
    expect(readFileSync(mine!.file, 'utf8')).not.toMatch(/token/i);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
  });

  it('serves `mgen generate` for the same model: same pixels and metadata as a cold run, no worker of its own', async () => {
    const args = ['generate', 'builtin:tiny-sd', ...LOAD, '--prompt', 'a red cube', '--width', '64', '--height', '64', '--steps', '2', '--seed', '7', '--json'];
    const before = await (await fetch(`${url}/metrics`)).text();
    const warm = await cli([...args, '--out', join(out, 'warm.png')], {env: {MGEN_WORKER_READY_TIMEOUT: '1'}});
    expect(warm.stderr).toBe('');
    expect(warm.code).toBe(0);
    const doc = JSON.parse(warm.stdout);
    expect(doc.served_by).toBe(url);
    expect(doc.images[0].path).toBe(join(out, 'warm.png'));
    const after = await (await fetch(`${url}/metrics`)).text();
    const count = (t: string) => Number(/mgen_images_total (\d+)/.exec(t)?.[1] ?? 0);
    expect(count(after)).toBe(count(before) + 1);

    const cold = await cli([...args, '--out', join(out, 'cold.png'), '--no-reuse']);
    expect(cold.code).toBe(0);
    expect(JSON.parse(cold.stdout).served_by).toBeUndefined();
    const a = readPngInfo(readFileSync(join(out, 'warm.png')));
    const b = readPngInfo(readFileSync(join(out, 'cold.png')));
    expect(a.text.parameters).toBe(b.text.parameters);
    expect(JSON.parse(a.text.mgen!).request).toEqual(JSON.parse(b.text.mgen!).request);
    // Same seed, same pixels (the IDAT data; the chunks before it are equal too).
    const idat = (p: string) => {
      const buf = readFileSync(p);
      return buf.subarray(buf.indexOf('IDAT'));
    };
    expect(idat(join(out, 'warm.png')).equals(idat(join(out, 'cold.png')))).toBe(true);
    expect(count(await (await fetch(`${url}/metrics`)).text())).toBe(count(after));
  }, 400_000);

  it('--print-plan prints the load plan and exits without loading or binding (bench/serve.mjs\'s baseline loads it)', async () => {
    const r = await cli(['serve', 'builtin:tiny-sd', '--print-plan', ...LOAD]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as {model_id: string; plan: {pipeline: string; device: string}; family: string};
    expect(doc).toMatchObject({model_id: 'builtin:tiny-sd', family: 'sd1', plan: {pipeline: 'StableDiffusionPipeline', device: 'cpu'}});
  }, 120_000);

  it('on a busy port (this serve\'s own) exits 2 at once with the reason, loading nothing and reporting no worker death', async () => {
    const port = new URL(url).port;
    const r = await cli(['serve', 'builtin:tiny-sd', '--port', port, '--no-state', ...LOAD], {env: {MGEN_WORKER_READY_TIMEOUT: '1'}});
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`port ${port} is already in use (try --port 0 or another)`);
    expect(r.stderr).not.toMatch(/died|restart|preparing/);
  }, 60_000);

  it('on SIGTERM refuses new work with 503, finishes the accepted job, removes its state file and exits 0', async () => {
    const post = (path: string, body: unknown) =>
      fetch(`${url}${path}`, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify(body)});
    const job = await post('/v1/jobs', {id: 'drain-me', input: {prompt: 'drain', width: 128, height: 128, steps: 40, seed: 1}});
    expect(job.status).toBe(202);
    for (let i = 0; i < 600; i++) {
      const st = (await (await fetch(`${url}/v1/jobs/drain-me`)).json()) as {status: string};
      if (st.status === 'running') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    // The job's event stream stays open through the drain and ends with its final status.
    const events = fetch(`${url}/v1/jobs/drain-me/events`).then((r) => r.text());
    await new Promise((r) => setTimeout(r, 200));
    serve.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    const refused = await post('/v1/generate', {prompt: 'too late', width: 64, height: 64, steps: 2}).catch(() => null);
    // Refused while draining (503), unless the socket already closed because the job has finished.
    if (refused) expect(refused.status).toBe(503);
    const text = await events;
    const done = /event: done\ndata: (.*)\n/.exec(text);
    expect(JSON.parse(done![1]!).status).toBe('completed');
    expect(await exited).toBe(0);
    expect(serveErr()).toMatch(/SIGTERM: finishing accepted jobs/);
    // The worker stopped on purpose: no "died; restarting it".
    expect(serveErr()).not.toMatch(/died|restart/);
    expect(stateFiles().some((s) => s.state.pid === serve.pid)).toBe(false);
  }, 300_000);
});
