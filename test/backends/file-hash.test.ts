import {describe, expect, it} from '@jest/globals';
import {createHash} from 'node:crypto';
import {utimesSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import {loraShortHash, sha256File} from '../../src/backends/file-hash.js';
import {useTmpDir} from '../helpers/tmp.js';

const tmp = useTmpDir();
const env = () => ({MGEN_HOME: join(tmp.dir, 'home')});
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** A one-tensor safetensors file with the given metadata and tensor bytes. */
function st(path: string, metadata: Record<string, string>, data: Buffer): void {
  const header = Buffer.from(JSON.stringify({__metadata__: metadata, w: {dtype: 'U8', shape: [data.length], data_offsets: [0, data.length]}}));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  writeFileSync(path, Buffer.concat([len, header, data]));
}

describe('file hashes', () => {
  it('sha256File hashes the whole file and remembers it by size and mtime', async () => {
    const f = join(tmp.dir, 'w.bin');
    writeFileSync(f, 'one');
    expect(await sha256File(f, env())).toBe(sha('one'));
    writeFileSync(f, 'two');
    utimesSync(f, new Date(), new Date(Date.now() + 5000));
    expect(await sha256File(f, env())).toBe(sha('two'));
  });

  it('loraShortHash is A1111\'s addnet hash: the tensor bytes after the safetensors header, 12 hex digits', async () => {
    const a = join(tmp.dir, 'a.safetensors');
    const b = join(tmp.dir, 'b.safetensors');
    const c = join(tmp.dir, 'c.safetensors');
    const weights = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]);
    st(a, {ss_network_dim: '4'}, weights);
    st(b, {ss_network_dim: '4', ss_output_name: 'renamed'}, weights);
    st(c, {ss_network_dim: '4'}, Buffer.from([1, 2, 3, 4, 5, 6, 7, 9]));
    const ha = await loraShortHash(a, env());
    expect(ha).toBe(sha(weights).slice(0, 12));
    expect(ha).not.toBe((await sha256File(a, env())).slice(0, 12)); // not the whole file's hash
    expect(await loraShortHash(b, env())).toBe(ha); // a metadata edit keeps it
    expect(await loraShortHash(c, env())).not.toBe(ha); // other weights change it
    const pt = join(tmp.dir, 'x.pt');
    writeFileSync(pt, 'pickled');
    expect(await loraShortHash(pt, env())).toBe(sha('pickled').slice(0, 12));
  });

  it.each([
    ['a protocol-2 pickle', Buffer.concat([Buffer.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46]), Buffer.from('0123456789abcdef')])],
    ['a torch zip', Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), Buffer.from([0, 0, 8, 8]), Buffer.from('payload')])],
    ['all 0xff', Buffer.concat([Buffer.alloc(8, 0xff), Buffer.from('rest')])],
    ['a header length past the end of the file', Buffer.concat([Buffer.from([64, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{"a":1}')])],
    ['a short file', Buffer.from('abc')],
  ])('loraShortHash of %s named .safetensors hashes the whole file (chosen by content, never a crash)', async (_what, bytes) => {
    const f = join(tmp.dir, 'lora.safetensors');
    writeFileSync(f, bytes);
    await expect(loraShortHash(f, env())).resolves.toBe(sha(bytes).slice(0, 12));
  });
});
