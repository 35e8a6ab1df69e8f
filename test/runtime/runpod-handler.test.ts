// The RunPod handler through the SDK's own local API server (`--rp_serve_api`) on loopback, with the tiny
// model. The handler is a thin adapter: it starts `mgen serve` on loopback and forwards each job, so what it answers
// is what serve answers (same validation messages, PNG text, LoRA handling). The runpod extra is installed by
// docker/install.sh's `extra` step (into a --target folder, so the runtime venv stays as it is) -- the same script
// the Docker image runs.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {spawn, spawnSync, type ChildProcess} from 'node:child_process';
import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {createServer as createHttpServer, type Server} from 'node:http';
import {createServer} from 'node:net';
import {tmpdir} from 'node:os';
import {delimiter, join} from 'node:path';
import {readPngInfo} from '../../src/backends/png-metadata.js';
import {a1111LoraEntry, ROOT, TEST_HOME, testEnv, testPython, tiny} from './support.js';

const EXTRA = join(TEST_HOME, 'runpod-extra');
let child: ChildProcess | undefined;
let url = '';
let stderr = '';
let scratch = '';
let loadLog = '';
/** What the SDK's progress_update posted (RUNPOD_WEBHOOK_POST_OUTPUT points at this loopback receiver). */
const posted: Array<{id: string | null; body: any}> = [];
let receiver: Server | undefined;

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
  scratch = mkdtempSync(join(tmpdir(), 'mgen-runpod-test-'));
  loadLog = join(scratch, 'loads.log');
  receiver = createHttpServer((req, res) => {
    let data = '';
    req.on('data', (c: Buffer) => (data += c.toString()));
    req.on('end', () => {
      const id = new URL(req.url ?? '/', 'http://x').searchParams.get('id');
      try {
        posted.push({id, body: JSON.parse(data)});
      } catch {
        posted.push({id, body: data});
      }
      res.end('ok');
    });
  });
  await new Promise<void>((r) => receiver!.listen(0, '127.0.0.1', () => r()));
  const receiverPort = (receiver.address() as {port: number}).port;
  const env = testEnv({
    MODEL_ID: 'builtin:tiny-sd',
    MGEN_CLI: `${process.execPath} ${join(ROOT, 'bin', 'mgen')}`,
    MGEN_LOAD_FLAGS: '--device cpu --dtype float32',
    // The runtime's own package first, then the extra (its pins never include torch).
    PYTHONPATH: [join(ROOT, 'python-runtime'), EXTRA].join(delimiter),
    RUNPOD_HF_CACHE: join(TEST_HOME, 'no-runpod-cache'),
    RUNPOD_WEBHOOK_POST_OUTPUT: `http://127.0.0.1:${receiverPort}/done?id=$ID`,
    MGEN_LOAD_LOG: loadLog,
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
  receiver?.close();
  if (scratch) rmSync(scratch, {recursive: true, force: true});
});

const idat = (b64: string) => {
  const buf = Buffer.from(b64, 'base64');
  return buf.subarray(buf.indexOf('IDAT')).toString('base64');
};

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
    expect(idat(again.output.images[0].b64_json)).toBe(idat(images[0].b64_json));
    expect(stderr.match(/mgen runpod handler: serving builtin:tiny-sd through http:\/\/127\.0\.0\.1:\d+, ready in/g)).toHaveLength(1);
  }, 300_000);

  it('loaded the model exactly once in all processes (serve holds it)', async () => {
    const lines = readFileSync(loadLog, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(1);
    const out = await runsync({prompt: 'a red cube', width: 64, height: 64, steps: 1, seed: 1});
    expect(out.status).toBe('COMPLETED');
    expect(readFileSync(loadLog, 'utf8').trim().split('\n')).toHaveLength(1);
  }, 120_000);

  it('writes the A1111 parameters text and the mgen JSON chunk that serve (and `mgen generate`) writes', async () => {
    const out = await runsync({prompt: 'a red cube', negative_prompt: 'blur', width: 64, height: 64, steps: 2, seed: 33, guidance_scale: 7});
    const info = readPngInfo(Buffer.from(out.output.images[0].b64_json, 'base64'));
    // serve's writer (the handler has none of its own): a diffusers folder has no one file to hash, so no Model hash
    // and the MODEL_ID as Model.
    expect(info.text.parameters).toMatch(/^a red cube\nNegative prompt: blur\nSteps: 2, Sampler: \S.*, CFG scale: 7, Seed: 33, Size: 64x64, Model: "builtin:tiny-sd", Version: mgen$/);
    const doc = JSON.parse(info.text.mgen!);
    expect(doc).toMatchObject({
      schema: 1,
      model: 'builtin:tiny-sd',
      adapters: {loras: [], embeddings: [], controlnet: null, vae: null},
      request: {prompt: 'a red cube', negative_prompt: 'blur', seed: 33, steps: 2, width: 64, height: 64, guidance_scale: 7},
      plan: {pipeline: 'StableDiffusionPipeline', task: 'text-to-image', loras: []},
      runtime: {device: 'cpu'},
    });
  }, 120_000);

  it('sends denoising progress through the SDK while a job runs', async () => {
    const before = posted.length;
    const out = await runsync({prompt: 'progress', width: 64, height: 64, steps: 3, seed: 2});
    expect(out.status).toBe('COMPLETED');
    const deadline = Date.now() + 20_000;
    const last = (p: {body: any}) => p.body?.output?.step !== undefined && p.body.output.step === p.body.output.steps;
    while (Date.now() < deadline && !posted.slice(before).some(last)) await new Promise((r) => setTimeout(r, 100));
    const mine = posted.slice(before).filter((p) => p.id === out.id);
    expect(mine.length).toBeGreaterThanOrEqual(2);
    // The loop's own count (PNDM runs one iteration more than the steps asked for).
    const total = mine[0]!.body.output.steps;
    expect(total).toBeGreaterThanOrEqual(3);
    for (const p of mine) expect(p.body).toMatchObject({status: 'IN_PROGRESS', output: {steps: total}});
    expect(mine.map((p) => p.body.output.step)).toEqual(expect.arrayContaining([1, total]));
  }, 120_000);

  it('stops a job at the next step when it runs past input.timeout, and keeps serving', async () => {
    const t0 = Date.now();
    const out = await runsync({prompt: 'too long', width: 256, height: 256, steps: 150, seed: 3, timeout: 0.5});
    expect(out.status).toBe('FAILED');
    expect(out.error).toMatch(/^timeout: the job ran past its 0\.5 s limit/);
    expect(Date.now() - t0).toBeLessThan(120_000);
    expect((await runsync({prompt: 'x', width: 64, height: 64, steps: 1, seed: 3})).status).toBe('COMPLETED');
    expect((await runsync({prompt: 'x', timeout: -1})).error).toMatch(/^timeout: must be a number/);
  }, 300_000);

  it('applies per-request loras for that job only, and refuses unknown ones naming loras[i].name', async () => {
    const base = {prompt: 'a red cube', width: 64, height: 64, steps: 2, seed: 5};
    const plain = await runsync(base);
    const withLora = await runsync({...base, loras: [{name: 'builtin:tiny-sd-lora-kohya', scale: 1}]});
    expect(withLora.status).toBe('COMPLETED');
    expect(idat(withLora.output.images[0].b64_json)).not.toBe(idat(plain.output.images[0].b64_json));
    const info = readPngInfo(Buffer.from(withLora.output.images[0].b64_json, 'base64'));
    expect(info.text.parameters).toContain(`Lora hashes: "${a1111LoraEntry((await tiny('tiny-sd-lora-kohya')).path)}"`);
    expect(JSON.parse(info.text.mgen!).adapters.loras).toEqual([{id: 'builtin:tiny-sd-lora-kohya', scale: 1}]);
    const zero = await runsync({...base, loras: [{name: 'builtin:tiny-sd-lora-kohya', scale: 0}]});
    expect(idat(zero.output.images[0].b64_json)).toBe(idat(plain.output.images[0].b64_json));
    const after = await runsync(base);
    expect(idat(after.output.images[0].b64_json)).toBe(idat(plain.output.images[0].b64_json));
    const missing = await runsync({...base, loras: [{name: join(scratch, 'nope.safetensors')}]});
    expect(missing.status).toBe('FAILED');
    expect(missing.error).toMatch(/^loras\[0\]\.name: /);
    // Serve's request-model policy holds here too: no local path (existing or not) unless the operator allows a folder.
    const local = await runsync({...base, loras: [{name: '/etc/hostname'}, {name: 'builtin:tiny-sd-lora-kohya'}].reverse()});
    expect(local.status).toBe('FAILED');
    expect(local.error).toBe('loras[1].name: this server does not read local paths named by requests (the operator can allow folders with --model-dir)');
    const ti = await runsync({...base, loras: [{name: 'builtin:tiny-sd-ti'}]});
    expect(ti.status).toBe('FAILED');
    expect(ti.error).toMatch(/^loras\[0\]\.name: /);
  }, 600_000);

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
