// The `openai` Python SDK (3.63, the client venv) against a real `mgen serve` on tiny-sd, unmodified: generate in
// both response formats (url links fetched without the key), edit with image + mask, create_variation, models,
// streaming events, and errors as the SDK's own exception classes. The tiny model makes noise, not pictures.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {writeFileSync} from 'node:fs';
import {join} from 'node:path';
import {rgbaPng, topLeftHole} from '../helpers/png-rgba.js';
import {useTmpDir} from '../helpers/tmp.js';
import {spawnServe, testPython, tiny, type SpawnedServe} from '../runtime/support.js';
import {pyJson} from './support.js';

const TOKEN = 'conformance-openai-py';
const tmp = useTmpDir('mgen-openai-py-');
let serve: SpawnedServe;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  await testPython();
  await tiny('tiny-sd');
  serve = await spawnServe(['builtin:tiny-sd', '--device', 'cpu', '--dtype', 'float32', '--no-state', '--token', TOKEN], 300_000);
  writeFileSync(join(tmp.dir, 'image.png'), rgbaPng(64, 64, () => 255));
  writeFileSync(join(tmp.dir, 'mask.png'), rgbaPng(64, 64, topLeftHole(64, 64)));
  env = {URL: `${serve.url}/v1`, TOKEN, IMG: join(tmp.dir, 'image.png'), MASK: join(tmp.dir, 'mask.png')};
}, 420_000);
afterAll(() => {
  serve?.proc.kill('SIGTERM');
});

const PRELUDE = `
import base64, json, os, httpx, openai
client = openai.OpenAI(base_url=os.environ["URL"], api_key=os.environ["TOKEN"], max_retries=0, timeout=120)
FAST = {"steps": 1, "seed": 1}
def png(b): return b[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
`;

describe('openai (Python)', () => {
  it('images.generate: b64_json by default for the served model, url for dall-e-2 (fetched without the key)', async () => {
    const out = await pyJson<Record<string, unknown>>(
      `${PRELUDE}
b = client.images.generate(prompt="a red cube", size="64x64", extra_body=FAST)
u = client.images.generate(prompt="a red cube", model="dall-e-2", size="64x64", extra_body=FAST)
r = httpx.get(u.data[0].url)
print(json.dumps({"b64": png(base64.b64decode(b.data[0].b64_json)), "usage": b.usage.input_tokens_details.text_tokens, "size": b.size,
  "created": b.created, "url": u.data[0].url, "b64_in_url": u.data[0].b64_json, "fetched": r.status_code, "fetched_png": png(r.content)}))
`,
      env,
    );
    expect(out).toMatchObject({b64: true, usage: 3, size: '64x64', b64_in_url: null, fetched: 200, fetched_png: true});
    expect(out.url).toMatch(/\/v1\/files\/.*\?expires=\d+&signature=/);
    expect(out.created).toBeGreaterThan(1_600_000_000);
  }, 180_000);

  it('output_format jpeg / webp with output_compression: the bytes are that format, the A1111 parameters in EXIF UserComment', async () => {
    const out = await pyJson<Record<string, unknown>>(
      `${PRELUDE}
import io
from PIL import Image
j = client.images.generate(prompt="a red cube", model="gpt-image-1", size="64x64", output_format="jpeg", output_compression=60, extra_body=FAST)
w = client.images.generate(prompt="a red cube", model="gpt-image-1", size="64x64", output_format="webp", extra_body=FAST)
ji = Image.open(io.BytesIO(base64.b64decode(j.data[0].b64_json)))
wi = Image.open(io.BytesIO(base64.b64decode(w.data[0].b64_json)))
comment = ji.getexif().get_ifd(0x8769).get(0x9286, b"")
print(json.dumps({"formats": [ji.format, wi.format], "reported": [j.output_format, w.output_format], "size": list(ji.size),
  "comment": comment[8:].decode("utf-16-be") if comment.startswith(b"UNICODE\\0") else None,
  "webp_exif": bool(wi.getexif().get_ifd(0x8769).get(0x9286))}))
`,
      env,
    );
    expect(out).toMatchObject({formats: ['JPEG', 'WEBP'], reported: ['jpeg', 'webp'], size: [64, 64], webp_exif: true});
    expect(out.comment).toMatch(/^a red cube\nSteps: 1, .*Seed: 1, Size: 64x64/);
  }, 180_000);

  it('images.edit with image + mask (inpaint) and create_variation (image-to-image) answer PNGs', async () => {
    const out = await pyJson<Record<string, unknown>>(
      `${PRELUDE}
e = client.images.edit(image=open(os.environ["IMG"], "rb"), mask=open(os.environ["MASK"], "rb"), prompt="a hat", size="64x64", extra_body=FAST)
# image-to-image runs steps x strength (0.8 by default) of the steps: 2 steps are 1.
v = client.images.create_variation(image=open(os.environ["IMG"], "rb"), n=1, size="64x64", response_format="b64_json", extra_body={"steps": 2, "seed": 1})
print(json.dumps({"edit": png(base64.b64decode(e.data[0].b64_json)), "edit_image_tokens": e.usage.input_tokens_details.image_tokens,
  "variation": png(base64.b64decode(v.data[0].b64_json))}))
`,
      env,
    );
    expect(out).toEqual({edit: true, edit_image_tokens: 64, variation: true});
  }, 180_000);

  it('models.list and models.retrieve name the served model', async () => {
    const out = await pyJson<{ids: string[]; one: string}>(
      `${PRELUDE}
print(json.dumps({"ids": [m.id for m in client.models.list()], "one": client.models.retrieve("builtin:tiny-sd").id}))
`,
      env,
    );
    expect(out).toEqual({ids: ['builtin:tiny-sd'], one: 'builtin:tiny-sd'});
  }, 60_000);

  it('stream=True with partial_images yields image_generation.partial_image events, then image_generation.completed', async () => {
    const out = await pyJson<{types: string[]; indexes: number[]; pngs: boolean[]; format: string}>(
      `${PRELUDE}
events = list(client.images.generate(prompt="a red cube", model="gpt-image-1", size="64x64", stream=True, partial_images=2, extra_body={"steps": 3, "seed": 1}))
print(json.dumps({"types": [type(e).__name__ + ":" + e.type for e in events], "indexes": [getattr(e, "partial_image_index", None) for e in events],
  "pngs": [png(base64.b64decode(e.b64_json)) for e in events], "format": events[-1].output_format}))
`,
      env,
    );
    expect(out).toEqual({
      types: ['ImageGenPartialImageEvent:image_generation.partial_image', 'ImageGenPartialImageEvent:image_generation.partial_image', 'ImageGenCompletedEvent:image_generation.completed'],
      indexes: [0, 1, null],
      pngs: [true, true, true],
      format: 'png',
    });
  }, 180_000);

  it('errors map to the SDK\'s BadRequestError (with the field) and AuthenticationError', async () => {
    const out = await pyJson<Record<string, unknown>>(
      `${PRELUDE}
res = {}
try:
    client.images.generate(prompt="x", model="gpt-image-1", background="transparent")
except openai.BadRequestError as e:
    res["bad"] = [e.status_code, e.param if hasattr(e, "param") else None, e.type if hasattr(e, "type") else None]
try:
    client.images.generate(prompt="x", size="100x100")
except openai.BadRequestError as e:
    res["size"] = e.param
try:
    openai.OpenAI(base_url=os.environ["URL"], api_key="wrong-key-0000", max_retries=0).images.generate(prompt="x")
except openai.AuthenticationError as e:
    res["auth"] = e.status_code
try:
    client.images.create_variation(image=open(os.environ["IMG"], "rb"), size="64x64", extra_body={"steps": 1})
except openai.BadRequestError as e:
    res["no_steps"] = "steps x strength" in e.message
print(json.dumps(res))
`,
      env,
    );
    expect(out).toEqual({bad: [400, 'background', 'invalid_request_error'], size: 'size', auth: 401, no_steps: true});
  }, 60_000);
});
