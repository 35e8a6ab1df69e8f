// The playground page's server side (issue 15) on the real app around a session without Python: `/` and its
// hashed assets (CSP, caching, gzip, public under a token while the API is not), --no-ui, GET /v1/loras and
// POST /v1/png-info (the `mgen generate --from` parser). The page itself is tested in Chromium: test/e2e/playground.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {existsSync} from 'node:fs';
import {join} from 'node:path';
import {gunzipSync} from 'node:zlib';
import {mkdirSync, writeFileSync} from 'node:fs';
import {RequestModelPolicy} from '../../../src/backends/request-model-policy.js';
import {startServe, type RunningServe} from '../../../src/backends/server/server.js';
import {kohyaSd, kohyaSdxl} from '../../helpers/fixtures/adapters.js';
import {writeSafetensors} from '../../helpers/safetensors-writer.js';
import {defaultUiDir, isUiPath} from '../../../src/backends/server/ui.js';
import {buildPng} from '../../helpers/png.js';
import {useTmpDir} from '../../helpers/tmp.js';
import {fakeSession} from './fake-session.js';

const tmp = useTmpDir('mgen-ui-');
const TOKEN = 'ui-test-token-123';
let tokened: RunningServe;
let noUi: RunningServe;

const env = (): NodeJS.ProcessEnv => ({MGEN_HOME: join(tmp.dir, 'home'), HF_HUB_CACHE: join(tmp.dir, 'hub'), HF_HUB_OFFLINE: '1'});
async function serve(extra: Partial<Parameters<typeof startServe>[0]>): Promise<RunningServe> {
  const session = fakeSession(env());
  return startServe({modelId: 'builtin:tiny-sd', report: {id: 'builtin:tiny-sd', family: 'sd1'}, session, reopen: async () => session, host: '127.0.0.1', port: 0, home: null, env: env(), ...extra});
}
const b64 = (b: Buffer): string => b.toString('base64');

beforeAll(async () => {
  if (!existsSync(join(defaultUiDir(), 'index.html'))) throw new Error('build first: npm run build (writes dist/ui)');
  tokened = await serve({token: TOKEN});
  const models = join(tmp.dir, 'models');
  mkdirSync(join(models, 'styles'), {recursive: true});
  await writeSafetensors(join(models, 'styles', 'sd1-style.safetensors'), kohyaSd('sd1'), {sparse: true});
  await writeSafetensors(join(models, 'xl.safetensors'), kohyaSdxl(), {sparse: true});
  writeFileSync(join(models, 'notes.safetensors'), 'not a model');
  noUi = await serve({ui: false, policy: new RequestModelPolicy({modelDirs: [models], env: env()})});
}, 30_000);
afterAll(async () => {
  await tokened?.close(1000);
  await noUi?.close(1000);
});

describe('the page', () => {
  it('serves / without the token, with a CSP that forbids inline scripts, and only hashed, long-cached assets', async () => {
    const r = await fetch(`${tokened.url}/`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/html/);
    expect(r.headers.get('cache-control')).toBe('no-cache');
    const csp = r.headers.get('content-security-policy') ?? '';
    expect(csp).toMatch(/script-src 'self'(;|$)/);
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:/);
    expect(r.headers.get('set-cookie')).toBeNull();
    const html = await r.text();
    // Every script has a src on this origin; nothing comes from elsewhere.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc="\/ui\/)[^>]*>/);
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    const assets = [...html.matchAll(/(?:src|href)="(\/ui\/[^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBe(2);
    for (const a of assets) {
      expect(a).toMatch(/^\/ui\/[a-z]+-[0-9a-f]{10}\.(js|css)$/);
      const plain = await fetch(`${tokened.url}${a}`, {headers: {'accept-encoding': 'identity'}});
      expect(plain.status).toBe(200);
      expect(plain.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      const body = Buffer.from(await plain.arrayBuffer());
      // Node's fetch decodes gzip itself; read the raw bytes the server sent for a gzip client.
      const {request} = await import('node:http');
      const gz = await new Promise<{enc: string | undefined; body: Buffer}>((res, rej) => {
        request(`${tokened.url}${a}`, {headers: {'accept-encoding': 'gzip'}}, (m) => {
          const parts: Buffer[] = [];
          m.on('data', (c: Buffer) => parts.push(c));
          m.on('end', () => res({enc: m.headers['content-encoding'], body: Buffer.concat(parts)}));
        }).on('error', rej).end();
      });
      expect(gz.enc).toBe('gzip');
      expect(gunzipSync(gz.body).equals(body)).toBe(true);
    }
  });

  it('keeps the API closed without the token, and the page paths exact', async () => {
    expect((await fetch(`${tokened.url}/v1/model`)).status).toBe(401);
    expect((await fetch(`${tokened.url}/v1/loras`)).status).toBe(401);
    expect((await fetch(`${tokened.url}/ui/../v1/model`)).status).toBe(401);
    expect((await fetch(`${tokened.url}/ui/secrets.json`)).status).toBe(401);
    expect(isUiPath('/ui/app-0123456789.js')).toBe(true);
    expect(isUiPath('/ui/app-0123456789.js/x')).toBe(false);
    expect(isUiPath('/index.html')).toBe(false);
    const r = await fetch(`${tokened.url}/ui/app-0000000000.js`);
    expect(r.status).toBe(404);
  });

  it('--no-ui: no page at /, the API as before', async () => {
    const r = await fetch(`${noUi.url}/`);
    expect(r.status).toBe(404);
    expect(((await r.json()) as {error: {message: string}}).error.message).toBe('no route GET /');
    expect((await fetch(`${noUi.url}/v1/model`)).status).toBe(200);
  });
});

describe('GET /v1/serving', () => {
  it('says how the model runs: the plan\'s task and pipeline, ControlNet or not', async () => {
    const body = (await (await fetch(`${noUi.url}/v1/serving`)).json()) as Record<string, unknown>;
    expect(body).toMatchObject({task: 'text-to-image', pipeline: 'FakePipeline', dtype: 'float32', controlnet: false, loras: []});
  });
});

describe('GET /v1/loras', () => {
  it('offers the tiny builtin LoRAs next to a builtin model, and the LoRA files under --model-dir by path with their family', async () => {
    const r = await fetch(`${noUi.url}/v1/loras`);
    const body = (await r.json()) as {data: Array<{name: string; family: string}>};
    expect(body.data.map((l) => [l.name.replace(tmp.dir, 'TMP'), l.family])).toEqual([
      ['builtin:tiny-sd-lora-kohya', 'sd1'], ['builtin:tiny-sd-lora-peft', 'sd1'],
      ['TMP/models/styles/sd1-style.safetensors', 'sd1'], ['TMP/models/xl.safetensors', 'sdxl'],
    ]);
  });
});

describe('POST /v1/png-info', () => {
  const post = async (image: string): Promise<{status: number; body: any}> => {
    const r = await fetch(`${tokened.url}/v1/png-info`, {method: 'POST', headers: {authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json'}, body: JSON.stringify({image})});
    return {status: r.status, body: await r.json()};
  };

  it('reads A1111 parameters text into native request fields', async () => {
    const text = 'a lighthouse at dusk\nNegative prompt: fog\nSteps: 3, Sampler: Euler a, CFG scale: 6.5, Seed: 1234, Size: 64x96';
    const r = await post(`data:image/png;base64,${b64(buildPng(2, 2, [{type: 'tEXt', keyword: 'parameters', text}]))}`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      source: 'parameters', model: null, parameters: text,
      request: {prompt: 'a lighthouse at dusk', negative_prompt: 'fog', width: 64, height: 96, steps: 3, guidance_scale: 6.5, seed: 1234},
    });
  });

  it('prefers the mgen chunk: exact request, params and LoRAs', async () => {
    const doc = {model: 'builtin:tiny-sd', request: {prompt: 'a cube', width: 64, height: 64, steps: 2, seed: 5, guidance_scale: 7, params: {eta: 0.5}}, adapters: {loras: [{id: 'builtin:tiny-sd-lora-kohya', scale: 0.8}]}};
    const r = await post(b64(buildPng(2, 2, [{type: 'tEXt', keyword: 'parameters', text: 'other'}, {type: 'iTXt', keyword: 'mgen', text: JSON.stringify(doc)}])));
    expect(r.status).toBe(200);
    expect(r.body.source).toBe('mgen');
    expect(r.body.parameters).toBe('other');
    expect(r.body.request).toEqual({prompt: 'a cube', width: 64, height: 64, steps: 2, seed: 5, guidance_scale: 7, params: {eta: 0.5}, loras: [{name: 'builtin:tiny-sd-lora-kohya', scale: 0.8}]});
  });

  it('answers 400 with one line for a PNG without parameters and for other images', async () => {
    const none = await post(b64(buildPng(2, 2)));
    expect(none.status).toBe(400);
    expect(none.body.error.message).toBe('image carries no generation parameters (no mgen or parameters text chunk)');
    const jpeg = await post(`data:image/jpeg;base64,${b64(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0, 0, 0, 0, 0]))}`);
    expect(jpeg.status).toBe(400);
    expect(jpeg.body.error.message).toMatch(/^image: not a PNG/);
  });
});
