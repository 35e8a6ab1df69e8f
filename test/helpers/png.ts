// Builds small PNG files in code (solid colour, RGB) with text chunks, for metadata tests.
import * as nodeCrypto from 'node:crypto';
import {deflateSync} from 'node:zlib';
import {pngChunk as chunk} from '../../src/backends/server/openai-mask.js';

const require_crypto = () => nodeCrypto;

export type TextChunk = {type: 'tEXt' | 'zTXt' | 'iTXt'; keyword: string; text: string; compressed?: boolean};

/** An RGB PNG: grey (0x80) unless `pixel` gives each pixel's colour; `texts` go in as text chunks. */
export function buildPng(width: number, height: number, texts: TextChunk[] = [], pixel?: (x: number, y: number) => [number, number, number]): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const raw = Buffer.alloc((width * 3 + 1) * height, 0x80);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 3 + 1)] = 0; // filter: none
    if (pixel) for (let x = 0; x < width; x++) raw.set(pixel(x, y), y * (width * 3 + 1) + 1 + x * 3);
  }
  const parts = [Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr)];
  for (const t of texts) {
    const kw = Buffer.from(t.keyword + '\0', 'latin1');
    if (t.type === 'tEXt') parts.push(chunk('tEXt', Buffer.concat([kw, Buffer.from(t.text, 'latin1')])));
    else if (t.type === 'zTXt') parts.push(chunk('zTXt', Buffer.concat([kw, Buffer.from([0]), deflateSync(Buffer.from(t.text, 'latin1'))])));
    else {
      const body = t.compressed ? deflateSync(Buffer.from(t.text, 'utf8')) : Buffer.from(t.text, 'utf8');
      parts.push(chunk('iTXt', Buffer.concat([kw, Buffer.from([t.compressed ? 1 : 0, 0]), Buffer.from('en\0\0', 'latin1'), body])));
    }
  }
  parts.push(chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0)));
  return Buffer.concat(parts);
}

/** sha256 of a PNG's image data (IDAT chunks): equal pixels from the same encoder give equal digests. */
export function pixelDigest(buf: Buffer): string {
  const {createHash} = require_crypto();
  const h = createHash('sha256');
  let off = 8;
  while (off + 8 <= buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString('latin1', off + 4, off + 8);
    if (type === 'IDAT') h.update(buf.subarray(off + 8, off + 8 + len));
    off += 12 + len;
  }
  return h.digest('hex');
}
