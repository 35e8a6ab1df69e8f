import {describe, expect, test} from '@jest/globals';
import {deflateRawSync} from 'node:zlib';
import {listZip, readZipEntry} from '../../../src/detect/readers/zip.js';
import {BufferSource} from '../../../src/detect/readers/byte-source.js';
import {InvalidModelError} from '../../../src/errors.js';
import {buildZip} from '../../helpers/pickle-writer.js';

describe('zip listing over a byte source', () => {
  test('lists entries and reads a stored entry without loading the archive', async () => {
    const big = new Uint8Array(3 * 1024 * 1024);
    const zip = buildZip([['archive/data.pkl', Buffer.from('hello')], ['archive/data/0', big]]);
    const src = new BufferSource(zip, 'a.pt');
    const {entries} = await listZip(src);
    expect(entries.map((e) => [e.name, e.size, e.method])).toEqual([['archive/data.pkl', 5, 0], ['archive/data/0', big.length, 0]]);
    const data = await readZipEntry(src, entries[0]!, 1024);
    expect(Buffer.from(data).toString()).toBe('hello');
    expect(src.stats.bytes).toBeLessThan(200 * 1024);
  });

  test('zip64 records give sizes and offsets', async () => {
    const zip = buildZip([['a', Buffer.from('abc')], ['b', Buffer.from('defg')]], {zip64: true});
    const src = new BufferSource(zip, 'z64.pt');
    const {entries} = await listZip(src);
    expect(entries.map((e) => [e.name, e.size])).toEqual([['a', 3], ['b', 4]]);
    expect(Buffer.from(await readZipEntry(src, entries[1]!, 100)).toString()).toBe('defg');
  });

  test('a deflated entry is inflated within the size limit', async () => {
    const zip = Buffer.from(buildZip([['x.pkl', Buffer.from('payload-payload-payload')]]));
    // Rewrite the single entry as deflated: build by hand from the stored one.
    const raw = deflateRawSync(Buffer.from('payload-payload-payload'));
    const nameLen = 5;
    const local = Buffer.from(zip.subarray(0, 30 + nameLen));
    local.writeUInt16LE(8, 8);
    local.writeUInt32LE(raw.length, 18);
    const cdAt = zip.readUInt32LE(zip.length - 6);
    const cd = Buffer.from(zip.subarray(cdAt, cdAt + 46 + nameLen));
    cd.writeUInt16LE(8, 10);
    cd.writeUInt32LE(raw.length, 20);
    const eocd = Buffer.from(zip.subarray(zip.length - 22));
    eocd.writeUInt32LE(30 + nameLen + raw.length, 16);
    const src = new BufferSource(Buffer.concat([local, raw, cd, eocd]), 'deflate.zip');
    const {entries} = await listZip(src);
    expect(entries[0]).toMatchObject({name: 'x.pkl', method: 8, size: 23});
    expect(Buffer.from(await readZipEntry(src, entries[0]!, 1000)).toString()).toBe('payload-payload-payload');
    await expect(readZipEntry(src, entries[0]!, 10)).rejects.toThrow(/larger than the 10-byte limit/);
  });

  test.each([
    ['too small', new Uint8Array(10), /too small/],
    ['no end record', new Uint8Array(100), /no end-of-central-directory record/],
  ])('%s is an InvalidModelError', async (_l, bytes, reason) => {
    const err = await listZip(new BufferSource(bytes, 'bad.zip')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidModelError);
    expect((err as Error).message).toMatch(/bad\.zip: invalid zip archive/);
    expect((err as Error).message).toMatch(reason);
  });

  test('a central directory beyond the end of the file is refused', async () => {
    const zip = Buffer.from(buildZip([['a', Buffer.from('abc')]]));
    zip.writeUInt32LE(0x7fffffff, zip.length - 6);
    await expect(listZip(new BufferSource(zip, 'c.zip'))).rejects.toThrow(/central directory goes beyond the end of the file/);
  });

  test('an entry whose data runs past the end of the file is refused', async () => {
    const zip = Buffer.from(buildZip([['a', Buffer.from('abc')]]));
    const cdAt = zip.readUInt32LE(zip.length - 6);
    zip.writeUInt32LE(1_000_000, cdAt + 20);
    const src = new BufferSource(zip, 'd.zip');
    const {entries} = await listZip(src);
    await expect(readZipEntry(src, entries[0]!, 10_000_000)).rejects.toThrow(/data goes beyond the end of the file/);
  });
});
