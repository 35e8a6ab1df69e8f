// webuiapi (the A1111 API client people script against) runs its standard calls unmodified against `mgen serve` on
// a tiny builtin, with A1111's `--api-auth` HTTP Basic set through `api.set_auth`: the model list and options, txt2img
// with A1111's `info` and infotexts, png_info, progress / interrupt, the list endpoints and its util_* helpers.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {spawnServe, testPython, tiny, type SpawnedServe} from '../runtime/support.js';
import {pyJson} from './support.js';

let serve: SpawnedServe;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  await testPython();
  await tiny('tiny-sd');
  serve = await spawnServe(['builtin:tiny-sd', '--device', 'cpu', '--dtype', 'float32', '--no-state', '--api-auth', 'alice:wonder-land'], 300_000);
  const u = new URL(serve.url);
  env = {HOST: u.hostname, PORT: u.port};
}, 420_000);
afterAll(() => {
  serve?.proc.kill('SIGTERM');
});

/** A snippet with `api` a WebUIApi on the server, Basic auth set as its users do. */
const withApi = (body: string): string => `
import json, os, io, base64, threading, time
import webuiapi
api = webuiapi.WebUIApi(host=os.environ["HOST"], port=int(os.environ["PORT"]))
api.set_auth("alice", "wonder-land")
${body}
`;

describe('webuiapi against mgen serve', () => {
  it('is refused without the --api-auth credentials and let in with them', async () => {
    const r = await pyJson<{anon: number; wrong: number; ok: number}>(`
import json, os, requests
base = f"http://{os.environ['HOST']}:{os.environ['PORT']}/sdapi/v1"
print(json.dumps({"anon": requests.get(base + "/sd-models").status_code,
                  "wrong": requests.get(base + "/sd-models", auth=("alice", "nope")).status_code,
                  "ok": requests.get(base + "/sd-models", auth=("alice", "wonder-land")).status_code}))
`, env);
    expect(r).toEqual({anon: 401, wrong: 401, ok: 200});
  }, 60_000);

  it('lists the model and reads, sets and keeps options (util_get_model_names, util_set_model, util_get_current_model)', async () => {
    const r = await pyJson<any>(withApi(`
models = api.get_sd_models()
names = api.util_get_model_names()
api.util_set_model(names[0])
current = api.util_get_current_model()
before = api.get_options()
api.set_options({"CLIP_stop_at_last_layers": 2})
after = api.get_options()
refused = api.set_options({"sd_model_checkpoint": "v1-5-pruned-emaonly.safetensors"})
api.set_options({"CLIP_stop_at_last_layers": 1})
print(json.dumps({"models": models, "names": names, "current": current, "before": before, "after": after,
                  "refused": refused}))
`), env);
    expect(r.models).toEqual([{title: 'builtin:tiny-sd', model_name: 'builtin:tiny-sd', hash: null, sha256: null, filename: expect.any(String), config: null}]);
    expect(r.names).toEqual(['builtin:tiny-sd']);
    expect(r.current).toBe('builtin:tiny-sd');
    expect(r.before).toMatchObject({sd_model_checkpoint: 'builtin:tiny-sd', CLIP_stop_at_last_layers: 1, samples_format: 'png'});
    expect(r.after.CLIP_stop_at_last_layers).toBe(2);
    expect(r.refused).toMatchObject({error: 'HTTPException', body: ''});
    expect(r.refused.detail).toMatch(/not found; this server holds builtin:tiny-sd only/);
  }, 60_000);

  it('runs txt2img with A1111 info (every key, infotexts) and reads the image back with png_info', async () => {
    const r = await pyJson<any>(withApi(`
res = api.txt2img(prompt="a red cube", negative_prompt="blur", seed=7, steps=2, width=64, height=64, cfg_scale=6, sampler_name="Euler a")
info = api.png_info(res.image)
print(json.dumps({"size": list(res.image.size), "info": res.info, "parameters_prompt": res.parameters["prompt"],
                  "png_info": info.info, "png_parameters": info.json["parameters"]}))
`), env);
    expect(r.size).toEqual([64, 64]);
    expect(r.parameters_prompt).toBe('a red cube');
    expect(r.info).toMatchObject({prompt: 'a red cube', negative_prompt: 'blur', seed: 7, all_seeds: [7], steps: 2, cfg_scale: 6, sampler_name: 'Euler a',
      width: 64, height: 64, restore_faces: false, styles: [], subseed_strength: 0, index_of_first_image: 0, sd_model_hash: null, clip_skip: 1});
    expect(r.info.job_timestamp).toMatch(/^\d{14}$/);
    expect(r.info.infotexts).toHaveLength(1);
    expect(r.info.infotexts[0]).toMatch(/^a red cube\nNegative prompt: blur\nSteps: 2, Sampler: Euler a, (Schedule type: Automatic, )?CFG scale: 6, Seed: 7, Size: 64x64, Model: "builtin:tiny-sd", Version: mgen$/);
    expect(r.png_info).toBe(r.info.infotexts[0]);
    expect(r.png_parameters).toMatchObject({Prompt: 'a red cube', 'Negative prompt': 'blur', Steps: '2', Seed: '7', 'Size-1': '64', 'Size-2': '64'});
  }, 120_000);

  it('writes jpg and webp (samples_format) with the infotext in EXIF UserComment, read back into info.infotexts', async () => {
    const r = await pyJson<any>(withApi(`
j = api.txt2img(prompt="a red cube", seed=9, steps=2, width=64, height=64, override_settings={"samples_format": "jpg"})
api.set_options({"samples_format": "webp"})
w = api.txt2img(prompt="a red cube", seed=9, steps=2, width=64, height=64)
api.set_options({"samples_format": "png"})
comment = j.image.getexif().get_ifd(0x8769).get(0x9286, b"")
print(json.dumps({"formats": [j.image.format, w.image.format], "infotexts": [j.info["infotexts"][0], w.info["infotexts"][0]],
                  "comment": comment[8:].decode("utf-16-be") if comment[:8] == b"UNICODE\\0" else None}))
`), env);
    expect(r.formats).toEqual(['JPEG', 'WEBP']);
    expect(r.infotexts[0]).toMatch(/^a red cube\nSteps: 2, .*Seed: 9, Size: 64x64/);
    expect(r.infotexts[1]).toBe(r.infotexts[0]);
    expect(r.comment).toBe(r.infotexts[0]);
  }, 180_000);

  it('runs the hires fix (enable_hr, hr_scale=2): a second pass at twice the size, named in info as A1111 writes it', async () => {
    const r = await pyJson<any>(withApi(`
res = api.txt2img(prompt="a red cube", seed=5, steps=2, width=64, height=64, enable_hr=True, hr_scale=2, hr_upscaler="Latent",
                  hr_second_pass_steps=2, denoising_strength=0.5)
near = api.txt2img(prompt="a red cube", seed=5, steps=2, width=64, height=64, enable_hr=True, hr_scale=2, hr_upscaler=webuiapi.HiResUpscaler.Lanczos,
                   hr_second_pass_steps=2, denoising_strength=0.5)
# A weighted prompt (A1111 syntax: the first pass gets prompt embeddings) with a plain hires prompt of its own.
own = api.txt2img(prompt="a (red:1.3) cube", negative_prompt="[blur]", seed=5, steps=2, width=64, height=64, enable_hr=True,
                  hr_scale=2, hr_second_pass_steps=2, denoising_strength=0.5, hr_prompt="a blue cube")
try:
    api.txt2img(prompt="x", steps=2, width=64, height=64, enable_hr=True, hr_upscaler=webuiapi.HiResUpscaler.ESRGAN_4x)
    refused = None
except RuntimeError as e:
    refused = [e.args[0], e.args[1]]
print(json.dumps({"size": list(res.image.size), "info": res.info, "lanczos": list(near.image.size), "own": list(own.image.size), "refused": refused}))
`), env);
    expect(r.size).toEqual([128, 128]);
    expect(r.lanczos).toEqual([128, 128]);
    expect(r.own).toEqual([128, 128]);
    expect(r.info.denoising_strength).toBe(0.5);
    expect(r.info.extra_generation_params).toMatchObject({'Hires upscale': '2', 'Hires steps': '2', 'Hires upscaler': 'Latent'});
    expect(r.info.infotexts[0]).toMatch(/Size: 64x64, .*Denoising strength: 0.5, Hires upscale: 2, Hires steps: 2, Hires upscaler: Latent/);
    expect(r.refused[0]).toBe(400);
    expect(r.refused[1]).toMatch(/hr_upscaler/);
  }, 180_000);

  it('reports progress while a job runs and interrupts it; idle afterwards (util_wait_for_ready)', async () => {
    const r = await pyJson<any>(withApi(`
out = {}
def run():
    try:
        api.txt2img(prompt="long", steps=40, width=256, height=256, seed=1)
        out["result"] = "finished"
    except RuntimeError as e:
        out["result"] = e.args[0]
t = threading.Thread(target=run)
t.start()
seen = None
preview = None
skipped = None
for _ in range(3000):
    p = api.get_progress()
    if p["state"]["job_count"] > 0 and p["state"]["sampling_step"] > 0 and seen is None:
        seen = p
    if p.get("current_image"):
        # live previews (A1111's default: every show_progress_every_n_steps = 10 steps): the running image as base64 PNG
        from PIL import Image
        preview = list(Image.open(io.BytesIO(base64.b64decode(p["current_image"]))).size)
        skipped = api.session.get(f"{api.baseurl}/progress?skip_current_image=true").json()["current_image"]
        break
    time.sleep(0.05)
api.interrupt()
t.join()
api.util_wait_for_ready(check_interval=0.1)
print(json.dumps({"seen": seen, "preview": preview, "skipped": skipped, "result": out.get("result"), "idle": api.get_progress(),
                  "options": {k: api.get_options()[k] for k in ("live_previews_enable", "show_progress_every_n_steps")}}))
`), env);
    expect(r.options).toEqual({live_previews_enable: true, show_progress_every_n_steps: 10});
    expect(r.seen).toMatchObject({state: {job_count: 1, job_no: 0, sampling_steps: 40}});
    expect(r.preview).toEqual([256, 256]);
    expect(r.skipped).toBeNull();
    expect(r.seen.progress).toBeGreaterThan(0);
    expect(r.seen.eta_relative).toBeGreaterThanOrEqual(0);
    expect(r.result).toBe(499);
    expect(r.idle).toMatchObject({progress: 0, eta_relative: 0, current_image: null, state: {job_count: 0}});
  }, 180_000);

  it('answers the list endpoints and util helpers in A1111 shapes', async () => {
    const r = await pyJson<any>(withApi(`
def attempt(f):
    try:
        return {"ok": f()}
    except RuntimeError as e:
        return {"status": e.args[0], "text": e.args[1]}
print(json.dumps({
  "samplers": api.util_get_sampler_names(), "schedulers": api.util_get_scheduler_names(), "upscalers": api.get_upscalers(),
  "vae": api.get_sd_vae(), "loras": api.get_loras(), "embeddings": api.get_embeddings(), "flags": api.get_cmd_flags(),
  "scripts": api.get_scripts(), "skip": api.skip(),
  "empty": [api.get_hypernetworks(), api.get_face_restorers(), api.get_realesrgan_models(), api.get_prompt_styles()],
  "latent_modes": [m["name"] for m in api.get_latent_upscale_modes()],
  "refresh": api.refresh_checkpoints(), "memory": api.get_memory(),
  "extras": attempt(lambda: api.extra_single_image(image=__import__("PIL.Image").Image.new("RGB", (8, 8)), upscaler_1="R-ESRGAN 4x+")),
  "img2img": attempt(lambda: [im.size for im in api.img2img(images=[__import__("PIL.Image").Image.new("RGB", (64, 64))], prompt="x", steps=2, denoising_strength=0.5, seed=3, width=64, height=64).images]),
}))
`), env);
    expect(r.samplers).toEqual(expect.arrayContaining(['Euler', 'Euler a', 'DPM++ 2M']));
    expect(r.schedulers).toEqual(expect.arrayContaining(['karras']));
    expect(r.upscalers).toEqual(['None', 'Lanczos', 'Nearest'].map((name) => ({name, model_name: null, model_path: null, model_url: null, scale: 4})));
    expect(r.vae).toEqual([]);
    expect(Array.isArray(r.loras)).toBe(true);
    expect(r.embeddings).toEqual({loaded: {}, skipped: {}});
    expect(r.flags).toMatchObject({api: true, nowebui: true, ckpt: 'builtin:tiny-sd', api_auth: '(set)'});
    expect(JSON.stringify(r.flags)).not.toContain('wonder-land');
    expect(r.scripts).toEqual({txt2img: [], img2img: []});
    expect(r.skip).toBeNull();
    expect(r.empty).toEqual([[], [], [], []]);
    expect(r.latent_modes).toEqual(['Latent', 'Latent (antialiased)', 'Latent (bicubic)', 'Latent (bicubic antialiased)', 'Latent (nearest)', 'Latent (nearest-exact)']);
    expect(r.refresh).toBeNull();
    expect(r.memory).toMatchObject({ram: {total: expect.any(Number)}, cuda: {error: 'unavailable'}});
    expect(r.extras.status).toBe(501);
    expect(JSON.parse(r.extras.text)).toEqual({error: 'HTTPException', detail: expect.stringMatching(/upscal/), body: '', errors: expect.any(String)});
    // A text-to-image serve runs img2img on the same loaded components.
    expect(r.img2img).toEqual({ok: [[64, 64]]});
  }, 180_000);
});
