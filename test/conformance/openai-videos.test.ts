// The official OpenAI Python client's Videos API (client.videos.create / retrieve / download_content / list /
// delete) against `mgen serve builtin:tiny-wan`: the shapes OpenAI documents, on top of serve's jobs.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {spawnServe, tiny, type SpawnedServe} from '../runtime/support.js';
import {pyJson} from './support.js';

let serve: SpawnedServe;
beforeAll(async () => {
  await tiny('tiny-wan');
  serve = await spawnServe(['builtin:tiny-wan'], 240_000);
}, 300_000);
afterAll(() => {
  serve?.proc.kill('SIGTERM');
});

describe('OpenAI Videos API (openai Python client)', () => {
  it('create (multipart) -> retrieve until completed -> download_content is the MP4; list and delete', async () => {
    const doc = await pyJson<Record<string, unknown>>(`
import json, os, time
from openai import OpenAI
c = OpenAI(base_url=os.environ["URL"] + "/v1", api_key="x")
v = c.videos.create(model="builtin:tiny-wan", prompt="a red cube", seconds="1", size="64x64")
first = v.model_dump()
for _ in range(600):
    v = c.videos.retrieve(v.id)
    if v.status in ("completed", "failed"):
        break
    time.sleep(0.2)
content = c.videos.download_content(v.id).read()
listed = [x.id for x in c.videos.list().data]
deleted = c.videos.delete(v.id)
print(json.dumps({"first": first, "done": v.model_dump(), "head": content[4:8].decode("latin1"), "bytes": len(content),
                  "listed": listed, "deleted": deleted.model_dump()}))
`, {URL: serve.url});
    const first = doc.first as Record<string, unknown>;
    expect(first).toMatchObject({object: 'video', model: 'builtin:tiny-wan', size: '64x64'});
    expect(['queued', 'in_progress']).toContain(first.status);
    expect(String(first.id)).toMatch(/^video_/);
    // 1 s at Wan's 16 fps: 17 frames (4k+1), 1.0625 s in the file.
    expect(doc.done).toMatchObject({id: first.id, status: 'completed', progress: 100, seconds: '1.0625', size: '64x64', error: null});
    expect(doc.head).toBe('ftyp');
    expect(doc.listed).toContain(first.id);
    expect(doc.deleted).toMatchObject({id: first.id, deleted: true});
  }, 240_000);

  it('JSON bodies work too; an unknown id is a 404 and bad seconds a 400 naming the field', async () => {
    const post = (body: unknown) => fetch(`${serve.url}/v1/videos`, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify(body)});
    const bad = await post({prompt: 'x', seconds: 'soon'});
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as {error: {message: string}}).error.message).toBe('seconds: soon must be a number of seconds between 0 and 60');
    expect((await fetch(`${serve.url}/v1/videos/video_nope`)).status).toBe(404);
    const ok = await post({prompt: 'x', size: '64x64', seconds: 0.3});
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as {object: string}).object).toBe('video');
  }, 120_000);
});
