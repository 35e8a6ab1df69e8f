// Shared by the serve runtime tests: the interpreter, the tiny model (built once by the runtime itself), a
// load plan for it, and a real serve on 127.0.0.1:0 with a real worker.
import {execFileSync} from 'node:child_process';
import {existsSync, mkdirSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {delimiter, dirname, join} from 'node:path';
import {pythonRuntimeDir} from '../../src/backends/paths.js';
import {startWorker} from '../../src/backends/worker/index.js';
import type {GenerateRequest, LoadPlan, WorkerHandle} from '../../src/backends/worker/types.js';
import type {ServeSession} from '../../src/backends/server/session-port.js';
import {startServe, type RunningServe, type StartServeOptions} from '../../src/backends/server/server.js';

export function python(): string {
  const p = process.env.MGEN_PYTHON;
  if (!p) throw new Error('set MGEN_PYTHON to an interpreter with the runtime requirements (see README)');
  return p;
}

/** PYTHONPATH for processes that run mgen_runtime modules directly (the RunPod handler, tiny builds). */
export function runtimeEnv(): NodeJS.ProcessEnv {
  const rt = process.env.MGEN_TEST_RUNTIME_DIR ?? pythonRuntimeDir();
  return {...process.env, PYTHONPATH: process.env.PYTHONPATH ? `${rt}${delimiter}${process.env.PYTHONPATH}` : rt};
}

/** The tiny SD 1.5-shaped model, built once per machine by `python -m mgen_runtime.tiny`. */
export function tinySd(): string {
  const dir = join(tmpdir(), 'mgen-serve-test-models', 'tiny-sd');
  if (!existsSync(join(dir, 'model_index.json'))) {
    mkdirSync(join(dir, '..'), {recursive: true});
    execFileSync(python(), ['-m', 'mgen_runtime.tiny', 'tiny-sd', dir], {env: runtimeEnv(), stdio: ['ignore', 'ignore', 'pipe'], timeout: 180_000});
  }
  return dir;
}

export function tinyPlan(path: string): LoadPlan {
  return {
    strategy: 'diffusers-folder',
    path,
    pipeline: 'StableDiffusionPipeline',
    task: 'text-to-image',
    config_repo: null,
    component: null,
    base_path: null,
    variant: null,
    dtype: 'float32',
    device: 'cpu',
    offload: 'none',
    vae_tiling: false,
    allow_pickle: false,
    trust_remote_code: false,
    compile: false,
    loras: [],
    embeddings: [],
    controlnet: null,
    vae: null,
  };
}

export async function startLoadedWorker(plan: LoadPlan): Promise<WorkerHandle> {
  const w = await startWorker({python: python(), env: runtimeEnv()});
  try {
    await w.load(plan);
  } catch (err) {
    w.kill();
    throw err;
  }
  return w;
}

/** A session over a real worker with the tiny model loaded. */
export async function openTinySession(plan: LoadPlan): Promise<ServeSession> {
  const worker = await startLoadedWorker(plan);
  const hello = await worker.hello();
  return {
    worker,
    hello,
    plan,
    schema: () => worker.schema(),
    close: () => worker.shutdown(),
    async generate(input, opts) {
      const seed = input.seed ?? 1234;
      const outDir = dirname(input.out!);
      const request: GenerateRequest = {
        prompt: input.prompt, negative_prompt: input.negativePrompt ?? null, width: input.width ?? 64, height: input.height ?? 64,
        steps: input.steps ?? 2, guidance_scale: input.guidance ?? 5, seed, num_images: input.numImages ?? 1,
        scheduler: input.scheduler ?? null, image: input.image ?? null, mask: input.mask ?? null, strength: input.strength ?? null,
        control_image: input.controlImage ?? null, params: input.params ?? {}, out_dir: outDir, file_stem: 'img', png_text: [],
      };
      const r = await worker.generate(request, opts);
      return {images: r.images, timings: {denoise_s: r.timings.denoise_s, worker_total_s: r.timings.total_s, total_s: r.timings.total_s, steps: r.timings.steps}, model: plan.path, seed, request};
    },
  };
}

/** A real serve of the tiny model on 127.0.0.1:0. */
export async function startTinyServe(extra: Partial<StartServeOptions> = {}): Promise<RunningServe & {plan: LoadPlan}> {
  const plan = tinyPlan(tinySd());
  const s = await startServe({
    modelId: plan.path,
    report: {defaults: {width: 64, height: 64, steps: 2, guidance_scale: 5}},
    session: await openTinySession(plan),
    reopen: () => openTinySession(plan),
    host: '127.0.0.1',
    port: 0,
    home: null,
    ...extra,
  });
  return {...s, plan};
}
