// prometheus_client's own text-format parser reads serve's /metrics after a real generation.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {spawnServe, testPython, tiny, type SpawnedServe} from '../runtime/support.js';
import {pyJson} from './support.js';


let serve: SpawnedServe;
beforeAll(async () => {
  await testPython();
  await tiny('tiny-sd');
  serve = await spawnServe(['builtin:tiny-sd', '--device', 'cpu', '--dtype', 'float32', '--no-state'], 300_000);
  const r = await fetch(`${serve.url}/v1/generate`, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({prompt: 'a cube', width: 64, height: 64, steps: 1, seed: 1})});
  expect(r.status).toBe(200);
}, 420_000);
afterAll(() => {
  serve?.proc.kill('SIGTERM');
});

describe('prometheus_client', () => {
  it('parses /metrics and finds the finished job and its histogram', async () => {
    const families = await pyJson<Record<string, {type: string; samples: {name: string; labels: Record<string, string>; value: number}[]}>>(
      `
import json, os, urllib.request
from prometheus_client.parser import text_string_to_metric_families
text = urllib.request.urlopen(os.environ["URL"] + "/metrics").read().decode()
out = {f.name: {"type": f.type, "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in f.samples]} for f in text_string_to_metric_families(text)}
print(json.dumps(out))
`,
      {URL: serve.url},
    );
    const names = Object.keys(families);
    expect(names.length).toBeGreaterThan(3);
    const jobs = Object.values(families).flatMap((f) => f.samples).filter((s) => /jobs/.test(s.name) && s.labels.status === 'completed');
    expect(jobs.some((s) => s.value >= 1)).toBe(true);
    expect(Object.values(families).some((f) => f.type === 'histogram')).toBe(true);
  }, 120_000);
});
