// One job must not kill another's: a cancelled job whose worker does not reach the next step within the grace
// period gets the worker killed; the next request waits for the restart (model reload) instead of failing with 503,
// and /metrics counts the kill and the wait. The worker here behaves like the real one (start-worker.ts): kill()
// marks it killed at once, the process exits a little later, and a request sent to it meanwhile dies with it.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {writeFileSync} from 'node:fs';
import type {ServeSession} from '../../../src/backends/server/session-port.js';
import {startServe, type RunningServe} from '../../../src/backends/server/server.js';
import type {GenerateRequest, LoadPlan, WorkerHandle} from '../../../src/backends/worker/types.js';
import {GenerationError, InterruptedError} from '../../../src/errors.js';
import {buildPng} from '../../helpers/png.js';
import {idleWorkerVerbs} from './fake-session.js';

type Exit = {code: number | null; signal: NodeJS.Signals | null};
let exitNow: (() => void) | null = null;

function slowDyingWorker(pid: number): WorkerHandle & {killed: boolean} {
  let alive = true;
  let onExit!: (v: Exit) => void;
  const exited = new Promise<Exit>((r) => (onExit = r));
  const w = {
    pid,
    killed: false,
    get alive() {
      return alive;
    },
    exited,
    kill() {
      if (w.killed) return;
      w.killed = true;
      // A real process takes a moment to go after SIGKILL: here, until the test lets it (exitKilled()).
      exitNow = () => {
        alive = false;
        onExit({code: null, signal: 'SIGKILL'});
      };
    },
    shutdownRequested: false,
    async shutdown() {
      w.shutdownRequested = true;
      alive = false;
      onExit({code: 0, signal: null});
    },
    ...idleWorkerVerbs,
  };
  return w as unknown as WorkerHandle & {killed: boolean};
}

let sessions = 0;
function session(): ServeSession {
  const worker = slowDyingWorker(1000 + sessions++);
  let n = 0;
  return {
    worker,
    hello: {protocol: 1, python: '3', torch: 't', diffusers: 'd', transformers: 'tr', device: 'cpu'},
    plan: {task: 'text-to-image', strategy: 'fake', pipeline: 'FakePipeline', dtype: 'float32', device: 'cpu'} as unknown as LoadPlan,
    schema: async () => ({type: 'object', properties: {}}),
    async generate(input, opts = {}) {
      // A request that reaches a worker on its way out dies with it (what the pipe does to a real one).
      if (worker.killed) {
        await worker.exited;
        throw new GenerationError('the Python worker died during generate (killed by SIGKILL)');
      }
      if (input.prompt === 'stuck') {
        // Never reaches a step boundary: the cancel's grace period runs out and the worker is killed.
        await new Promise<void>((_, reject) => {
          opts.signal?.addEventListener('abort', () => {
            worker.kill();
            reject(new InterruptedError('generation cancelled (the worker did not stop in time and was killed)'));
          }, {once: true});
        });
      }
      const path = (input.out ?? '').replace('{n}', `${worker.pid}-${++n}`);
      writeFileSync(path, buildPng(8, 8));
      return {
        images: [{path, seed: 1, width: 8, height: 8}],
        timings: {denoise_s: 0, worker_total_s: 0, total_s: 0, steps: 1},
        model: 'fake', seed: 1, request: {prompt: input.prompt} as unknown as GenerateRequest, loras: [],
      };
    },
    async close() {
      await worker.shutdown();
    },
  };
}

let serve: RunningServe;
beforeAll(async () => {
  serve = await startServe({modelId: 'fake', report: {id: 'fake'}, session: session(), reopen: async () => session(), host: '127.0.0.1', port: 0, home: null});
});
afterAll(async () => serve?.close(100));

const json = {'content-type': 'application/json'};

describe('a cancel that kills the worker', () => {
  it('does not fail the next request: it waits for the reload, and /metrics counts the kill and the wait', async () => {
    const a = await fetch(`${serve.url}/v1/jobs`, {method: 'POST', headers: json, body: JSON.stringify({input: {prompt: 'stuck'}})});
    const {id} = (await a.json()) as {id: string};
    for (let i = 0; i < 200 && serve.serve.queue.get(id)?.status !== 'running'; i++) await new Promise((r) => setTimeout(r, 5));
    const cancelled = await fetch(`${serve.url}/v1/jobs/${id}`, {method: 'DELETE'});
    expect(((await cancelled.json()) as {status: string}).status).toBe('cancelled');
    // At once, while the killed worker has not exited yet; it exits once the next job has started.
    const pending = fetch(`${serve.url}/v1/generate`, {method: 'POST', headers: json, body: JSON.stringify({prompt: 'next client'})});
    for (let i = 0; i < 400 && !(serve.serve.queue.active && serve.serve.queue.depth === 0); i++) await new Promise((r) => setTimeout(r, 5));
    expect(exitNow).not.toBeNull();
    exitNow!();
    const b = await pending;
    expect(b.status).toBe(200);
    expect(serve.engine.worker.pid).toBe(1001);
    const metrics = await (await fetch(`${serve.url}/metrics`)).text();
    expect(metrics).toMatch(/^mgen_worker_cancel_kills_total 1$/m);
    expect(metrics).toMatch(/^mgen_jobs_waited_for_restart_total 1$/m);
    expect(metrics).toMatch(/^mgen_worker_restarts_total 1$/m);
  });
});
