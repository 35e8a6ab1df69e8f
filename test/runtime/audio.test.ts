// Audio end to end: the tiny Stable Audio Open pipeline through `mgen generate` to WAV (default) and FLAC,
// checked with FFmpeg's probe (sample rate, channels, length, the mgen comment), and `--from sound.wav`.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {execFileSync} from 'node:child_process';
import {existsSync, readFileSync} from 'node:fs';
import {mkdtemp, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {cli, ROOT, testEnv, testPython, tiny} from './support.js';

let out: string;
let python: string;
let dir: string;

function probe(path: string): {codec: string; sample_rate: number; channels: number; samples: number; metadata: Record<string, string>} {
  return JSON.parse(execFileSync(python, ['-m', 'mgen_runtime.media', 'probe', path], {
    env: {...testEnv(), PYTHONPATH: join(ROOT, 'python-runtime')}, encoding: 'utf8',
  }));
}

beforeAll(async () => {
  python = await testPython();
  out = await mkdtemp(join(tmpdir(), 'mgen-audio-'));
  dir = (await tiny('tiny-stable-audio')).dir;
}, 600_000);
afterAll(async () => {
  await rm(out, {recursive: true, force: true});
});

describe('mgen generate with Stable Audio Open', () => {
  it("the tiny pipeline has the real repo's scheduler (CosineDPMSolverMultistepScheduler, whose SDE noise needs torchsde)", () => {
    const config = JSON.parse(readFileSync(join(dir, 'scheduler', 'scheduler_config.json'), 'utf8'));
    // stabilityai/stable-audio-open-1.0 scheduler/scheduler_config.json
    expect(config).toMatchObject({_class_name: 'CosineDPMSolverMultistepScheduler', sigma_min: 0.3, sigma_max: 500, sigma_data: 1.0,
      sigma_schedule: 'exponential', solver_order: 2, prediction_type: 'v_prediction', solver_type: 'midpoint', final_sigmas_type: 'zero'});
    expect(JSON.parse(readFileSync(join(dir, 'model_index.json'), 'utf8')).scheduler).toEqual(['diffusers', 'CosineDPMSolverMultistepScheduler']);
  });

  it('writes a 16-bit WAV of --duration seconds at the VAE sample rate, the request inside; --from re-runs it', async () => {
    const r = await cli(['generate', 'builtin:tiny-stable-audio', '--prompt', 'rain on a roof', '--duration', '0.5', '--steps', '2', '--seed', '4', '--out', join(out, 'rain-{seed}'), '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const file = (JSON.parse(r.stdout) as {images: Array<Record<string, unknown>>}).images[0]!;
    expect(file).toMatchObject({path: join(out, 'rain-4.wav'), media_type: 'audio/wav', sample_rate: 8000, channels: 2, samples: 4000, duration_s: 0.5});
    const buf = readFileSync(join(out, 'rain-4.wav'));
    expect(buf.readUInt32LE(24)).toBe(8000); // the fmt chunk's sample rate
    expect(buf.readUInt16LE(34)).toBe(16);
    const p = probe(join(out, 'rain-4.wav'));
    expect(p).toMatchObject({codec: 'pcm_s16le', sample_rate: 8000, channels: 2, samples: 4000});
    expect(JSON.parse(p.metadata.comment!).request).toMatchObject({prompt: 'rain on a roof', seed: 4, duration: 0.5, format: 'wav'});

    const again = await cli(['generate', '--from', join(out, 'rain-4.wav'), '--format', 'flac', '--out', join(out, 'again'), '--json']);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).images[0]).toMatchObject({path: join(out, 'again.flac'), media_type: 'audio/flac', samples: 4000});
    expect(probe(join(out, 'again.flac'))).toMatchObject({codec: 'flac', sample_rate: 8000, samples: 4000});
    // FLAC's Vorbis comment carries the same document (read back in test/backends/media-output.test.ts).
    expect(JSON.parse(probe(join(out, 'again.flac')).metadata.comment!).request).toMatchObject({seed: 4, format: 'flac'});
  }, 240_000);

  it.each([
    [['--format', 'gif'], '--format gif is not an audio format; use wav, flac'],
    [['--frames', '9'], '--frames is for video models; Stable Audio Open makes audio'],
    [['--image', 'package.json'], '--image needs an image-to-video model; builtin:tiny-stable-audio is text-to-audio (StableAudioPipeline)'],
  ])('%j: exit 2, no file', async (args, message) => {
    const r = await cli(['generate', 'builtin:tiny-stable-audio', '--prompt', 'x', '--steps', '1', ...args, '--out', join(out, 'bad', 'x')]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`mgen: error: ${message}`);
    expect(existsSync(join(out, 'bad'))).toBe(false);
  }, 120_000);
});
