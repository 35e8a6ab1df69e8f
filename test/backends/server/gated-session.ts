// A ServeSession without Python whose jobs wait at a gate the test opens (release()), reporting two progress steps
// first, so queue positions, event streams and RunPod's job states can be watched while a job runs.
import {writeFileSync} from 'node:fs';
import type {ServeSession} from '../../../src/backends/server/session-port.js';
import type {GenerateRequest, LoadPlan, WorkerHandle} from '../../../src/backends/worker/types.js';
import {InterruptedError} from '../../../src/errors.js';
import {buildPng} from '../../helpers/png.js';

export interface GatedSession extends ServeSession {
  /** Lets the oldest waiting job finish; resolves once one was waiting (bounded wait). */
  release(): Promise<void>;
  /** Jobs waiting at the gate. */
  readonly waiting: number;
}

export function gatedSession(): GatedSession {
  const gates: Array<() => void> = [];
  let n = 0;
  const worker = {
    pid: 4242, alive: true, exited: new Promise(() => undefined), kill() {}, shutdown: async () => undefined, stderrTail: () => '',
  } as unknown as WorkerHandle;
  return {
    worker,
    hello: {protocol: 1, python: '3', torch: 't', diffusers: 'd', transformers: 'tr', device: 'cpu'},
    plan: {task: 'text-to-image', strategy: 'fake', pipeline: 'FakePipeline', dtype: 'float32', device: 'cpu'} as unknown as LoadPlan,
    schema: async () => ({type: 'object', properties: {}}),
    get waiting() {
      return gates.length;
    },
    async release() {
      for (let i = 0; i < 1000 && gates.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
      gates.shift()?.();
    },
    async generate(input, opts = {}) {
      opts.onProgress?.(1, 2);
      opts.onProgress?.(2, 2);
      await new Promise<void>((resolve, reject) => {
        if (opts.signal?.aborted) return reject(new InterruptedError('generation cancelled'));
        const gate = (): void => resolve();
        gates.push(gate);
        opts.signal?.addEventListener('abort', () => {
          const i = gates.indexOf(gate);
          if (i >= 0) gates.splice(i, 1);
          reject(new InterruptedError('generation cancelled'));
        }, {once: true});
      });
      const path = (input.out ?? '').replace('{n}', `${++n}`);
      writeFileSync(path, buildPng(8, 8));
      return {
        images: [{path, seed: 7, width: 8, height: 8}],
        timings: {denoise_s: 0, worker_total_s: 0, total_s: 0, steps: 2},
        model: 'fake', seed: 7, request: {prompt: input.prompt} as unknown as GenerateRequest, loras: [],
      };
    },
    async close() {},
  };
}

export interface SseRead {
  status: number;
  retry: number | null;
  comments: number;
  events: Array<{id: string | null; event: string; data: any}>;
}

/** Reads an event stream until `stop(events)` says so or the server ends it; `abort` closes the connection early. */
export async function readSse(url: string, headers: Record<string, string> = {}, stop: (r: SseRead) => boolean = () => false): Promise<SseRead> {
  const ac = new AbortController();
  const res = await fetch(url, {headers, signal: ac.signal});
  const out: SseRead = {status: res.status, retry: null, comments: 0, events: []};
  if (!res.body || res.status !== 200) return out;
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  let id: string | null = null;
  let event = 'message';
  let data = '';
  try {
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buf += dec.decode(value, {stream: true});
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line === '') {
          if (data) out.events.push({id, event, data: JSON.parse(data)});
          [id, event, data] = [null, 'message', ''];
        } else if (line.startsWith(':')) out.comments++;
        else if (line.startsWith('retry: ')) out.retry = Number(line.slice(7));
        else if (line.startsWith('id: ')) id = line.slice(4);
        else if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data += line.slice(6);
      }
      if (stop(out)) break;
    }
  } finally {
    ac.abort();
  }
  return out;
}
