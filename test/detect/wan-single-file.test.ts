// Wan transformers shared as one file (CivitAI/ComfyUI repackagings such as wan2.1_t2v_1.3B_fp16.safetensors, with
// or without `model.diffusion_model.`, and city96's GGUFs whose 5-D patch_embedding is stored flattened with its shape
// in `comfy.gguf.orig_shape.*`): inspect reports Wan, the task from the shapes, and the diffusers base it loads onto.
import {describe, expect, test} from '@jest/globals';
import {join} from 'node:path';
import {detectLocal} from '../../src/detect/index.js';
import {writeGguf} from '../helpers/gguf-writer.js';
import * as dit from '../helpers/fixtures/dit.js';
import {writeSafetensors} from '../helpers/safetensors-writer.js';
import {useTmpDir} from '../helpers/tmp.js';

const tmp = useTmpDir();

describe('a Wan transformer-only file', () => {
  test.each([
    ['wan2.1_t2v_1.3B_fp16.safetensors', dit.wan(1536, 16, {prefix: 'model.diffusion_model.'}), 'wan2.1-t2v-1.3b', 'text-to-video', 'Wan-AI/Wan2.1-T2V-1.3B-Diffusers'],
    ['wan2.1_i2v_480p_14B_bf16.safetensors', dit.wan(5120, 36, {imgEmb: true}), 'wan2.1-i2v-14b', 'image-to-video', 'Wan-AI/Wan2.1-I2V-14B-720P-Diffusers'],
    ['wan2.2_ti2v_5B_fp16.safetensors', dit.wan(3072, 48), 'wan2.2-ti2v-5b', 'image-to-video', 'Wan-AI/Wan2.2-TI2V-5B-Diffusers'],
  ])('%s: Wan, its task by shape, and the base it needs', async (name, tensors, variant, task, base) => {
    const path = join(tmp.dir, name);
    await writeSafetensors(path, tensors, {sparse: true});
    const r = await detectLocal(path);
    expect(r).toMatchObject({family: 'wan', kind: 'checkpoint', format: 'single-file', task, base: {family: 'wan', suggested: base}});
    expect(r.variants).toContain(variant);
    expect(r.missing).toEqual(expect.arrayContaining(['vae']));
  });

  test("city96's GGUF (arch wan, patch_embedding flattened with comfy.gguf.orig_shape): the same answer", async () => {
    const path = join(tmp.dir, 'wan2.1-t2v-1.3b-Q8_0.gguf');
    const shapes = dit.wan(1536, 16);
    await writeGguf(path, {
      'general.architecture': 'wan',
      'comfy.gguf.orig_shape.patch_embedding.weight': {array: 'i32', items: [1536, 16, 1, 2, 2]},
    }, shapes.map((s) => s.name === 'patch_embedding.weight'
      ? {name: s.name, shape: [1536, 64], type: 'F16'}
      : {name: s.name, shape: s.shape, type: s.shape.length > 1 && s.shape[s.shape.length - 1]! % 32 === 0 ? 'Q8_0' : 'F32'}));
    const r = await detectLocal(path);
    expect(r).toMatchObject({family: 'wan', format: 'gguf', precision: 'gguf-q8_0', task: 'text-to-video', base: {suggested: 'Wan-AI/Wan2.1-T2V-1.3B-Diffusers'}});
    expect(r.variants).toContain('wan2.1-t2v-1.3b');
  });
});
