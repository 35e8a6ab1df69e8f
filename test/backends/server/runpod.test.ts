// RunPod's serverless shapes on a real socket: /v2/{endpoint_id}/... beside the short paths, job states from
// IN_QUEUE to COMPLETED/CANCELLED, /stream's chunks, cancel and purge-queue with no body, validation failures as
// FAILED jobs, and webhooks: delivered with bounded retries to a loopback receiver, refused to private addresses
// when the server is reachable from other machines. Loopback only.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import http from 'node:http';
import {startServe, type RunningServe} from '../../../src/backends/server/server.js';
import {gatedSession, type GatedSession} from './gated-session.js';

let serve: RunningServe;
let session: GatedSession;
let receiver: http.Server;
let hookUrl = '';
const received: Array<{path: string; body: any}> = [];
/** Answers 500 to the first POST of each path listed here (retries). */
const failOnce = new Set<string>();
const logs: string[] = [];

beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    let data = '';
    req.on('data', (c: Buffer) => (data += c.toString()));
    req.on('end', () => {
      received.push({path: req.url ?? '', body: JSON.parse(data)});
      if (failOnce.delete(req.url ?? '')) res.statusCode = 500;
      res.end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  hookUrl = `http://127.0.0.1:${(receiver.address() as {port: number}).port}`;
  session = gatedSession();
  serve = await startServe({
    modelId: 'fake', report: {id: 'fake'}, session, reopen: async () => session, host: '127.0.0.1', port: 0, home: null,
    webhookRetryDelaysMs: [10, 10], log: (l) => logs.push(l),
  });
});
afterAll(async () => {
  await serve?.close(100);
  await new Promise((r) => receiver.close(r));
});

const json = {'content-type': 'application/json'};
async function call(method: string, path: string, body?: unknown): Promise<{status: number; body: any}> {
  const r = await fetch(`${serve.url}${path}`, {method, headers: json, ...(body === undefined ? {} : {body: JSON.stringify(body)})});
  return {status: r.status, body: await r.json()};
}
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
}

describe('RunPod routes', () => {
  it('runs a job through /v2/{endpoint_id}/run, status and stream, and posts the result to the webhook', async () => {
    const run = await call('POST', '/v2/my-endpoint/run', {input: {prompt: 'a'}, webhook: `${hookUrl}/done`});
    expect(run.status).toBe(200);
    expect(run.body).toEqual({id: expect.any(String), status: expect.stringMatching(/^IN_(QUEUE|PROGRESS)$/)});
    const id = run.body.id;
    await until(() => session.waiting === 1);
    expect((await call('GET', `/v2/other-id/status/${id}`)).body).toMatchObject({id, status: 'IN_PROGRESS'});
    const partial = await call('GET', `/v2/my-endpoint/stream/${id}`);
    expect(partial.body).toEqual({id, status: 'IN_PROGRESS', stream: [{output: {step: 1, steps: 2}}, {output: {step: 2, steps: 2}}]});
    failOnce.add('/done');
    await session.release();
    await until(() => received.filter((r) => r.path === '/done').length === 2);
    const done = await call('GET', `/v2/my-endpoint/status/${id}`);
    expect(done.body).toMatchObject({id, status: 'COMPLETED', output: {images: [{seed: 7}]}, delayTime: expect.any(Number), executionTime: expect.any(Number)});
    // The webhook got what /status says, twice: the first answer was a 500.
    expect(received.filter((r) => r.path === '/done').map((r) => r.body.status)).toEqual(['COMPLETED', 'COMPLETED']);
    expect(received[0]!.body.output.images[0].seed).toBe(7);
    const rest = await call('GET', `/v2/my-endpoint/stream/${id}`);
    expect(rest.body.stream).toEqual([{output: done.body.output}]);
    expect((await call('POST', `/v2/my-endpoint/stream/${id}`)).body).toEqual({id, status: 'COMPLETED', stream: []});
  });

  it('cancels with an empty JSON body, and purges the queue', async () => {
    const a = (await call('POST', '/v2/e/run', {input: {prompt: 'a'}})).body.id;
    const b = (await call('POST', '/v2/e/run', {input: {prompt: 'b'}})).body.id;
    const c = (await call('POST', '/run', {input: {prompt: 'c'}})).body.id;
    await until(() => session.waiting === 1);
    expect((await call('GET', '/v2/e/health')).body).toEqual({
      jobs: {completed: 1, failed: 0, inProgress: 1, inQueue: 2, retried: 0}, workers: {idle: 0, running: 1},
    });
    expect((await call('GET', `/v2/e/status/${b}`)).body).toEqual({id: b, status: 'IN_QUEUE'});
    expect(await call('POST', '/v2/e/purge-queue')).toEqual({status: 200, body: {removed: 2, status: 'completed'}});
    expect((await call('GET', `/status/${c}`)).body).toMatchObject({status: 'CANCELLED', error: expect.stringMatching(/purged/)});
    const cancelled = await call('POST', `/v2/e/cancel/${a}`);
    expect(cancelled).toEqual({status: 200, body: expect.objectContaining({id: a, status: 'CANCELLED'})});
    // Cancelling a job that has ended says how it ended.
    expect((await call('POST', `/v2/e/cancel/${a}`, {})).body.status).toBe('CANCELLED');
  });

  it('answers a request that does not validate as a FAILED job, readable at /status, and tells the webhook', async () => {
    const r = await call('POST', '/v2/e/runsync', {input: {prompt: 'x', width: 65}, webhook: `${hookUrl}/failed`});
    expect(r).toEqual({status: 200, body: {id: expect.any(String), status: 'FAILED', error: 'width: must be multiple of 8'}});
    expect((await call('GET', `/v2/e/status/${r.body.id}`)).body).toEqual(r.body);
    await until(() => received.some((x) => x.path === '/failed'));
    expect(received.find((x) => x.path === '/failed')!.body).toEqual(r.body);
    expect((await call('POST', '/v2/e/run', {input: {colour: 'red', prompt: 'x'}})).body).toMatchObject({status: 'FAILED', error: 'colour: unknown field'});
    expect((await call('POST', '/v2/e/run', {input: {prompt: 'x'}, webhook: 'file:///etc/passwd'})).status).toBe(400);
    expect((await call('POST', '/v2/e/run', {nothing: 1})).status).toBe(400);
    expect((await call('GET', '/v2/e/status/nope')).status).toBe(404);
  });

  it('does not call back a private address when the server is reachable from other machines', async () => {
    serve.serve.setListenAddress('0.0.0.0', serve.port);
    try {
      const before = received.length;
      const r = await call('POST', '/v2/e/run', {input: {prompt: 'x', width: 65}, webhook: `${hookUrl}/private`});
      expect(r.body.status).toBe('FAILED');
      await until(() => logs.some((l) => /^webhook to 127\.0\.0\.1:\d+ not delivered: refused/.test(l)));
      expect(received.length).toBe(before);
    } finally {
      serve.serve.setListenAddress('127.0.0.1', serve.port);
    }
  });
});
