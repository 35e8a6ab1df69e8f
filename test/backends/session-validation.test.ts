// openSession / Session.generate run the one request validator (src/backends/validation.ts): serve's requests go
// through Session.generate, and the CLI's `validate` hook runs once a remote MODEL_ID has resolved, before the model
// loads. Checked with a stand-in worker (test/backends/stand-in-worker.ts) that records the verbs it is sent.
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {mkdtemp, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {openSession} from '../../src/backends/session.js';
import type {ResolvedModel} from '../../src/backends/resolve-model.js';
import {flagName, validateRequest} from '../../src/backends/validation.js';
import {UsageError} from '../../src/errors.js';
import {report} from './report-fixture.js';
import {standInWorker, verbsSeen} from './stand-in-worker.js';

let dir: string;
let fake: string;


beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mgen-sessval-'));
  fake = await standInWorker();
});
afterAll(async () => {
  await rm(dir, {recursive: true, force: true});
});

function fluxModel(id: string): ResolvedModel {
  const r = report({family: 'flux', pipeline: 'FluxPipeline', defaults: {width: 1024, height: 1024, steps: 28, guidance_scale: 3.5}});
  return {id, pinnedId: id, path: join(dir, 'flux'), report: r, configRepo: null, baseId: null};
}

const verbs = verbsSeen;

describe('the one validator inside the session', () => {
  it('Session.generate (serve\'s path) refuses a size off the family grid with a UsageError naming the field, before the worker hears of it', async () => {
    const log = join(dir, 'verbs-1');
    const s = await openSession({modelId: 'org/flux', python: fake, env: {...process.env, FAKE_VERBS: log}, resolve: async (id) => fluxModel(id), planOnly: true});
    try {
      const err = await s.generate({prompt: 'a red cube', width: 72, out: join(dir, 'x.png')}).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UsageError);
      expect((err as UsageError).message).toBe('width 72 is not a multiple of 16 for flux (try 64 or 80)');
      expect((err as UsageError).field).toBe('width');
    } finally {
      await s.close();
    }
    expect(await verbs(log)).not.toContain('generate');
  });

  it('the CLI\'s validate hook runs once the MODEL_ID resolved: it stops the open before any load', async () => {
    const log = join(dir, 'verbs-2');
    const err = await openSession({
      modelId: 'org/flux', python: fake, env: {...process.env, FAKE_VERBS: log}, resolve: async (id) => fluxModel(id),
      validate: (family) => validateRequest({width: 1000}, {family, name: flagName}),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toBe('--width 1000 is not a multiple of 16 for flux (try 992 or 1008)');
    expect(await verbs(log)).not.toContain('load');
  });

  it('an image-to-image-only model (the SDXL refiner) opens for image-to-image; a request without an image is a UsageError before the worker hears of it', async () => {
    const log = join(dir, 'verbs-3');
    const r = report({family: 'sdxl-refiner', pipeline: 'StableDiffusionXLImg2ImgPipeline', task: 'image-to-image'});
    const s = await openSession({
      modelId: 'org/refiner', python: fake, env: {...process.env, FAKE_VERBS: log}, planOnly: true,
      resolve: async (id) => ({id, pinnedId: id, path: join(dir, 'refiner'), report: r, configRepo: null, baseId: null}),
    });
    try {
      expect(s.plan.task).toBe('image-to-image');
      const err = await s.generate({prompt: 'a red cube', out: join(dir, 'y.png')}).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UsageError);
      expect((err as UsageError).message).toBe('org/refiner is loaded for image-to-image: the request needs an input image');
    } finally {
      await s.close();
    }
    expect(await verbs(log)).not.toContain('generate');
  });
});
