// The native job event stream (GET /v1/jobs/:id/events) on a real socket: numbered events with a retry hint,
// keep-alive comments while the job waits, queue-position events, a reconnect with Last-Event-ID that resumes without
// repeating, and short-lived URL tokens for clients that cannot send headers (EventSource, <img>), scoped to one
// stream or file and never the long-lived token.
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
    expect(c.events_url).toMatch(new RegExp(`^${serve.url}/v1/jobs/${c.id}/events\\?token=\\d+\\.[A-Za-z0-9_-]{43}$`));
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

  it('opens a stream or a file with its own short-lived token only, never with the long-lived token in the query', async () => {
    const path = new URL(c.events_url).pathname;
    expect((await fetch(`${serve.url}${path}`)).status).toBe(401);
    expect((await fetch(`${serve.url}${path}?token=${TOKEN}`)).status).toBe(401);
    expect((await fetch(`${serve.url}/v1/jobs/${c.id}?token=${new URL(c.events_url).searchParams.get('token')}`)).status).toBe(401);
    const other = await submit({prompt: 'e'});
    const otherToken = new URL(other.events_url).searchParams.get('token');
    expect((await fetch(`${serve.url}${path}?token=${otherToken}`)).status).toBe(401);
    await session.release();
    // Output files: the URL in the answer opens without the header; the same name with another token does not.
    const gen = fetch(`${serve.url}/v1/generate`, {method: 'POST', headers: auth, body: JSON.stringify({prompt: 'f', response_format: 'url'})});
    await session.release();
    const body = (await (await gen).json()) as {images: Array<{url: string}>};
    const url = body.images[0]!.url;
    expect(url).toMatch(/\/v1\/files\/[^?]+\?token=\d+\.[A-Za-z0-9_-]{43}$/);
    const file = await fetch(url);
    expect(file.status).toBe(200);
    expect(file.headers.get('content-type')).toBe('image/png');
    expect((await fetch(url.replace(/token=.*/, `token=${otherToken}`))).status).toBe(401);
  });

  it('expires tokens and binds them to one path', () => {
    const s = new UrlSigner(60_000);
    const t = s.token('/v1/files/a.png', 1_000_000);
    expect(s.verify('/v1/files/a.png', t, 1_000_000 + 30_000)).toBe(true);
    expect(s.verify('/v1/files/a.png', t, 1_000_000 + 61_000)).toBe(false);
    expect(s.verify('/v1/files/b.png', t, 1_000_000)).toBe(false);
    expect(new UrlSigner(60_000).verify('/v1/files/a.png', t, 1_000_000)).toBe(false);
  });
});
