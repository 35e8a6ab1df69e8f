// Image-to-video models need their first frame: a request without one is a UsageError (exit 2; serve: 400 on
// `image`) before the pipeline runs (serve) or before the model loads (the CLI's validate hook, which now sees the
// checkpoint's report). Checked with the stand-in worker (test/backends/stand-in-worker.ts) that records its verbs.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {mkdtemp, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {checkFirstFrame, takesFirstFrame} from '../../src/backends/plan.js';
import type {ResolvedModel} from '../../src/backends/resolve-model.js';
import {openSession} from '../../src/backends/session.js';
import {UsageError} from '../../src/errors.js';
import {report} from './report-fixture.js';
import {standInWorker, verbsSeen} from './stand-in-worker.js';

let dir: string;
let fake: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mgen-firstframe-'));
  fake = await standInWorker();
});
afterAll(async () => {
  await rm(dir, {recursive: true, force: true});
});

function wanI2v(id: string): ResolvedModel {
  const r = report({family: 'wan', variants: ['wan2.1', 'i2v'], pipeline: 'WanImageToVideoPipeline', task: 'image-to-video',
    defaults: {width: 832, height: 480, steps: 50, guidance_scale: 5, frames: 81, fps: 16}});
  return {id, pinnedId: id, path: join(dir, 'wan'), report: r, configRepo: null, baseId: null};
}

describe('image-to-video pipelines take a first frame', () => {
  it('knows the image-to-video pipeline classes', () => {
    for (const p of ['WanImageToVideoPipeline', 'CogVideoXImageToVideoPipeline', 'HunyuanVideoImageToVideoPipeline', 'LTXImageToVideoPipeline']) {
      expect(takesFirstFrame(p)).toBe(true);
    }
    for (const p of ['WanPipeline', 'CogVideoXPipeline', 'HunyuanVideoPipeline', 'StableDiffusionPipeline', null]) expect(takesFirstFrame(p)).toBe(false);
    expect(() => checkFirstFrame('m', 'WanPipeline', false)).not.toThrow();
    expect(() => checkFirstFrame('m', 'WanImageToVideoPipeline', true)).not.toThrow();
  });

  it('Session.generate (serve\'s path) refuses a request without an image, naming the field, before the worker hears of it', async () => {
    const log = join(dir, 'verbs-1');
    const s = await openSession({modelId: 'org/wan-i2v', python: fake, env: {...process.env, FAKE_VERBS: log}, resolve: async (id) => wanI2v(id), planOnly: true});
    try {
      expect(s.plan.pipeline).toBe('WanImageToVideoPipeline');
      const err = await s.generate({prompt: 'a red cube', out: join(dir, 'x.mp4')}).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UsageError);
      expect((err as UsageError).message).toBe('org/wan-i2v is an image-to-video model (WanImageToVideoPipeline): the request needs a first frame');
      expect((err as UsageError).hint).toBe('pass --image PATH');
      expect((err as UsageError).field).toBe('image');
    } finally {
      await s.close();
    }
    expect(await verbsSeen(log)).not.toContain('generate');
  });

  it('the CLI\'s validate hook gets the checkpoint\'s report: no --image stops the open before any load', async () => {
    const log = join(dir, 'verbs-2');
    const err = await openSession({
      modelId: 'org/wan-i2v', python: fake, env: {...process.env, FAKE_VERBS: log}, resolve: async (id) => wanI2v(id),
      validate: (_family, checkpoint) => checkFirstFrame('org/wan-i2v', checkpoint.pipeline, false),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toMatch(/needs a first frame$/);
    expect(await verbsSeen(log)).not.toContain('load');
  });
});
