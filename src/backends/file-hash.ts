// sha256 of weight files (for the PNG metadata's model hash), remembered by path + size + mtime under
// $MGEN_HOME so a multi-GB checkpoint is hashed once, not on every generate.
import {createHash} from 'node:crypto';
import {createReadStream} from 'node:fs';
import {mkdir, readFile, rename, stat, writeFile} from 'node:fs/promises';
import {dirname, join, resolve} from 'node:path';
import {mgenHome} from './paths.js';

type Cache = Record<string, {size: number; mtimeMs: number; sha256: string}>;

export async function sha256File(path: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const abs = resolve(path);
  const st = await stat(abs);
  const cachePath = join(mgenHome(env), 'file-hashes.json');
  let cache: Cache = {};
  try {
    cache = JSON.parse(await readFile(cachePath, 'utf8')) as Cache;
  } catch {
    /* no cache yet */
  }
  const hit = cache[abs];
  if (hit && hit.size === st.size && hit.mtimeMs === st.mtimeMs) return hit.sha256;
  const h = createHash('sha256');
  await new Promise<void>((res, rej) => {
    createReadStream(abs, {highWaterMark: 4 << 20})
      .on('data', (c) => h.update(c))
      .on('end', () => res())
      .on('error', rej);
  });
  const sha256 = h.digest('hex');
  cache[abs] = {size: st.size, mtimeMs: st.mtimeMs, sha256};
  try {
    await mkdir(dirname(cachePath), {recursive: true});
    const tmp = `${cachePath}.tmp-${process.pid}`;
    await writeFile(tmp, JSON.stringify(cache));
    await rename(tmp, cachePath);
  } catch {
    /* the cache is an optimisation */
  }
  return sha256;
}
