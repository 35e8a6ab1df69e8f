// A single-file ControlNet in the original layout (`control_model.*`, as lllyasviel's control_v11 files) loads fully
// offline: the runtime derives its config from the base model's UNet and the file's shapes instead of asking the
// HuggingFace Hub. Proven end to end through the built CLI with the Hub switched off and an empty HF cache, and by
// pixels: the one-file ControlNet must draw exactly what the same weights in a diffusers folder draw.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {readFileSync, readdirSync, writeFileSync} from 'node:fs';
import {mkdtemp, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {readPngInfo} from '../../src/backends/png-metadata.js';
import {buildPng, pixelDigest} from '../helpers/png.js';
import {cli, testPython, tiny} from './support.js';

const SIZE = ['--width', '64', '--height', '64', '--steps', '3', '--seed', '7', '--prompt', 'a cube'];

let out: string;
let hfHome: string;
let control: string;

/** A 64x64 RGB control image with structure (a bright square and diagonal stripes), so the ControlNet has edges to act on. */
function controlPng(): Buffer {
  return buildPng(64, 64, [], (x, y) => {
    const inSquare = x >= 16 && x < 40 && y >= 20 && y < 44;
    const stripe = (x + y) % 12 < 3;
    const v = inSquare ? 255 : stripe ? 180 : 0;
    return [v, stripe ? 255 - v : v, (x * 4) & 255];
  });
}

function files(dir: string): string[] {
  return readdirSync(dir, {recursive: true, withFileTypes: true}).filter((e) => !e.isDirectory()).map((e) => join(e.parentPath, e.name));
}

beforeAll(async () => {
  await testPython();
  out = await mkdtemp(join(tmpdir(), 'mgen-cn-single-'));
  hfHome = await mkdtemp(join(tmpdir(), 'mgen-cn-single-hf-'));
  control = join(out, 'control.png');
  writeFileSync(control, controlPng());
  await Promise.all(['tiny-sd', 'tiny-sd-controlnet', 'tiny-sd-controlnet-single'].map(tiny));
}, 600_000);
afterAll(async () => {
  await rm(out, {recursive: true, force: true});
  await rm(hfHome, {recursive: true, force: true});
});

describe('a single-file (original layout) ControlNet', () => {
  it('the builtin is one control_model.* safetensors file with no config beside it', async () => {
    const model = await tiny('tiny-sd-controlnet-single');
    expect(model.path.endsWith('.safetensors')).toBe(true);
    expect(readdirSync(model.dir).sort()).toEqual(['mgen-tiny.json', 'tiny-sd-controlnet.safetensors']);
    const buf = readFileSync(model.path);
    const header = JSON.parse(buf.toString('utf8', 8, 8 + Number(buf.readBigUInt64LE(0)))) as Record<string, unknown>;
    const keys = Object.keys(header).filter((k) => k !== '__metadata__');
    expect(keys.every((k) => k.startsWith('control_model.'))).toBe(true);
    for (const k of ['control_model.input_hint_block.0.weight', 'control_model.input_hint_block.14.weight', 'control_model.zero_convs.0.0.weight',
      'control_model.middle_block_out.0.weight', 'control_model.input_blocks.0.0.weight', 'control_model.time_embed.0.weight']) {
      expect(keys).toContain(k);
    }
  }, 600_000);

  it('generates offline (HF_HUB_OFFLINE=1, empty HF_HOME) with the same pixels as the same ControlNet as a diffusers folder', async () => {
    const env = {HF_HUB_OFFLINE: '1', HF_HOME: hfHome, HF_HUB_CACHE: join(hfHome, 'hub'), HUGGINGFACE_HUB_CACHE: join(hfHome, 'hub')};
    const run = (extra: string[], name: string) => cli(['generate', 'builtin:tiny-sd', ...extra, ...SIZE, '--out', join(out, name), '--json'], {env});

    const single = await run(['--controlnet', 'builtin:tiny-sd-controlnet-single', '--control-image', control], 'single.png');
    expect(single.stderr).toBe('');
    expect(single.code).toBe(0);
    const doc = JSON.parse(single.stdout);
    expect(doc.plan.pipeline).toBe('StableDiffusionControlNetPipeline');
    const singleBuf = readFileSync(join(out, 'single.png'));
    const info = readPngInfo(singleBuf);
    expect([info.width, info.height]).toEqual([64, 64]);
    // The worker was given the one file, not a folder.
    expect(JSON.parse(info.text.mgen!).plan.controlnet).toMatch(/\/tiny-sd-controlnet-single-[^/]+\/tiny-sd-controlnet\.safetensors$/);

    const folder = await run(['--controlnet', 'builtin:tiny-sd-controlnet', '--control-image', control], 'folder.png');
    expect(folder.code).toBe(0);
    const folderBuf = readFileSync(join(out, 'folder.png'));
    expect(JSON.parse(readPngInfo(folderBuf).text.mgen!).plan.controlnet).toMatch(/\/tiny-sd-controlnet-[0-9a-f]+$/);
    // Same weights after the layout round trip and the same (derived vs saved) config: the same float32 computation
    // on the same CPU, so the pixels are identical, not merely close.
    expect(pixelDigest(singleBuf)).toBe(pixelDigest(folderBuf));

    // ...and the ControlNet does act on the image (otherwise equal pixels would prove nothing).
    const plain = await run([], 'plain.png');
    expect(plain.code).toBe(0);
    expect(pixelDigest(readFileSync(join(out, 'plain.png')))).not.toBe(pixelDigest(singleBuf));

    // Nothing was fetched or cached on the way.
    expect(files(hfHome)).toEqual([]);
  }, 600_000);

  it('mgen inspect classifies it as an sd1 ControlNet in one file', async () => {
    const r = await cli(['inspect', 'builtin:tiny-sd-controlnet-single', '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect({kind: report.kind, family: report.family, format: report.format}).toEqual({kind: 'controlnet', family: 'sd1', format: 'single-file'});
  }, 300_000);
});
