// sha256 of weight files (for the PNG metadata's model hash), remembered by path + size + mtime under
// $MGEN_HOME so a multi-GB checkpoint is hashed once, not on every generate.
import {createHash} from 'node:crypto';
import {createReadStream} from 'node:fs';
import {mkdir, open, readFile, rename, stat, writeFile} from 'node:fs/promises';
import {dirname, join, resolve} from 'node:path';
import {mgenHome} from './paths.js';

type Cache = Record<string, {size: number; mtimeMs: number; sha256: string}>;

export async function sha256File(path: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return cachedHash(path, '', env, (abs) => sha256Of(abs, 0));
}

/**
 * A LoRA's short hash as A1111 writes it in "Lora hashes" (and CivitAI reads it): for safetensors the sha256 of the
 * bytes after the header (the "addnet" hash, so editing metadata keeps it), else of the whole file; 12 hex digits.
 * Safetensors is told by the file's first bytes, not its name: a pickle (or anything) named .safetensors is hashed
 * whole, and a header length past the end of the file is no header.
 */
export async function loraShortHash(path: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const full = await cachedHash(path, 'addnet:', env, async (abs) => {
    const start = await safetensorsBodyStart(abs);
    return await sha256Of(abs, start ?? 0);
  });
  return full.slice(0, 12);
}

/** Where a safetensors file's tensor data starts (8 + header length), or null when the file is not one. */
export async function safetensorsBodyStart(abs: string): Promise<number | null> {
  const fh = await open(abs, 'r');
  try {
    const {size} = await fh.stat();
    const head = Buffer.alloc(9);
    const {bytesRead} = await fh.read(head, 0, 9, 0);
    if (bytesRead < 9) return null;
    const len = head.readBigUInt64LE(0);
    // The header is JSON (an object) and lies inside the file.
    if (len < 2n || len > BigInt(size - 8) || head[8] !== 0x7b) return null;
    return 8 + Number(len);
  } finally {
    await fh.close();
  }
}

function sha256Of(abs: string, start: number): Promise<string> {
  const h = createHash('sha256');
  return new Promise<string>((res, rej) => {
    createReadStream(abs, {highWaterMark: 4 << 20, start})
      .on('data', (c) => h.update(c))
      .on('end', () => res(h.digest('hex')))
      .on('error', rej);
  });
}

/** A hash of a file remembered under $MGEN_HOME by path + size + mtime (`kind` keeps different hashes apart). */
async function cachedHash(path: string, kind: string, env: NodeJS.ProcessEnv, compute: (abs: string) => Promise<string>): Promise<string> {
  const abs = resolve(path);
  const st = await stat(abs);
  const cachePath = join(mgenHome(env), 'file-hashes.json');
  let cache: Cache = {};
  try {
    cache = JSON.parse(await readFile(cachePath, 'utf8')) as Cache;
  } catch {
    /* no cache yet */
  }
  const key = kind + abs;
  const hit = cache[key];
  if (hit && hit.size === st.size && hit.mtimeMs === st.mtimeMs) return hit.sha256;
  const sha256 = await compute(abs);
  cache[key] = {size: st.size, mtimeMs: st.mtimeMs, sha256};
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
