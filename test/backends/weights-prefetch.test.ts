import {describe, expect, it} from '@jest/globals';
import {mkdirSync, symlinkSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import {prefetchTargets, prefetchWeights} from '../../src/backends/weights-prefetch.js';
import {useTmpDir} from '../helpers/tmp.js';

const tmp = useTmpDir('mgen-prefetch-');

function folder(): string {
  const root = join(tmp.dir, `m-${Math.random().toString(36).slice(2)}`);
  mkdirSync(join(root, 'unet'), {recursive: true});
  mkdirSync(join(root, 'vae'), {recursive: true});
  mkdirSync(join(root, 'blobs'), {recursive: true});
  writeFileSync(join(root, 'model_index.json'), '{}');
  writeFileSync(join(root, 'unet', 'diffusion_pytorch_model.safetensors'), Buffer.alloc(3000));
  writeFileSync(join(root, 'unet', 'diffusion_pytorch_model.fp16.safetensors'), Buffer.alloc(1500));
  // A variant with no plain sibling is the only copy: it is read.
  writeFileSync(join(root, 'blobs', 'abc'), Buffer.alloc(700));
  symlinkSync(join(root, 'blobs', 'abc'), join(root, 'vae', 'diffusion_pytorch_model.fp16.safetensors'));
  return root;
}

describe('prefetchTargets', () => {
  it('lists the weight files a load reads, following cache links and skipping shadowed variants and configs', async () => {
    const root = folder();
    const targets = await prefetchTargets([root]);
    expect(targets.map((t) => [t.path.slice(root.length + 1), t.size])).toEqual([
      ['unet/diffusion_pytorch_model.safetensors', 3000],
      ['vae/diffusion_pytorch_model.fp16.safetensors', 700],
    ]);
  });

  it('takes a single file as it is and ignores paths that do not exist', async () => {
    const file = join(tmp.dir, 'one.gguf');
    writeFileSync(file, Buffer.alloc(10));
    expect(await prefetchTargets([file, join(tmp.dir, 'missing.safetensors'), file])).toEqual([{path: file, size: 10}]);
  });
});

describe('prefetchWeights', () => {
  it('reads every byte of every target', async () => {
    const targets = await prefetchTargets([folder()]);
    const r = await prefetchWeights(targets);
    expect(r).toMatchObject({files: 2, bytes: 3700});
    expect(r.stopped).toBeUndefined();
  });

  it('reads nothing when the files would not fit in the memory budget', async () => {
    const r = await prefetchWeights(await prefetchTargets([folder()]), {budget: 1000});
    expect(r).toMatchObject({files: 0, bytes: 0, stopped: 'memory'});
  });

  it('stops once the blocks after the first show the files are cached already', async () => {
    // The first 8 MiB block only starts the clock (opening the file and the buffer's first touch are not reading).
    const file = join(tmp.dir, 'three-blocks.safetensors');
    writeFileSync(file, Buffer.alloc(3 * 8 * 1024 * 1024 + 1));
    const r = await prefetchWeights(await prefetchTargets([file]), {probeBytes: 8 * 1024 * 1024, cachedBytesPerS: 0});
    expect(r.stopped).toBe('cached');
    expect(r.bytes).toBe(2 * 8 * 1024 * 1024);
    // Slower than the threshold: the probe decides once, and the rest is read.
    const all = await prefetchWeights(await prefetchTargets([file]), {probeBytes: 8 * 1024 * 1024, cachedBytesPerS: 1e15});
    expect(all).toMatchObject({files: 1, bytes: 3 * 8 * 1024 * 1024 + 1});
    expect(all.stopped).toBeUndefined();
  });

  it('stops when aborted and when a file vanished', async () => {
    const stop = new AbortController();
    stop.abort();
    expect((await prefetchWeights(await prefetchTargets([folder()]), {signal: stop.signal})).stopped).toBe('aborted');
    expect((await prefetchWeights([{path: join(tmp.dir, 'gone.safetensors'), size: 5}])).stopped).toBe('error');
  });
});
