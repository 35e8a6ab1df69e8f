// OpenAI masks say "edit here" with transparency (alpha 0); diffusers inpainting wants a greyscale mask that is
// white where to repaint. This reads a PNG's alpha channel (8-bit, non-interlaced; the PNGs image tools write)
// and writes the inpainting mask as a greyscale PNG. No other image format has the alpha OpenAI's rule needs.
import {crc32, deflateSync, inflateSync} from 'node:zlib';
import {HttpError} from './http-error.js';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export interface PngAlpha {
  width: number;
  height: number;
  /** One byte per pixel; null when the PNG has no transparency at all. */
  alpha: Uint8Array | null;
}

const bad = (field: string, message: string): HttpError => new HttpError(400, 'invalid_request_error', `${field}: ${message}`, field);

/** Width and height of a PNG (from IHDR), or null for anything else. */
export function pngSize(bytes: Buffer): {width: number; height: number} | null {
  if (bytes.length < 24 || !bytes.subarray(0, 8).equals(SIGNATURE) || bytes.toString('latin1', 12, 16) !== 'IHDR') return null;
  return {width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20)};
}

/** The alpha channel of a PNG (8-bit depth, or palette with tRNS); `field` names the request field in errors. */
export function readPngAlpha(bytes: Buffer, field: string): PngAlpha {
  const size = pngSize(bytes);
  if (!size) throw bad(field, 'must be a PNG (transparent areas mark what to edit)');
  const {width, height} = size;
  const depth = bytes[24];
  const colour = bytes[25];
  const interlace = bytes[28];
  if (width * height > 64 * 1024 * 1024) throw bad(field, `${width}x${height} is too large`);
  const idat: Buffer[] = [];
  let trns: Buffer | null = null;
  for (let off = 8; off + 8 <= bytes.length; ) {
    const len = bytes.readUInt32BE(off);
    const type = bytes.toString('latin1', off + 4, off + 8);
    const data = bytes.subarray(off + 8, off + 8 + len);
    if (type === 'IDAT') idat.push(data);
    else if (type === 'tRNS') trns = data;
    else if (type === 'IEND') break;
    off += 12 + len;
  }
  const channels: Record<number, number> = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4};
  const ch = channels[colour ?? -1];
  if (ch === undefined) throw bad(field, 'not a valid PNG');
  const hasAlpha = colour === 4 || colour === 6 || (colour === 3 && trns !== null);
  if (!hasAlpha) return {width, height, alpha: null};
  if (depth !== 8 || interlace !== 0) throw bad(field, 'PNG with transparency must be 8-bit and not interlaced');
  let raw: Buffer;
  try {
    raw = inflateSync(Buffer.concat(idat));
  } catch {
    throw bad(field, 'not a valid PNG (image data does not decompress)');
  }
  const stride = width * ch;
  if (raw.length < (stride + 1) * height) throw bad(field, 'not a valid PNG (image data is short)');
  const pixels = unfilter(raw, stride, height, ch);
  const alpha = new Uint8Array(width * height);
  for (let i = 0; i < width * height; i++) {
    if (colour === 3) alpha[i] = trns![pixels[i]!] ?? 255;
    else alpha[i] = pixels[i * ch + ch - 1]!;
  }
  return {width, height, alpha};
}

function unfilter(raw: Buffer, stride: number, height: number, bpp: number): Uint8Array {
  const out = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const src = y * (stride + 1) + 1;
    const row = y * stride;
    const prev = row - stride;
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? out[row + x - bpp]! : 0;
      const b = y > 0 ? out[prev + x]! : 0;
      const c = x >= bpp && y > 0 ? out[prev + x - bpp]! : 0;
      const v = raw[src + x]!;
      let p: number;
      switch (filter) {
        case 0: p = v; break;
        case 1: p = v + a; break;
        case 2: p = v + b; break;
        case 3: p = v + ((a + b) >> 1); break;
        case 4: {
          const pa = Math.abs(b - c);
          const pb = Math.abs(a - c);
          const pc = Math.abs(a + b - 2 * c);
          p = v + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
          break;
        }
        default: throw new HttpError(400, 'invalid_request_error', 'not a valid PNG (unknown row filter)');
      }
      out[row + x] = p & 0xff;
    }
  }
  return out;
}

/** One PNG chunk: length, type, data, CRC. */
export function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td) >>> 0);
  return Buffer.concat([len, td, crc]);
}

/** A greyscale PNG that is white (repaint) where the alpha is 0 and black (keep) elsewhere. */
export function inpaintMaskPng(a: PngAlpha): Buffer {
  const {width, height} = a;
  const raw = Buffer.alloc((width + 1) * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) raw[y * (width + 1) + 1 + x] = a.alpha && a.alpha[y * width + x] === 0 ? 255 : 0;
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 0;
  return Buffer.concat([SIGNATURE, pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(raw)), pngChunk('IEND', Buffer.alloc(0))]);
}

/** True when some pixel is fully transparent. */
export function hasTransparentPixel(a: PngAlpha): boolean {
  return a.alpha !== null && a.alpha.includes(0);
}
