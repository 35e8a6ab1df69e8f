import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {startTinyServe} from './serve-helpers.js';
let s: Awaited<ReturnType<typeof startTinyServe>>;
beforeAll(async () => { s = await startTinyServe(); }, 120_000);
afterAll(async () => { await s?.close(); });
describe('dev', () => {
  it('generates', async () => {
    const t0 = Date.now();
    const r = await fetch(`${s.url}/v1/generate`, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({prompt: 'a cat', steps: 2, width: 64, height: 64})});
    const body = await r.json() as any;
    console.log(r.status, Date.now() - t0, JSON.stringify(body).slice(0, 600));
    const sc = await (await fetch(`${s.url}/v1/schema`)).json();
    console.log(JSON.stringify(sc).slice(0, 3000));
    expect(r.status).toBe(200);
  }, 60_000);
});
