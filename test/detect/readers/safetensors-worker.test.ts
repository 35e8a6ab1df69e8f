// Large safetensors headers are parsed in a worker thread, so the event loop (a server's health checks, other
// requests) keeps running while a multi-megabyte header is read. The compiled reader is used: the worker is a
// built file (dist/), which jest's TypeScript sources do not have.
import {beforeAll, describe, expect, test} from '@jest/globals';
import {existsSync} from 'node:fs';
import {writeFile} from 'node:fs/promises';
import {join, resolve} from 'node:path';
import {pathToFileURL} from 'node:url';
import {rawHeaderBytes} from '../../helpers/safetensors-writer.js';
import {useTmpDir} from '../../helpers/tmp.js';

const DIST = resolve(process.cwd(), 'dist', 'detect', 'readers');
const tmp = useTmpDir('mgen-st-worker-');
type Reader = typeof import('../../../src/detect/readers/safetensors.js');
type Sources = typeof import('../../../src/detect/readers/byte-source.js');
let reader: Reader;
let sources: Sources;

beforeAll(async () => {
  if (!existsSync(join(DIST, 'safetensors-worker.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  reader = (await import(pathToFileURL(join(DIST, 'safetensors.js')).href)) as Reader;
  sources = (await import(pathToFileURL(join(DIST, 'byte-source.js')).href)) as Sources;
});

function header(n: number, extra: Record<string, unknown> = {}): Buffer {
  const parts: string[] = ['"__metadata__":{"__proto__":"p","constructor":"c"}'];
  for (let i = 0; i < n; i++) parts.push(`"model.layers.${i}.self_attn.q_proj.weight":{"dtype":"BF16","shape":[2],"data_offsets":[${4 * i},${4 * i + 4}]}`);
  for (const [k, v] of Object.entries(extra)) parts.push(`${JSON.stringify(k)}:${JSON.stringify(v)}`);
  return Buffer.concat([rawHeaderBytes(`{${parts.join(',')}}`), Buffer.alloc(4 * n)]);
}

describe('off-thread parsing of large headers', () => {
  test('a header over the threshold is read in a worker while the event loop keeps turning', async () => {
    const n = 60_000; // ~5.4 MB of header
    const path = join(tmp.dir, 'big.safetensors');
    await writeFile(path, header(n));
    let ticks = 0;
    const iv = setInterval(() => ticks++, 1);
    const before = ticks;
    const parses = reader.offThreadStats.parses;
    const facts = await reader.readSafetensorsHeader(new sources.LocalFileSource(path, 'big.safetensors'));
    clearInterval(iv);
    expect(facts.tensors).toHaveLength(n);
    expect(facts.tensors[n - 1]).toEqual({name: `model.layers.${n - 1}.self_attn.q_proj.weight`, dtype: 'BF16', shape: [2]});
    expect(facts.metadata.constructor).toBe('c');
    expect(Object.getPrototypeOf(facts.metadata)).toBeNull();
    expect(Object.prototype.hasOwnProperty.call(facts.metadata, '__proto__')).toBe(true);
    expect(ticks).toBeGreaterThan(before);
    expect(reader.offThreadStats.parses).toBe(parses + 1);
  });

  test('a hostile header is refused in the worker with the same exit-6 error', async () => {
    const path = join(tmp.dir, 'bad.safetensors');
    await writeFile(path, header(60_000, {x: {dtype: 'constructor', shape: [1], data_offsets: [240000, 240002]}}));
    await expect(reader.readSafetensorsHeader(new sources.LocalFileSource(path, 'bad.safetensors'))).rejects.toMatchObject({exitCode: 6, message: expect.stringMatching(/unknown dtype/)});
  });

  test('below the threshold the header is parsed in place (same result)', async () => {
    const path = join(tmp.dir, 'small.safetensors');
    await writeFile(path, header(100));
    const parses = reader.offThreadStats.parses;
    const facts = await reader.readSafetensorsHeader(new sources.LocalFileSource(path, 'small.safetensors'), {offThreadBytes: 1 << 30});
    expect(facts.tensors).toHaveLength(100);
    expect(reader.offThreadStats.parses).toBe(parses);
  });
});
