import {afterAll, beforeAll, describe, expect, it} from '@jest/globals';
import {mkdtemp, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {requestFromPng} from '../../src/backends/from-png.js';
import {validateParamNames} from '../../src/backends/session.js';
import {ExitCode} from '../../src/errors.js';
import {buildPng} from '../helpers/png.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mgen-from-'));
});
afterAll(async () => {
  await rm(dir, {recursive: true, force: true});
});

describe('generate --from', () => {
  it('takes the exact request, model and adapters from the mgen chunk', async () => {
    const mgen = JSON.stringify({
      schema: 1, model: 'builtin:tiny-sd', base: null,
      adapters: {loras: [{id: 'builtin:tiny-sd-lora-peft', scale: 0.5}], embeddings: [{id: 'builtin:tiny-sd-ti', token: null}], controlnet: null, vae: null},
      request: {prompt: 'a cube', negative_prompt: 'blur', width: 72, height: 64, steps: 3, guidance_scale: 5, seed: 6, scheduler: null, strength: null, params: {eta: 0.2}},
    });
    const p = join(dir, 'a.png');
    await writeFile(p, buildPng(2, 2, [{type: 'tEXt', keyword: 'parameters', text: 'other\nSteps: 1, Seed: 1'}, {type: 'iTXt', keyword: 'mgen', text: mgen}]));
    const r = await requestFromPng(p);
    expect(r).toMatchObject({source: 'mgen', model: 'builtin:tiny-sd', loras: [{id: 'builtin:tiny-sd-lora-peft', scale: 0.5}], embeddings: [{id: 'builtin:tiny-sd-ti'}]});
    expect(r.input).toMatchObject({prompt: 'a cube', negativePrompt: 'blur', width: 72, height: 64, steps: 3, guidance: 5, seed: 6, params: {eta: 0.2}});
  });

  it('keeps the scheduler config an A1111 sampler ran with, so a re-run uses the same sampler', async () => {
    const mgen = JSON.stringify({
      schema: 1, model: 'builtin:tiny-sd',
      request: {prompt: 'a', steps: 3, seed: 1, scheduler: 'DPMSolverMultistepScheduler', scheduler_config: {algorithm_type: 'sde-dpmsolver++', use_karras_sigmas: true}},
    });
    const p = join(dir, 'k.png');
    await writeFile(p, buildPng(2, 2, [{type: 'iTXt', keyword: 'mgen', text: mgen}]));
    const r = await requestFromPng(p);
    expect(r.input).toMatchObject({scheduler: 'DPMSolverMultistepScheduler', schedulerConfig: {algorithm_type: 'sde-dpmsolver++', use_karras_sigmas: true}});
  });

  it('falls back to the A1111 parameters text of images from other tools', async () => {
    const p = join(dir, 'b.png');
    await writeFile(p, buildPng(2, 2, [{type: 'tEXt', keyword: 'parameters', text: 'castle\nNegative prompt: fog\nSteps: 25, Sampler: Euler a, CFG scale: 6.5, Seed: 99, Size: 512x768, Model hash: abc'}]));
    const r = await requestFromPng(p);
    expect(r).toMatchObject({source: 'parameters', model: null});
    expect(r.input).toMatchObject({prompt: 'castle', negativePrompt: 'fog', steps: 25, guidance: 6.5, seed: 99, width: 512, height: 768});
  });

  it('says so when a PNG carries no parameters (exit 6) or is missing (exit 3)', async () => {
    const p = join(dir, 'c.png');
    await writeFile(p, buildPng(2, 2));
    await expect(requestFromPng(p)).rejects.toMatchObject({exitCode: ExitCode.invalidModel});
    await expect(requestFromPng(join(dir, 'none.png'))).rejects.toMatchObject({exitCode: ExitCode.notFound});
  });
});

describe('--param names', () => {
  it('refuses unknown names listing the valid ones (exit 2)', () => {
    const schema = {properties: {eta: {type: 'number'}, clip_skip: {type: 'integer'}}};
    expect(() => validateParamNames(schema, {eta: 1})).not.toThrow();
    let err: {exitCode?: number; hint?: string; message?: string} = {};
    try {
      validateParamNames(schema, {etaa: 1});
    } catch (e) {
      err = e as typeof err;
    }
    expect(err.exitCode).toBe(ExitCode.usage);
    expect(err.message).toContain('etaa');
    expect(err.hint).toBe('valid: clip_skip, eta');
  });
});
