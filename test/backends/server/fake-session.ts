// A ServeSession without Python: the real request-LoRA resolution (RequestLoraResolver over resolveModelForLoad,
// real detection, real pulls, the LoRA hash) and a small PNG per image, so the real app, engine and queue can be
// tested on real sockets in the unit suite. `hold` makes generate wait until its job is aborted.
import {writeFileSync} from 'node:fs';
import {loraShortHash} from '../../../src/backends/file-hash.js';
import {RequestLoraResolver} from '../../../src/backends/request-loras.js';
import {resolveModelForLoad} from '../../../src/backends/resolve-model.js';
import type {ServeSession} from '../../../src/backends/server/session-port.js';
import type {GenerateRequest, LoadPlan, WorkerHandle} from '../../../src/backends/worker/types.js';
import {InterruptedError} from '../../../src/errors.js';
import {buildPng} from '../../helpers/png.js';

export interface FakeSession extends ServeSession {
  hold: boolean;
  /** Each generate takes this long (ms). */
  slowMs: number;
  generated: number;
}

/** The worker verbs serve never calls on its session's worker (the session does the work). */
export const idleWorkerVerbs = {
  stderrTail: () => '',
  hello: async () => ({}) as never,
  load: async () => ({}) as never,
  schema: async () => ({}),
  generate: async () => ({}) as never,
  unload: async () => undefined,
};

function fakeWorker(): WorkerHandle {
  let alive = true;
  let onExit!: (v: {code: number | null; signal: NodeJS.Signals | null}) => void;
  const exited = new Promise<{code: number | null; signal: NodeJS.Signals | null}>((r) => (onExit = r));
  const die = (signal: NodeJS.Signals): void => {
    if (!alive) return;
    alive = false;
    onExit({code: null, signal});
  };
  const kill = (): void => die('SIGKILL');
  const w = {
    pid: 424242,
    get alive() {
      return alive;
    },
    exited,
    kill,
    /** Exits by a signal from outside (Ctrl-C reaches the worker too; the OOM killer sends SIGKILL). */
    die,
    shutdownRequested: false,
    async shutdown() {
      w.shutdownRequested = true;
      kill();
    },
    ...idleWorkerVerbs,
  };
  return w as unknown as WorkerHandle;
}

export function fakeSession(env: NodeJS.ProcessEnv): FakeSession {
  const resolver = new RequestLoraResolver({resolve: resolveModelForLoad, ropts: {env}, family: 'sd1', allowPickle: true});
  const s: FakeSession = {
    hold: false,
    slowMs: 0,
    generated: 0,
    worker: fakeWorker(),
    hello: {protocol: 1, python: '3', torch: 't', diffusers: 'd', transformers: 'tr', device: 'cpu'},
    plan: {task: 'text-to-image', strategy: 'fake', pipeline: 'FakePipeline', dtype: 'float32', device: 'cpu'} as unknown as LoadPlan,
    schema: async () => ({type: 'object', properties: {}}),
    async generate(input, opts = {}) {
      const loras = input.loras?.length ? await resolver.resolveAll(input.loras) : [];
      for (const l of loras) await loraShortHash(l.path, env);
      // What the worker answers for a LoRA file it cannot load: its exception's first line, which may quote the file.
      const unloadable = loras.findIndex((l) => l.path.endsWith('unloadable.safetensors'));
      if (unloadable >= 0) {
        throw Object.assign(new Error(`request.loras[${unloadable}]: cannot load unloadable.safetensors into FakePipeline: Unsupported global: GLOBAL evil.secret_name`), {workerType: 'bad_params'});
      }
      if (s.slowMs) await new Promise((r) => setTimeout(r, s.slowMs));
      if (s.hold) {
        await new Promise<void>((_, reject) => {
          if (opts.signal?.aborted) return reject(new InterruptedError('generation cancelled'));
          opts.signal?.addEventListener('abort', () => reject(new InterruptedError('generation cancelled')), {once: true});
        });
      }
      s.generated++;
      const path = (input.out ?? '').replace('{n}', `${s.generated}`);
      writeFileSync(path, buildPng(8, 8));
      return {
        images: [{path, seed: 1, width: 8, height: 8}],
        timings: {denoise_s: 0, worker_total_s: 0, total_s: 0, steps: 1},
        model: 'fake',
        seed: 1,
        request: {prompt: input.prompt} as unknown as GenerateRequest,
        loras: input.loras ?? [],
      };
    },
    async close() {
      await s.worker.shutdown();
    },
  };
  return s;
}
