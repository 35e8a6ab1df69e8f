// The PNG `parameters` text mgen writes, read by the parsers people use on A1111 images: sd-prompt-reader's
// ImageDataReader and A1111's own infotext rules (its key/value and size patterns, applied here in Python). A
// txt2img with a LoRA prompt tag, an embedding token, a Karras sampler and a negative prompt must come back as the
// same prompt, negative prompt and settings, with `<lora:...>` in the prompt, `TI hashes`, and `Model` naming the
// repo (a diffusers folder has no one file to hash, so no `Model hash`).
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {spawnServe, testPython, tiny, type SpawnedServe} from '../runtime/support.js';
import {pyJson} from './support.js';

let serve: SpawnedServe;
const PROMPT = 'a <tinyti> cube, studio light <lora:builtin:tiny-sd-lora-kohya:0.5>';
const NEGATIVE = 'blurry, dark';
let out: {b64: string; infotext: string};

beforeAll(async () => {
  await testPython();
  await Promise.all(['tiny-sd', 'tiny-sd-ti', 'tiny-sd-lora-kohya'].map(tiny));
  serve = await spawnServe(['builtin:tiny-sd', '--embedding', 'builtin:tiny-sd-ti', '--device', 'cpu', '--dtype', 'float32', '--no-state'], 300_000);
  const r = await fetch(`${serve.url}/sdapi/v1/txt2img`, {
    method: 'POST',
    headers: {'content-type': 'application/json'},
    body: JSON.stringify({prompt: PROMPT, negative_prompt: NEGATIVE, steps: 3, cfg_scale: 5.5, seed: 42, width: 64, height: 64, sampler_name: 'DPM++ 2M', scheduler: 'Karras'}),
  });
  const body = (await r.json()) as {images: string[]; info: string};
  expect(r.status).toBe(200);
  out = {b64: body.images[0]!, infotext: (JSON.parse(body.info) as {infotexts: string[]}).infotexts[0]!};
}, 420_000);
afterAll(() => {
  serve?.proc.kill('SIGTERM');
});

describe('A1111 infotext of mgen PNGs', () => {
  it('is what info.infotexts says, with the LoRA tag in the prompt part, TI hashes and the repo as Model', () => {
    expect(out.infotext).toMatch(
      /^a <tinyti> cube, studio light <lora:builtin:tiny-sd-lora-kohya:0\.5>\nNegative prompt: blurry, dark\nSteps: 3, Sampler: DPM\+\+ 2M, Schedule type: Karras, CFG scale: 5\.5, Seed: 42, Size: 64x64, Model: "builtin:tiny-sd", TI hashes: "<tinyti>: [0-9a-f]{12}", Lora hashes: "[^"]+: [0-9a-f]{12}", Version: mgen$/,
    );
    expect(out.infotext).not.toContain('Model hash');
  });

  it('sd-prompt-reader reads back the prompt, negative prompt and settings that were requested', async () => {
    const r = await pyJson<any>(`
import base64, io, json, os, tempfile
from sd_prompt_reader.image_data_reader import ImageDataReader
path = os.path.join(tempfile.mkdtemp(), "mgen.png")
open(path, "wb").write(base64.b64decode(os.environ["B64"]))
d = ImageDataReader(path)
print(json.dumps({"tool": d.tool, "status": str(d.status), "positive": d.positive, "negative": d.negative, "parameter": d.parameter,
                  "width": d.width, "height": d.height, "setting": d.setting}))
`, {B64: out.b64});
    expect(r.tool).toBe('A1111 webUI');
    expect(r.positive).toBe(PROMPT);
    expect(r.negative).toBe(NEGATIVE);
    expect(r.parameter).toMatchObject({sampler: 'DPM++ 2M', seed: '42', cfg: '5.5', steps: '3', size: '64x64', model: '"builtin:tiny-sd"'});
    expect([String(r.width), String(r.height)]).toEqual(['64', '64']);
    expect(r.setting).toMatch(/TI hashes: "<tinyti>: [0-9a-f]{12}"/);
  }, 60_000);

  it("A1111's own infotext rules give the same fields, quoted values unquoted", async () => {
    const r = await pyJson<any>(`
import json, os, re
# A1111's parse_generation_parameters rules: the last line holds "key: value" pairs (a value may be a quoted string),
# the lines before are the prompt until "Negative prompt:", sizes split into -1 / -2.
re_param = re.compile(r'\\s*(\\w[\\w \\-/]+):\\s*("(?:\\\\.|[^\\\\"])+"|[^,]*)(?:,|$)')
re_size = re.compile(r"^(\\d+)x(\\d+)$")
text = os.environ["TEXT"]
*lines, last = text.strip().split("\\n")
if len(re_param.findall(last)) < 3:
    lines.append(last)
    last = ""
prompt, negative, neg = "", "", False
for line in lines:
    line = line.strip()
    if line.startswith("Negative prompt:"):
        neg, line = True, line[16:].strip()
    if neg:
        negative += ("" if negative == "" else "\\n") + line
    else:
        prompt += ("" if prompt == "" else "\\n") + line
res = {"Prompt": prompt, "Negative prompt": negative}
for k, v in re_param.findall(last):
    if v[:1] == '"' and v[-1:] == '"':
        v = json.loads(v)
    m = re_size.match(v)
    if m:
        res[k + "-1"], res[k + "-2"] = m.group(1), m.group(2)
    else:
        res[k] = v
extra = re.findall(r"<(\\w+):([^>]+)>", prompt)
print(json.dumps({"res": res, "extra": extra}))
`, {TEXT: out.infotext});
    expect(r.res).toMatchObject({
      Prompt: PROMPT, 'Negative prompt': NEGATIVE, Steps: '3', Sampler: 'DPM++ 2M', 'Schedule type': 'Karras', 'CFG scale': '5.5', Seed: '42',
      'Size-1': '64', 'Size-2': '64', Model: 'builtin:tiny-sd', Version: 'mgen',
    });
    expect(r.res['TI hashes']).toMatch(/^<tinyti>: [0-9a-f]{12}$/);
    expect(r.res['Lora hashes']).toMatch(/^[^:]+: [0-9a-f]{12}$/);
    expect(r.res['Model hash']).toBeUndefined();
    expect(r.extra).toEqual([['lora', 'builtin:tiny-sd-lora-kohya:0.5']]);
  }, 60_000);

  it('lists the loaded embedding by its token with its size (GET /sdapi/v1/embeddings)', async () => {
    const r = (await (await fetch(`${serve.url}/sdapi/v1/embeddings`)).json()) as {loaded: Record<string, {vectors: number; shape: number}>};
    expect(Object.keys(r.loaded)).toEqual(['<tinyti>']);
    expect(r.loaded['<tinyti>']!.vectors).toBeGreaterThan(0);
    expect(r.loaded['<tinyti>']!.shape).toBeGreaterThan(0);
  });

  it('the server parses it back the same way (POST /sdapi/v1/png-info)', async () => {
    const r = await fetch(`${serve.url}/sdapi/v1/png-info`, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({image: out.b64})});
    const body = (await r.json()) as {info: string; parameters: Record<string, string>};
    expect(body.info).toBe(out.infotext);
    expect(body.parameters).toMatchObject({Prompt: PROMPT, 'Negative prompt': NEGATIVE, Seed: '42', Model: 'builtin:tiny-sd', 'Size-1': '64'});
  }, 60_000);
});
