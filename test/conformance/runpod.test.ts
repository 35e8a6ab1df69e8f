// The official RunPod SDK (runpod 1.12) against `mgen serve`, unmodified: runpod.Endpoint(id) with
// endpoint_url_base pointed at serve's /v2 and the server's token as the API key -- run, run_sync, status, output,
// stream, cancel, health, purge_queue, a webhook received by a loopback receiver, and a validation failure as RunPod
// reports it (FAILED with the error). Then the RunPod handler under the SDK's own local API server
// (`--rp_serve_api`), started from the client venv (the handler is a thin adapter: stdlib and the SDK, no torch),
// forwarding to the same serve, called with the local API's shapes.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import http from 'node:http';
import {spawnServe, testPython, tiny, type SpawnedServe} from '../runtime/support.js';
import {pyJson, spawnRunpodHandler, type RunpodHandler} from './support.js';

const TOKEN = 'conformance-runpod-key';
let serve: SpawnedServe;
let receiver: http.Server;
let hookUrl = '';
const hooks: Array<{path: string; body: any}> = [];

beforeAll(async () => {
  await testPython();
  await tiny('tiny-sd');
  receiver = http.createServer((req, res) => {
    let data = '';
    req.on('data', (c: Buffer) => (data += c.toString()));
    req.on('end', () => {
      hooks.push({path: req.url ?? '', body: JSON.parse(data)});
      res.end('ok');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  hookUrl = `http://127.0.0.1:${(receiver.address() as {port: number}).port}`;
  serve = await spawnServe(['builtin:tiny-sd', '--device', 'cpu', '--dtype', 'float32', '--no-state', '--token', TOKEN], 300_000);
}, 420_000);
afterAll(async () => {
  serve?.proc.kill('SIGTERM');
  await new Promise((r) => receiver?.close(r));
});

const SDK = `
import json, os, runpod
runpod.api_key = os.environ["TOKEN"]
runpod.endpoint_url_base = os.environ["URL"] + "/v2"
endpoint = runpod.Endpoint("mgen-endpoint")
`;
const env = (): NodeJS.ProcessEnv => ({URL: serve.url, TOKEN, HOOK: hookUrl});
const small = {prompt: 'a red cube', width: 64, height: 64, steps: 2};

describe('runpod.Endpoint against mgen serve', () => {
  it('run_sync answers the output; run + status + output, with the webhook posted to a loopback receiver', async () => {
    const r = await pyJson<any>(
      `${SDK}
sync = endpoint.run_sync({**json.loads(os.environ["INPUT"]), "seed": 11}, timeout=120)
job = endpoint.run({"input": {**json.loads(os.environ["INPUT"]), "seed": 12}, "webhook": os.environ["HOOK"] + "/hook"})
output = job.output(timeout=120)
print(json.dumps({"sync_seed": sync["images"][0]["seed"], "id": job.job_id, "status": job.status(), "seed": output["images"][0]["seed"], "b64": len(output["images"][0]["b64_json"])}))
`,
      {...env(), INPUT: JSON.stringify(small)},
    );
    expect(r).toMatchObject({sync_seed: 11, status: 'COMPLETED', seed: 12});
    expect(r.b64).toBeGreaterThan(100);
    for (let i = 0; i < 200 && !hooks.some((h) => h.body.id === r.id); i++) await new Promise((res) => setTimeout(res, 50));
    expect(hooks.find((h) => h.body.id === r.id)).toMatchObject({path: '/hook', body: {status: 'COMPLETED', output: {images: [{seed: 12}]}}});
  }, 240_000);

  it('stream yields the progress chunks and then the output', async () => {
    const chunks = await pyJson<any[]>(
      `${SDK}
job = endpoint.run({**json.loads(os.environ["INPUT"]), "seed": 13, "steps": 3})
print(json.dumps([{"step": c.get("step"), "images": len(c.get("images", []))} for c in job.stream()]))
`,
      {...env(), INPUT: JSON.stringify(small)},
    );
    expect(chunks.length).toBeGreaterThanOrEqual(2);
    expect(chunks.slice(0, -1).every((c) => typeof c.step === 'number')).toBe(true);
    expect(chunks.at(-1)).toEqual({step: null, images: 1});
  }, 240_000);

  it('cancel (no body), health and purge_queue, while a slow job runs', async () => {
    const r = await pyJson<any>(
      `${SDK}
import time
slow = endpoint.run({"prompt": "slow", "width": 256, "height": 256, "steps": 40, "seed": 1})
waiting = [endpoint.run({"prompt": "w", "width": 64, "height": 64, "steps": 1}) for _ in range(3)]
while slow.status() != "IN_PROGRESS":
    time.sleep(0.2)
health = endpoint.health()
cancelled = waiting[0].cancel()
purged = endpoint.purge_queue()
stopped = slow.cancel(timeout=60)
print(json.dumps({"health": health, "cancelled": cancelled["status"], "purged": purged, "stopped": stopped["status"],
                  "left": [w.status() for w in waiting]}))
`,
      env(),
    );
    expect(r.health).toMatchObject({jobs: {inProgress: 1, inQueue: 3}, workers: {running: 1}});
    expect(r.cancelled).toBe('CANCELLED');
    expect(r.purged).toEqual({removed: 2, status: 'completed'});
    expect(r.stopped).toBe('CANCELLED');
    expect(r.left).toEqual(['CANCELLED', 'CANCELLED', 'CANCELLED']);
  }, 240_000);

  it('reports a request that does not validate as a FAILED job with the error, as RunPod does', async () => {
    const r = await pyJson<any>(
      `${SDK}
job = endpoint.run({"prompt": "x", "width": 65})
raw = endpoint.rp_client.get(f"mgen-endpoint/status/{job.job_id}")
print(json.dumps({"status": job.status(), "output": job.output(), "raw": raw, "sync": endpoint.run_sync({"prompt": "x", "colour": "red"})}))
`,
      env(),
    );
    expect(r).toMatchObject({status: 'FAILED', output: null, sync: null, raw: {status: 'FAILED', error: 'width: must be multiple of 8'}});
  }, 120_000);
});

describe('the RunPod handler under the SDK local API (--rp_serve_api)', () => {
  let handler: RunpodHandler | undefined;
  let api = '';
  beforeAll(async () => {
    handler = await spawnRunpodHandler({MGEN_SERVE_URL: serve.url, MGEN_API_TOKEN: TOKEN, MODEL_ID: 'builtin:tiny-sd'});
    api = handler.api;
  }, 120_000);
  afterAll(() => {
    handler?.proc.kill('SIGTERM');
  });

  it('answers /runsync, /run + /status and a validation failure with serve\'s answers', async () => {
    const r = await pyJson<any>(
      `
import json, os, requests
api = os.environ["API"]
sync = requests.post(api + "/runsync", json={"input": {"prompt": "a red cube", "width": 64, "height": 64, "steps": 2, "seed": 21}}, timeout=120).json()
run = requests.post(api + "/run", json={"input": {"prompt": "a red cube", "width": 64, "height": 64, "steps": 2, "seed": 22}}, timeout=30).json()
status = requests.post(api + "/status/" + run["id"], timeout=120).json()
bad = requests.post(api + "/runsync", json={"input": {"prompt": "x", "width": 65}}, timeout=60).json()
print(json.dumps({"sync": [sync["status"], sync["output"]["images"][0]["seed"], sync["output"]["metadata"]["model"]],
                  "run": run["status"], "status": [status["status"], status["output"]["images"][0]["seed"]], "bad": bad}))
`,
      {API: api},
    );
    expect(r.sync).toEqual(['COMPLETED', 21, 'builtin:tiny-sd']);
    expect(r.run).toBe('IN_PROGRESS');
    expect(r.status).toEqual(['COMPLETED', 22]);
    expect(r.bad).toEqual({id: expect.any(String), status: 'FAILED', error: 'width: must be multiple of 8'});
  }, 240_000);
});
