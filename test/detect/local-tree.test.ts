import {describe, expect, test, beforeAll, afterAll} from '@jest/globals';
import {join} from 'node:path';
import {mkdir, writeFile, symlink} from 'node:fs/promises';
import {LocalTree} from '../../src/detect/local-tree.js';
import {InvalidModelError, NotFoundError} from '../../src/errors.js';
import {makeTmpDir} from '../helpers/tmp.js';

let tmp: {dir: string; cleanup: () => Promise<void>};
beforeAll(async () => {
  tmp = await makeTmpDir();
  const d = join(tmp.dir, 'model');
  await mkdir(join(d, 'unet'), {recursive: true});
  await mkdir(join(d, '.git', 'objects'), {recursive: true});
  await writeFile(join(d, 'model_index.json'), '{"_class_name": "X"}');
  await writeFile(join(d, 'unet', 'config.json'), '{}');
  await writeFile(join(d, 'unet', 'w.safetensors'), Buffer.alloc(100));
  await writeFile(join(d, '.git', 'objects', 'blob'), 'x');
  await writeFile(join(d, '.hidden'), 'x');
  await symlink(join(d, 'unet', 'w.safetensors'), join(d, 'linked.safetensors'));
  await symlink(d, join(d, 'unet', 'loop'));
  await writeFile(join(tmp.dir, 'big.json'), Buffer.alloc(2000, 0x20));
});
afterAll(async () => {
  await tmp.cleanup();
});

describe('LocalTree', () => {
  test('lists a folder recursively with sizes, skipping hidden entries and symlink loops', async () => {
    const tree = await LocalTree.open(join(tmp.dir, 'model'));
    expect(tree.singleFile).toBe(false);
    const list = await tree.list();
    expect(list).toEqual([
      {path: 'linked.safetensors', size: 100},
      {path: 'model_index.json', size: 20},
      {path: 'unet/config.json', size: 2},
      {path: 'unet/w.safetensors', size: 100},
    ]);
  });

  test('a single file lists as one entry with an empty path and opens as a byte source', async () => {
    const tree = await LocalTree.open(join(tmp.dir, 'model', 'unet', 'w.safetensors'));
    expect(tree.singleFile).toBe(true);
    expect(await tree.list()).toEqual([{path: '', size: 100}]);
    const src = tree.open('');
    expect(await src.size()).toBe(100);
    expect((await src.read(90, 50)).length).toBe(10);
    expect(src.stats).toEqual({reads: 1, bytes: 10});
  });

  test('readText reads small files and refuses files over the cap', async () => {
    const tree = await LocalTree.open(tmp.dir);
    expect(await tree.readText('model/model_index.json')).toContain('_class_name');
    await expect(tree.readText('big.json', 1000)).rejects.toThrow(/too large/);
    await expect(tree.readText('missing.json')).rejects.toBeInstanceOf(NotFoundError);
  });

  test('paths that leave the tree are refused', async () => {
    const tree = await LocalTree.open(join(tmp.dir, 'model'));
    expect(() => tree.open('../big.json')).toThrow(InvalidModelError);
  });

  test('a nonexistent path is a NotFoundError (exit 3)', async () => {
    const err = await LocalTree.open(join(tmp.dir, 'does-not-exist')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as NotFoundError).exitCode).toBe(3);
  });
});
