// RGBA PNGs built in code (OpenAI edit inputs and masks: transparency marks what to edit). Rows past the first use
// the `up` filter, so readers must unfilter.
import {deflateSync} from 'node:zlib';
import {pngChunk as chunk} from '../../src/backends/server/openai-mask.js';

/** A w x h RGBA PNG with a colour gradient and alpha(x, y) per pixel. */
export function rgbaPng(w: number, h: number, alpha: (x: number, y: number) => number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 6;
  const stride = w * 4;
  const px = Buffer.alloc(stride * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) px.set([(x * 4) & 0xff, (y * 4) & 0xff, 100, alpha(x, y)], y * stride + x * 4);
  const raw = Buffer.alloc((stride + 1) * h);
  for (let y = 0; y < h; y++) {
    raw[y * (stride + 1)] = y === 0 ? 0 : 2;
    for (let i = 0; i < stride; i++) raw[y * (stride + 1) + 1 + i] = (px[y * stride + i]! - (y ? px[(y - 1) * stride + i]! : 0)) & 0xff;
  }
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** Opaque everywhere but a transparent top-left quarter (the area an OpenAI mask asks to edit). */
export const topLeftHole = (w: number, h: number) => (x: number, y: number): number => (x < w / 2 && y < h / 2 ? 0 : 255);
