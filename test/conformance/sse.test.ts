// Real SSE consumers (httpx-sse, sseclient-py) on serve's job event stream, opened the way a browser's EventSource
// opens it (the job's events_url with its short-lived token, no header): numbered events, a retry hint, queue
// positions, and a reconnect with Last-Event-ID that resumes without duplicates. The same serve (a 1 ms cancel
// grace period, so a cancel kills the worker) shows that a client who disconnects never fails the next one.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {spawnServe, testPython, tiny, type SpawnedServe} from '../runtime/support.js';
import {pyJson} from './support.js';

const TOKEN = 'conformance-sse-token';
const auth = {authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json'};
let serve: SpawnedServe;

beforeAll(async () => {
  await testPython();
  await tiny('tiny-sd');
  process.env.MGEN_CANCEL_GRACE_MS = '1';
  try {
    serve = await spawnServe(['builtin:tiny-sd', '--device', 'cpu', '--dtype', 'float32', '--no-state', '--token', TOKEN], 300_000);
  } finally {
    delete process.env.MGEN_CANCEL_GRACE_MS;
  }
}, 420_000);
afterAll(() => {
  serve?.proc.kill('SIGTERM');
});

async function submit(input: Record<string, unknown>): Promise<{id: string; events_url: string}> {
  const r = await fetch(`${serve.url}/v1/jobs`, {method: 'POST', headers: auth, body: JSON.stringify({input})});
  expect(r.status).toBe(202);
  return (await r.json()) as {id: string; events_url: string};
}

type Ev = {id: string; event: string; data: any; retry?: number | null};
const contiguous = (evs: Ev[]): void => {
  const ids = evs.map((e) => e.id);
  expect(ids).toEqual(ids.map((_, i) => String(i + 1)));
};

describe('SSE clients on the job stream', () => {
  it('httpx-sse reads a job, drops the connection, and resumes with Last-Event-ID without duplicates', async () => {
    const job = await submit({prompt: 'a cube', width: 64, height: 64, steps: 4, seed: 1});
    const events = await pyJson<Ev[]>(
      `
import httpx, json, os
from httpx_sse import connect_sse
url, events = os.environ["EVENTS"], []
def read(client, headers, stop):
    with connect_sse(client, "GET", url, headers=headers) as source:
        for sse in source.iter_sse():
            events.append({"id": sse.id, "event": sse.event, "data": json.loads(sse.data), "retry": sse.retry})
            if stop(sse):
                return
with httpx.Client(timeout=120) as client:
    read(client, {}, lambda sse: sse.event in ("progress", "done"))
    read(client, {"Last-Event-ID": events[-1]["id"]}, lambda sse: sse.event == "done")
print(json.dumps(events))
`,
      {EVENTS: job.events_url},
    );
    contiguous(events);
    expect(events[0]).toMatchObject({event: 'status', data: {id: job.id, status: 'queued'}});
    expect(events.some((e) => e.event === 'progress')).toBe(true);
    expect(events.at(-1)).toMatchObject({event: 'done', data: {status: 'completed', output: {images: [{seed: 1}]}}});
  }, 180_000);

  it('sseclient-py follows a job waiting in line (positions, then running), with a retry hint, and resumes', async () => {
    const slow = await submit({prompt: 'slow', width: 128, height: 128, steps: 8, seed: 2});
    await submit({prompt: 'b', width: 64, height: 64, steps: 1, seed: 3});
    const c = await submit({prompt: 'c', width: 64, height: 64, steps: 2, seed: 4});
    const events = await pyJson<Ev[]>(
      `
import json, os, requests, sseclient
url, events = os.environ["EVENTS"], []
def read(headers, stop):
    resp = requests.get(url, stream=True, headers={"Accept": "text/event-stream", **headers}, timeout=120)
    try:
        for ev in sseclient.SSEClient(resp).events():
            events.append({"id": ev.id, "event": ev.event, "data": json.loads(ev.data), "retry": int(ev.retry) if ev.retry else None})
            if stop(ev):
                return
    finally:
        resp.close()
read({}, lambda ev: ev.event == "position")
read({"Last-Event-ID": events[-1]["id"]}, lambda ev: ev.event == "done")
print(json.dumps(events))
`,
      {EVENTS: c.events_url},
    );
    contiguous(events);
    expect(events[0]).toMatchObject({event: 'status', data: {status: 'queued'}});
    // queued (2nd in line), then 1st in line, then running.
    const line = events.filter((e) => e.event === 'position' || e.event === 'status').map((e) => (e.event === 'position' ? e.data.position : e.data.status));
    expect(line).toEqual(['queued', 1, 'running']);
    expect(events[0]!.data.position).toBe(2);
    expect(events.every((e) => e.retry === null || e.retry === 3000)).toBe(true);
    expect(events[0]!.retry).toBe(3000);
    expect(events.at(-1)).toMatchObject({event: 'done', data: {status: 'completed'}});
    expect(slow.id).not.toBe(c.id);
  }, 240_000);

  it('refuses the stream without its token, and with the long-lived token in the query string', async () => {
    const job = await submit({prompt: 'x', width: 64, height: 64, steps: 1, seed: 5});
    const bare = job.events_url.split('?')[0]!;
    expect((await fetch(bare)).status).toBe(401);
    expect((await fetch(`${bare}?token=${TOKEN}`)).status).toBe(401);
    expect((await fetch(job.events_url)).status).toBe(200);
  }, 60_000);

  it('a client that disconnects mid-job (its worker killed after the grace period) does not fail the next request', async () => {
    // /runsync with an id of our own, so that its events show when the worker is in the middle of denoising.
    const ac = new AbortController();
    const gone = fetch(`${serve.url}/runsync`, {method: 'POST', headers: auth, body: JSON.stringify({id: 'disconnect-1', input: {prompt: 'long', width: 256, height: 256, steps: 60, seed: 6}}), signal: ac.signal}).catch(() => null);
    for (let i = 0; i < 600 && !(await fetch(`${serve.url}/v1/jobs/disconnect-1`, {headers: auth})).ok; i++) await new Promise((r) => setTimeout(r, 50));
    const stream = await fetch(`${serve.url}/v1/jobs/disconnect-1/events`, {headers: auth});
    const reader = stream.body!.getReader();
    for (let text = ''; !text.includes('event: progress'); ) {
      const {value, done} = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    // The client goes away mid-step: its job is cancelled, the worker cannot stop within 1 ms and is killed.
    ac.abort();
    await gone;
    const next = await fetch(`${serve.url}/v1/generate`, {method: 'POST', headers: auth, body: JSON.stringify({prompt: 'next', width: 64, height: 64, steps: 1, seed: 7})});
    expect(next.status).toBe(200);
    await reader.cancel();
    const job = (await (await fetch(`${serve.url}/v1/jobs/disconnect-1`, {headers: auth})).json()) as {status: string; error: {message: string}};
    expect(job).toMatchObject({status: 'cancelled', error: {message: 'job cancelled: the client disconnected'}});
    const metrics = await (await fetch(`${serve.url}/metrics`, {headers: auth})).text();
    expect(metrics).toMatch(/^mgen_worker_cancel_kills_total 1$/m);
    expect(metrics).toMatch(/^mgen_jobs_waited_for_restart_total 1$/m);
  }, 300_000);
});
