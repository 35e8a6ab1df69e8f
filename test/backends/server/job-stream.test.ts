// The native job event stream (GET /v1/jobs/:id/events) on a real socket: numbered events with a retry hint,
// keep-alive comments while the job waits, queue-position events, a reconnect with Last-Event-ID that resumes without
// repeating, and signed short-lived stream URLs for clients that cannot send headers (EventSource), scoped to one
// stream, never the long-lived token.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {startServe, type RunningServe} from '../../../src/backends/server/server.js';
import {UrlSigner} from '../../../src/backends/server/url-token.js';
import {gatedSession, readSse, type GatedSession} from './gated-session.js';

const TOKEN = 'stream-test-token-1';
const auth = {authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json'};
let serve: RunningServe;
let session: GatedSession;

beforeAll(async () => {
  session = gatedSession();
  serve = await startServe({
    modelId: 'fake', report: {id: 'fake'}, session, reopen: async () => session, host: '127.0.0.1', port: 0, home: null, token: TOKEN,
    env: {...process.env, MGEN_SSE_KEEPALIVE_MS: '20'},
  });
});
afterAll(async () => serve?.close(100));

async function submit(input: Record<string, unknown>): Promise<{id: string; events_url: string}> {
  const r = await fetch(`${serve.url}/v1/jobs`, {method: 'POST', headers: auth, body: JSON.stringify({input})});
  expect(r.status).toBe(202);
  return (await r.json()) as {id: string; events_url: string};
}

describe('job event stream', () => {
  let c: {id: string; events_url: string};
  let all: Awaited<ReturnType<typeof readSse>>;

  it('numbers every event, suggests a retry delay, keeps the connection alive while queued and reports the place in line', async () => {
    await submit({prompt: 'a'});
    await submit({prompt: 'b'});
    c = await submit({prompt: 'c'});
    // The URL the job view gives works without any header (what a browser's EventSource does).
    expect(c.events_url).toMatch(new RegExp(`^${serve.url}/v1/jobs/${c.id}/events\\?expires=\\d+&signature=[0-9a-f]{64}$`));
    let stage = 0;
    all = await readSse(c.events_url, {}, (r) => {
      if (stage === 0 && r.comments >= 1) {
        stage = 1;
        void session.release(); // a ends, b runs: c is now first in line
      } else if (stage === 1 && r.events.some((e) => e.event === 'position')) {
        stage = 2;
        void session.release(); // b ends, c runs
      } else if (stage === 2 && r.events.some((e) => e.event === 'progress' && e.data.step === 2)) {
        stage = 3;
        void session.release();
      }
      return r.events.some((e) => e.event === 'done');
    });
    expect(all.status).toBe(200);
    expect(all.retry).toBe(3000);
    expect(all.comments).toBeGreaterThanOrEqual(1);
    expect(all.events.map((e) => e.id)).toEqual(all.events.map((_, i) => String(i + 1)));
    expect(all.events.map((e) => [e.event, e.data.status ?? e.data.position ?? e.data.step])).toEqual([
      ['status', 'queued'], ['position', 1], ['status', 'running'], ['progress', 1], ['progress', 2], ['done', 'completed'],
    ]);
    expect(all.events[0]!.data).toEqual({id: c.id, status: 'queued', position: 2});
    expect(all.events.at(-1)!.data.output.images).toHaveLength(1);
  });

  it('resumes after Last-Event-ID without repeating, and answers 204 once the client has seen the end', async () => {
    const resumed = await readSse(c.events_url, {'last-event-id': '3'});
    expect(resumed.events.map((e) => e.id)).toEqual(['4', '5', '6']);
    const ended = await readSse(c.events_url, {'last-event-id': '6'});
    expect(ended.status).toBe(204);
  });

  it('resumes a stream cut in the middle of a running job', async () => {
    const d = await submit({prompt: 'd'});
    const first = await readSse(d.events_url, {}, (r) => r.events.some((e) => e.event === 'progress'));
    const last = first.events.at(-1)!.id!;
    const rest = readSse(d.events_url, {'last-event-id': last}, (r) => r.events.some((e) => e.event === 'done'));
    await session.release();
    const ids = [...first.events, ...(await rest).events].map((e) => e.id);
    expect(ids).toEqual(ids.map((_, i) => String(i + 1)));
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('opens a stream with its own signed URL only, never with the long-lived token in the query', async () => {
    const path = new URL(c.events_url).pathname;
    const query = new URL(c.events_url).search;
    expect((await fetch(`${serve.url}${path}`)).status).toBe(401);
    expect((await fetch(`${serve.url}${path}?token=${TOKEN}`)).status).toBe(401);
    // The signature opens the stream, not the job's other routes.
    expect((await fetch(`${serve.url}/v1/jobs/${c.id}${query}`)).status).toBe(401);
    expect((await fetch(`${serve.url}${path}${query}`, {method: 'DELETE'})).status).toBe(401);
    const other = await submit({prompt: 'e'});
    expect((await fetch(`${serve.url}${path}${new URL(other.events_url).search}`)).status).toBe(403);
    await session.release();
  });

  it('expires signatures and binds them to one path and one server', () => {
    const s = new UrlSigner();
    const q = (p: string) => new URL(`http://x${p}`).searchParams;
    const signed = s.signedPath('/v1/jobs/a/events', 60_000, 1_000_000);
    expect(s.check('/v1/jobs/a/events', q(signed), 1_000_000 + 30_000)).toBe('valid');
    expect(s.check('/v1/jobs/a/events', q(signed), 1_000_000 + 61_000)).toBe('expired');
    expect(s.check('/v1/jobs/b/events', q(signed), 1_000_000)).toBe('invalid');
    expect(new UrlSigner().check('/v1/jobs/a/events', q(signed), 1_000_000)).toBe('invalid');
  });
});
