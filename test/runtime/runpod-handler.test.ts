// The RunPod handler through the SDK's own local API server (`--rp_serve_api`) on loopback, with the tiny
// model. The runpod extra is installed by docker/install.sh's `extra` step (into a --target folder, so the
// runtime venv stays as it is) -- the same script the Docker image runs.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {spawn, spawnSync, type ChildProcess} from 'node:child_process';
import {existsSync} from 'node:fs';
import {createServer} from 'node:net';
import {delimiter, join} from 'node:path';
import {readPngInfo} from '../../src/backends/png-metadata.js';
import {ROOT, TEST_HOME, testEnv, testPython} from './support.js';

const EXTRA = join(TEST_HOME, 'runpod-extra');
let child: ChildProcess | undefined;
let url = '';
let stderr = '';

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as {port: number}).port;
      s.close(() => res(port));
    });
    s.on('error', rej);
  });
}

async function runsync(input: unknown): Promise<any> {
  const r = await fetch(`${url}/runsync`, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({input})});
  expect(r.status).toBe(200);
  return r.json();
}

beforeAll(async () => {
  const python = await testPython();
  if (!existsSync(join(EXTRA, 'runpod'))) {
    const r = spawnSync(join(ROOT, 'docker', 'install.sh'), [], {
      env: testEnv({MGEN_STEPS: 'extra', MGEN_EXTRA_TARGET: EXTRA, MGEN_PYTHON: python}),
      encoding: 'utf8',
      timeout: 900_000,
    });
    if (r.status !== 0) throw new Error(`docker/install.sh extra failed: ${r.stderr}`);
  }
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  const env = testEnv({
    MODEL_ID: 'builtin:tiny-sd',
    MGEN_CLI: `${process.execPath} ${join(ROOT, 'bin', 'mgen')}`,
    MGEN_LOAD_FLAGS: '--device cpu --dtype float32',
    // The runtime's own package first, then the extra (its pins never include torch).
    PYTHONPATH: [join(ROOT, 'python-runtime'), EXTRA].join(delimiter),
    RUNPOD_HF_CACHE: join(TEST_HOME, 'no-runpod-cache'),
  });
  child = spawn(python, ['-m', 'mgen_runtime.runpod_handler', '--rp_serve_api', '--rp_api_host', '127.0.0.1', '--rp_api_port', String(port)], {env, stdio: ['ignore', 'ignore', 'pipe']});
  child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-20_000)));
  const end = Date.now() + 300_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the handler exited ${child.exitCode}: ${stderr.slice(-3000)}`);
    if (Date.now() > end) throw new Error(`the handler did not come up: ${stderr.slice(-3000)}`);
    const ok = await fetch(`${url}/docs`).then((r) => r.ok, () => false);
    if (ok) break;
    await new Promise((r) => setTimeout(r, 500));
  }
}, 1_200_000);

afterAll(() => {
  child?.kill('SIGKILL');
});

describe('RunPod handler via the SDK local API server', () => {
  it('answers /runsync with base64 PNGs, seeds and metadata in the /v1/generate shape', async () => {
    const out = await runsync({prompt: 'a red cube', width: 64, height: 64, steps: 2, seed: 21, num_images: 2});
    expect(out.status).toBe('COMPLETED');
    const {images, metadata} = out.output;
    expect(images.map((i: {seed: number}) => i.seed)).toEqual([21, 22]);
    const png = Buffer.from(images[0].b64_json, 'base64');
    const info = readPngInfo(png);
    expect([info.width, info.height]).toEqual([64, 64]);
    expect(JSON.parse(info.text.mgen!).request.seed).toBe(21);
    expect(metadata).toMatchObject({model: 'builtin:tiny-sd', seed: 21, seeds: [21, 22], plan: {pipeline: 'StableDiffusionPipeline'}});
    // Same seed, same pixels; the model stayed loaded (one start line in the log).
    const again = await runsync({prompt: 'a red cube', width: 64, height: 64, steps: 2, seed: 21});
    const idat = (b64: string) => {
      const buf = Buffer.from(b64, 'base64');
      return buf.subarray(buf.indexOf('IDAT'));
    };
    expect(idat(again.output.images[0].b64_json).equals(idat(images[0].b64_json))).toBe(true);
    expect(stderr.match(/mgen runpod handler: .* loaded in/g)).toHaveLength(1);
  }, 300_000);

  it.each([
    [{prompt: 'x', width: 65}, /^width: must be multiple of 8/],
    [{prompt: 'x', colour: 'red'}, /^colour: unknown field/],
    [{width: 64}, /^prompt: required/],
    [{prompt: 'x', image: 'https://example.com/a.png'}, /^image: .*URLs are not fetched/],
    [{prompt: 'x', eta: 'high'}, /^eta: /],
  ])('fails %j naming the field', async (input, re) => {
    const out = await runsync(input);
    expect(out.status).toBe('FAILED');
    expect(out.error).toMatch(re);
  });
});
