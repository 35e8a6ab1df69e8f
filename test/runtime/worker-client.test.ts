// The worker client against the real worker (real diffusers on CPU, tiny sd1 model).
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {copyFile, mkdir, mkdtemp, readFile, rm} from 'node:fs/promises';
import {createServer} from 'node:net';
import {availableParallelism, tmpdir} from 'node:os';
import {join} from 'node:path';
import {readPngInfo} from '../../src/backends/png-metadata.js';
import {startWorker} from '../../src/backends/worker/start-worker.js';
import type {GenerateRequest, LoadPlan, WorkerHandle} from '../../src/backends/worker/types.js';
import {ExitCode} from '../../src/errors.js';
import {testEnv, testPython, tiny} from './support.js';

let worker: WorkerHandle;
let out: string;
let modelPath: string;

function plan(path: string): LoadPlan {
  return {
    strategy: 'diffusers-folder', path, pipeline: 'StableDiffusionPipeline', task: 'text-to-image', config_repo: null, component: null,
    base_path: null, variant: null, dtype: 'float32', device: 'cpu', offload: 'none', vae_tiling: false, allow_pickle: false,
    trust_remote_code: false, compile: false, loras: [], embeddings: [], controlnet: null, vae: null,
  };
}

function request(over: Partial<GenerateRequest> = {}): GenerateRequest {
  return {
    prompt: 'a red cube', negative_prompt: null, width: 64, height: 64, steps: 3, guidance_scale: 5, seed: 1, num_images: 1, scheduler: null,
    image: null, mask: null, strength: null, control_image: null, params: {}, out_dir: out, file_stem: 'img',
    png_text: [{parameters: 'a red cube\nSteps: 3', mgen: '{"x":1}'}], ...over,
  };
}

beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), 'mgen-wc-'));
  modelPath = (await tiny('tiny-sd')).path;
  worker = await startWorker({python: await testPython(), env: testEnv()});
}, 300_000);
afterAll(async () => {
  await worker?.shutdown();
  await rm(out, {recursive: true, force: true});
});

describe('worker client (real worker)', () => {
  it('says hello, loads, gives a schema and generates an image with progress and PNG text', async () => {
    const hello = await worker.hello();
    expect(hello).toMatchObject({protocol: 1, device: 'cpu'});
    expect(hello.torch).toMatch(/^\d+\.\d+/);
    // Started with the CLI's threading defaults: passive OpenMP waiting, one torch thread per usable core.
    if (!process.env.OMP_NUM_THREADS && !process.env.MKL_NUM_THREADS) expect(hello.threads).toBe(availableParallelism());
    if (!process.env.OMP_WAIT_POLICY) expect(hello.omp_wait_policy).toBe('PASSIVE');
    const load = await worker.load(plan(modelPath));
    expect(load.pipeline).toBe('StableDiffusionPipeline');
    const schema = await worker.schema();
    expect(Object.keys(schema.properties as object)).toContain('eta');
    const steps: Array<[number, number]> = [];
    const r = await worker.generate(request(), {onProgress: (s, n) => steps.push([s, n])});
    // One event per requested step, 1/3 to 3/3, though PNDM runs a fourth (warm-up) loop iteration.
    expect(steps).toEqual([[1, 3], [2, 3], [3, 3]]);
    expect(r.images).toHaveLength(1);
    const info = readPngInfo(await readFile(r.images[0]!.path));
    expect([info.width, info.height]).toEqual([64, 64]);
    expect(info.text).toMatchObject({parameters: 'a red cube\nSteps: 3', mgen: '{"x":1}'});
  }, 120_000);

  it('rejects bad parameters with exit 8 and keeps working', async () => {
    await expect(worker.generate(request({params: {eta: 'not a number'}}))).rejects.toMatchObject({exitCode: ExitCode.generation});
    expect(worker.alive).toBe(true);
  }, 60_000);

  it('cancels at the next step when the signal aborts (exit 130), and the worker stays usable', async () => {
    const ac = new AbortController();
    const seen: number[] = [];
    const p = worker.generate(request({steps: 500}), {signal: ac.signal, onProgress: (s) => {
      seen.push(s);
      if (s === 2) ac.abort();
    }});
    await expect(p).rejects.toMatchObject({exitCode: ExitCode.interrupted});
    expect(seen.length).toBeLessThan(500);
    expect(worker.alive).toBe(true);
    const r = await worker.generate(request({steps: 2, file_stem: 'after'}));
    expect(r.images).toHaveLength(1);
  }, 120_000);
});

describe('worker failures', () => {
  it('a worker killed mid-generate rejects with exit 8 and says it died', async () => {
    const w = await startWorker({python: await testPython(), env: testEnv()});
    await w.load(plan(modelPath));
    const p = w.generate(request({steps: 500}), {onProgress: (s) => s === 2 && w.kill()});
    await expect(p).rejects.toMatchObject({exitCode: ExitCode.generation, message: expect.stringMatching(/died during generate \(killed by SIGKILL\)/)});
    expect(w.alive).toBe(false);
    await expect(w.hello()).rejects.toMatchObject({exitCode: ExitCode.runtime});
  }, 120_000);

  it('a hung generation past its timeout kills the worker (exit 8)', async () => {
    const w = await startWorker({python: await testPython(), env: testEnv()});
    await w.load(plan(modelPath));
    await expect(w.generate(request({steps: 5000}), {timeoutMs: 1500})).rejects.toMatchObject({exitCode: ExitCode.generation, message: expect.stringMatching(/timed out/)});
    const exit = await w.exited;
    expect(exit.signal).toBe('SIGKILL');
  }, 120_000);

  it('a worker that never comes up is exit 7 with its last stderr line', async () => {
    const env = testEnv({PYTHONPATH: ''});
    await expect(startWorker({python: await testPython(), env, addRuntimeToPath: false})).rejects.toMatchObject({
      exitCode: ExitCode.runtime,
      message: expect.stringMatching(/never came up.*No module named/),
    });
    await expect(startWorker({python: '/nonexistent/python', env})).rejects.toMatchObject({exitCode: ExitCode.runtime});
  }, 60_000);
});

describe('a local single-file checkpoint offline', () => {
  it('builds its configs and tokenizer locally and makes no request (the tiny weights then do not fit SD 1.5\'s real configs)', async () => {
    // A hub that counts connections: HF_ENDPOINT points at it, so any attempt to fetch shows up here.
    let connections = 0;
    const hub = createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((r) => hub.listen(0, '127.0.0.1', r));
    const port = (hub.address() as {port: number}).port;
    const dir = await mkdtemp(join(tmpdir(), 'mgen-sf-offline-'));
    try {
      const single = await tiny('tiny-sd-single');
      const file = join(dir, 'model.safetensors'); // builtin:tiny-sd-single's checkpoint as a plain local file
      await copyFile(single.path, file);
      await mkdir(join(dir, 'hf'));
      const env = testEnv({HF_HOME: join(dir, 'hf'), HF_HUB_CACHE: join(dir, 'hf', 'hub'), HF_HUB_OFFLINE: '1', HF_ENDPOINT: `http://127.0.0.1:${port}`});
      const w = await startWorker({python: await testPython(), env});
      try {
        // The runtime reads the file's layout (an SD 1.5 UNet), takes the shipped SD 1.5 configs and rebuilds CLIP's
        // vocabulary, all offline; loading then fails only because builtin:tiny-sd-single's weights are tiny.
        const err = await w.load({...plan(file), strategy: 'single-file'}).then(() => null, (e: unknown) => e as Error & {exitCode: number});
        expect(err?.exitCode).toBe(ExitCode.runtime);
        expect(err?.message).not.toMatch(/vocabulary|mgen pull|offline|connect|resolve/i);
        expect(err?.message).toMatch(/size|shape/i);
      } finally {
        await w.shutdown();
      }
      expect(connections).toBe(0);
    } finally {
      hub.close();
      await rm(dir, {recursive: true, force: true});
    }
  }, 120_000);
});
