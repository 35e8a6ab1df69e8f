// The built-in tiny models and the detection rules must agree: each tiny model is built by the real Python
// builder (python -m mgen_runtime.tiny) and classified by the real detection (detectLocal), with no hint from
// the tiny manifest. The tiny models carry the real decisive widths (CLIP-L 768, bigG 1280, SDXL 2048/2816,
// T5-XXL 4096), so a rule that reads them sees what it would see on the full-size model.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {execFile} from 'node:child_process';
import {existsSync, readFileSync} from 'node:fs';
import {join, resolve} from 'node:path';
import {promisify} from 'node:util';
import {detectLocal} from '../../src/detect/index.js';
import type {ModelReport} from '../../src/detect/types.js';
import {makeTmpDir} from '../helpers/tmp.js';

const run = promisify(execFile);
const ROOT = resolve(process.cwd());
const BUILD_TIMEOUT_MS = 240_000;

/** MGEN_PYTHON, else what `mgen runtime which` prints once that command exists; otherwise a clear failure. */
async function pythonForTests(): Promise<string> {
  const fromEnv = process.env.MGEN_PYTHON;
  if (fromEnv) return fromEnv;
  const which = ['src/commands/runtime/which.ts', 'src/commands/runtime/which/index.ts'].some((p) => existsSync(join(ROOT, p)));
  if (which) {
    const {stdout} = await run(process.execPath, [join(ROOT, 'bin/mgen'), 'runtime', 'which'], {cwd: ROOT, timeout: 60_000});
    const path = stdout.trim();
    if (path) return path;
  }
  throw new Error('tiny-detection needs a Python with torch + diffusers: set MGEN_PYTHON to its interpreter '
    + '(e.g. MGEN_PYTHON=/tmp/pyprobe/venv/bin/python); `mgen runtime which` is not available to find one');
}

interface Expected {
  /** What to detect: the built folder, or the manifest's `file` inside it. */
  target: 'folder' | 'file';
  family: ModelReport['family'];
  kind: ModelReport['kind'];
  format: ModelReport['format'];
  variants?: string[];
  base?: ModelReport['family'];
  adapter_format?: string;
  pipeline?: string;
  task?: ModelReport['task'];
  /** The detection rule expected among the evidence. */
  rule: string;
}

const EXPECTED: Record<string, Expected> = {
  'tiny-sd': {rule: 'sd1', target: 'folder', family: 'sd1', kind: 'checkpoint', format: 'diffusers', variants: [], pipeline: 'StableDiffusionPipeline'},
  'tiny-sd-single': {rule: 'sd1', target: 'file', family: 'sd1', kind: 'checkpoint', format: 'single-file', variants: []},
  'tiny-sdxl': {rule: 'sdxl', target: 'folder', family: 'sdxl', kind: 'checkpoint', format: 'diffusers', variants: [], pipeline: 'StableDiffusionXLPipeline'},
  'tiny-sd-lora-kohya': {rule: 'lora', target: 'file', family: 'sd1', kind: 'lora', format: 'single-file', base: 'sd1', adapter_format: 'kohya'},
  'tiny-sd-lora-peft': {rule: 'lora', target: 'file', family: 'sd1', kind: 'lora', format: 'single-file', base: 'sd1', adapter_format: 'diffusers'},
  'tiny-sd-ti': {rule: 'textual-inversion', target: 'file', family: 'sd1', kind: 'textual-inversion', format: 'single-file', base: 'sd1', variants: ['2-vectors']},
  'tiny-sd-controlnet': {rule: 'controlnet', target: 'folder', family: 'sd1', kind: 'controlnet', format: 'diffusers', base: 'sd1'},
  'tiny-sd-controlnet-single': {rule: 'controlnet', target: 'file', family: 'sd1', kind: 'controlnet', format: 'single-file', base: 'sd1'},
  // The tiny FLUX has no guidance embedder, so it reads as the schnell-style (guidance-free) FLUX.1.
  'tiny-flux': {rule: 'flux', target: 'folder', family: 'flux', kind: 'checkpoint', format: 'diffusers', variants: ['schnell'], pipeline: 'FluxPipeline'},
  'tiny-sd3': {rule: 'sd3', target: 'folder', family: 'sd3', kind: 'checkpoint', format: 'diffusers', pipeline: 'StableDiffusion3Pipeline'},
  // The other image families (tiny_dit.py, tiny_unet.py, tiny_single.py).
  'tiny-sd2': {rule: 'sd2', target: 'folder', family: 'sd2', kind: 'checkpoint', format: 'diffusers', variants: ['v-prediction'], pipeline: 'StableDiffusionPipeline'},
  'tiny-sdxl-refiner': {rule: 'sdxl-refiner', target: 'folder', family: 'sdxl-refiner', kind: 'checkpoint', format: 'diffusers', variants: ['refiner'], pipeline: 'StableDiffusionXLImg2ImgPipeline'},
  'tiny-flux2': {rule: 'flux2', target: 'folder', family: 'flux2', kind: 'checkpoint', format: 'diffusers', pipeline: 'Flux2Pipeline'},
  'tiny-chroma': {rule: 'chroma', target: 'folder', family: 'chroma', kind: 'checkpoint', format: 'diffusers', pipeline: 'ChromaPipeline'},
  'tiny-pixart': {rule: 'pixart', target: 'folder', family: 'pixart', kind: 'checkpoint', format: 'diffusers', variants: ['sigma'], pipeline: 'PixArtSigmaPipeline'},
  'tiny-auraflow': {rule: 'auraflow', target: 'folder', family: 'auraflow', kind: 'checkpoint', format: 'diffusers', pipeline: 'AuraFlowPipeline'},
  'tiny-hunyuandit': {rule: 'hunyuandit', target: 'folder', family: 'hunyuandit', kind: 'checkpoint', format: 'diffusers', pipeline: 'HunyuanDiTPipeline'},
  'tiny-sana': {rule: 'sana', target: 'folder', family: 'sana', kind: 'checkpoint', format: 'diffusers', pipeline: 'SanaPipeline'},
  'tiny-lumina2': {rule: 'lumina2', target: 'folder', family: 'lumina2', kind: 'checkpoint', format: 'diffusers', pipeline: 'Lumina2Pipeline'},
  'tiny-qwen-image': {rule: 'qwen-image', target: 'folder', family: 'qwen-image', kind: 'checkpoint', format: 'diffusers', pipeline: 'QwenImagePipeline'},
  'tiny-cascade': {rule: 'cascade', target: 'folder', family: 'cascade', kind: 'checkpoint', format: 'diffusers', pipeline: 'StableCascadeCombinedPipeline'},
  'tiny-sd3-single': {rule: 'sd3', target: 'file', family: 'sd3', kind: 'checkpoint', format: 'single-file'},
  'tiny-flux-single': {rule: 'flux', target: 'file', family: 'flux', kind: 'checkpoint', format: 'single-file'},
  'tiny-chroma-single': {rule: 'chroma', target: 'file', family: 'chroma', kind: 'checkpoint', format: 'single-file'},
  // Kolors (tiny_kolors.py): the saved folder in Kwai-Kolors/Kolors-diffusers' layout.
  'tiny-kolors': {rule: 'kolors', target: 'folder', family: 'kolors', kind: 'checkpoint', format: 'diffusers', variants: [], pipeline: 'KolorsPipeline'},
  'tiny-wan-single': {rule: 'wan', target: 'file', family: 'wan', kind: 'checkpoint', format: 'single-file', base: 'wan'},
  // Video and audio (issue 13), adapters and upscalers (issue 12).
  'tiny-wan': {rule: 'wan', target: 'folder', family: 'wan', kind: 'checkpoint', format: 'diffusers', pipeline: 'WanPipeline'},
  'tiny-wan22': {rule: 'wan', target: 'folder', family: 'wan', kind: 'checkpoint', format: 'diffusers', variants: ['wan2.2', 't2v'], pipeline: 'WanPipeline'},
  'tiny-cogvideox': {rule: 'cogvideox', target: 'folder', family: 'cogvideox', kind: 'checkpoint', format: 'diffusers', variants: ['t2v'], pipeline: 'CogVideoXPipeline'},
  'tiny-ltxv': {rule: 'ltxv', target: 'folder', family: 'ltxv', kind: 'checkpoint', format: 'diffusers', pipeline: 'LTXPipeline'},
  'tiny-ltxv-i2v': {rule: 'ltxv', target: 'folder', family: 'ltxv', kind: 'checkpoint', format: 'diffusers', pipeline: 'LTXImageToVideoPipeline', task: 'image-to-video'},
  'tiny-hunyuanvideo': {rule: 'hunyuanvideo', target: 'folder', family: 'hunyuanvideo', kind: 'checkpoint', format: 'diffusers', pipeline: 'HunyuanVideoPipeline'},
  // Image-to-video (tiny_video_i2v.py): the task comes from the in-channels / image embedder / pipeline class.
  'tiny-wan-i2v': {rule: 'wan', target: 'folder', family: 'wan', kind: 'checkpoint', format: 'diffusers', variants: ['wan2.1', 'i2v'], pipeline: 'WanImageToVideoPipeline', task: 'image-to-video'},
  'tiny-cogvideox-i2v': {rule: 'cogvideox', target: 'folder', family: 'cogvideox', kind: 'checkpoint', format: 'diffusers', variants: ['i2v', '1.5'], pipeline: 'CogVideoXImageToVideoPipeline', task: 'image-to-video'},
  'tiny-hunyuanvideo-i2v': {rule: 'hunyuanvideo', target: 'folder', family: 'hunyuanvideo', kind: 'checkpoint', format: 'diffusers', variants: ['i2v'], pipeline: 'HunyuanVideoImageToVideoPipeline', task: 'image-to-video'},
  'tiny-stable-audio': {rule: 'stable-audio', target: 'folder', family: 'stable-audio', kind: 'checkpoint', format: 'diffusers', pipeline: 'StableAudioPipeline'},
  'tiny-sd-hypernetwork': {rule: 'hypernetwork', target: 'file', family: 'sd1', kind: 'hypernetwork', format: 'pickle', base: 'sd1'},
  // The tiny embedding's width is the tiny CLIP's, not one a real CLIP has: no family to name.
  'tiny-sd-aesthetic': {rule: 'aesthetic', target: 'file', family: 'unknown', kind: 'aesthetic-embedding', format: 'pickle'},
  'tiny-sd-ip-adapter': {rule: 'ip-adapter', target: 'file', family: 'sd1', kind: 'ip-adapter', format: 'single-file', variants: ['standard'], base: 'sd1'},
  'tiny-esrgan': {rule: 'upscaler', target: 'file', family: 'unknown', kind: 'upscaler', format: 'single-file', variants: ['esrgan', 'x4']},
  'tiny-swinir': {rule: 'upscaler', target: 'file', family: 'unknown', kind: 'upscaler', format: 'pickle', variants: ['swinir', 'x2']},
  'tiny-dat': {rule: 'upscaler', target: 'file', family: 'unknown', kind: 'upscaler', format: 'pickle', variants: ['dat', 'x3']},
  'tiny-hat': {rule: 'upscaler', target: 'file', family: 'unknown', kind: 'upscaler', format: 'single-file', variants: ['hat', 'x4']},
  'tiny-flux-ip-adapter': {rule: 'ip-adapter', target: 'file', family: 'flux', kind: 'ip-adapter', format: 'single-file', variants: ['xlabs'], base: 'flux'},
  // The SD1 one's conv_in width (3 x 4 x 4) is no released adapter's: its ModelSpec metadata names the family.
  'tiny-sd-t2i-adapter': {rule: 't2i-adapter', target: 'file', family: 'sd1', kind: 't2i-adapter', format: 'single-file', base: 'sd1'},
  'tiny-sdxl-t2i-adapter': {rule: 't2i-adapter', target: 'folder', family: 'sdxl', kind: 't2i-adapter', format: 'diffusers', base: 'sdxl'},
};

describe('tiny models classify correctly through the real detection rules', () => {
  let python: string;
  let tmp: {dir: string; cleanup: () => Promise<void>};

  beforeAll(async () => {
    python = await pythonForTests();
    tmp = await makeTmpDir('mgen-tiny-detect-');
  });
  afterAll(async () => {
    await tmp?.cleanup();
  });

  it('the builder offers exactly the models this test checks', async () => {
    const {stderr} = await run(python, ['-m', 'mgen_runtime.tiny'], {
      cwd: ROOT, env: {...process.env, PYTHONPATH: join(ROOT, 'python-runtime')}, timeout: 120_000,
    }).catch((error: {stderr?: string}) => ({stderr: error.stderr ?? ''}));
    const names = /<([^>]+)>/.exec(stderr)?.[1]?.split('|') ?? [];
    expect(names.sort()).toEqual(Object.keys(EXPECTED).sort());
  }, 120_000);

  for (const [name, want] of Object.entries(EXPECTED)) {
    it(`${name}: ${want.family} ${want.kind} (${want.format})`, async () => {
      const out = join(tmp.dir, name);
      const {stdout} = await run(python, ['-m', 'mgen_runtime.tiny', name, out], {
        cwd: ROOT, env: {...process.env, PYTHONPATH: join(ROOT, 'python-runtime')}, timeout: BUILD_TIMEOUT_MS,
        maxBuffer: 16 * 2 ** 20,
      });
      const manifest = JSON.parse(stdout) as {name: string; file?: string};
      expect(manifest.name).toBe(name);
      // The manifest is what the builder says it made; detection must reach the same answer without it.
      expect(JSON.parse(readFileSync(join(out, 'mgen-tiny.json'), 'utf8')).name).toBe(name);
      let path = out;
      if (want.target === 'file') {
        expect(typeof manifest.file).toBe('string');
        path = join(out, manifest.file as string);
      }

      const report = await detectLocal(path);
      const got: Record<string, unknown> = {family: report.family, kind: report.kind, format: report.format};
      const expected: Record<string, unknown> = {family: want.family, kind: want.kind, format: want.format};
      if (want.variants) {
        got.variants = report.variants;
        expected.variants = want.variants;
      }
      if (want.base) {
        got.base = report.base?.family;
        expected.base = want.base;
      }
      if (want.adapter_format) {
        got.adapter_format = report.adapter_format;
        expected.adapter_format = want.adapter_format;
      }
      if (want.pipeline) {
        got.pipeline = report.pipeline;
        expected.pipeline = want.pipeline;
      }
      if (want.task) {
        got.task = report.task;
        expected.task = want.task;
      }
      expect(got).toEqual(expected);
      // The rule that decided must be the family's (or adapter kind's) own rule, not a fallback.
      expect(report.evidence.map((e) => e.rule)).toContain(want.rule);
    }, BUILD_TIMEOUT_MS + 30_000);
  }
});
