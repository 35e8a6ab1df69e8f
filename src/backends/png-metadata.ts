// Reads a PNG's text chunks (tEXt, zTXt, iTXt) and its size, for `mgen generate --from image.png`.
import {inflateSync} from 'node:zlib';
import {InvalidModelError} from '../errors.js';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export interface PngInfo {
  width: number;
  height: number;
  /** keyword -> text, in file order (a repeated keyword keeps the first). */
  text: Record<string, string>;
}

export function readPngInfo(buf: Uint8Array, name = 'image'): PngInfo {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < 8 || !b.subarray(0, 8).equals(SIGNATURE)) throw new InvalidModelError(`${name} is not a PNG file`);
  const info: PngInfo = {width: 0, height: 0, text: {}};
  let off = 8;
  while (off + 8 <= b.length) {
    const len = b.readUInt32BE(off);
    const type = b.toString('latin1', off + 4, off + 8);
    const start = off + 8;
    const end = start + len;
    if (end + 4 > b.length) throw new InvalidModelError(`${name} is truncated (chunk ${type} runs past the end)`);
    const data = b.subarray(start, end);
    if (type === 'IHDR' && len >= 8) {
      info.width = data.readUInt32BE(0);
      info.height = data.readUInt32BE(4);
    } else if (type === 'tEXt' || type === 'zTXt' || type === 'iTXt') {
      const entry = parseText(type, data);
      if (entry && !(entry[0] in info.text)) info.text[entry[0]] = entry[1];
    } else if (type === 'IEND') {
      break;
    }
    off = end + 4; // skip CRC
  }
  return info;
}

function parseText(type: string, data: Buffer): [string, string] | null {
  const nul = data.indexOf(0);
  if (nul <= 0) return null;
  const keyword = data.toString('latin1', 0, nul);
  try {
    if (type === 'tEXt') return [keyword, data.toString('latin1', nul + 1)];
    if (type === 'zTXt') return [keyword, inflateSync(data.subarray(nul + 2)).toString('latin1')];
    // iTXt: keyword \0 compressionFlag compressionMethod languageTag \0 translatedKeyword \0 text (UTF-8)
    const flag = data[nul + 1];
    const langEnd = data.indexOf(0, nul + 3);
    if (langEnd < 0) return null;
    const transEnd = data.indexOf(0, langEnd + 1);
    if (transEnd < 0) return null;
    const body = data.subarray(transEnd + 1);
    return [keyword, (flag === 1 ? inflateSync(body) : body).toString('utf8')];
  } catch {
    return null;
  }
}
