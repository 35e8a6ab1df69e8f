// Input images arrive inline only (base64 or a data: URL). URLs are never fetched and server paths never read:
// either is a 400 naming the field.
import {HttpError} from './http-error.js';

const MAGIC: Array<{ext: string; test: (b: Buffer) => boolean}> = [
  {ext: 'png', test: (b) => b.length > 8 && b.readUInt32BE(0) === 0x89504e47},
  {ext: 'jpg', test: (b) => b.length > 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff},
  {ext: 'webp', test: (b) => b.length > 12 && b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP'},
  {ext: 'gif', test: (b) => b.length > 6 && b.toString('latin1', 0, 4) === 'GIF8'},
  {ext: 'bmp', test: (b) => b.length > 2 && b.toString('latin1', 0, 2) === 'BM'},
];

export interface InlineImage {
  bytes: Buffer;
  ext: string;
}

/** Decodes one inline image; `field` names the request field in every error. */
export function decodeInlineImage(value: unknown, field: string): InlineImage {
  if (typeof value !== 'string' || value.length === 0) {
    throw new HttpError(400, 'invalid_request_error', `${field}: expected a base64 string or a data: URL`, field);
  }
  const v = value.trim();
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(v) || v.startsWith('//')) {
    throw new HttpError(400, 'invalid_request_error', `${field}: images are accepted inline only (base64 or a data: URL); URLs are not fetched`, field);
  }
  let payload = v;
  const dataUrl = /^data:([^;,]*)((?:;[^;,]*)*),/i.exec(v);
  if (dataUrl) {
    if (!/;base64/i.test(dataUrl[2] ?? '')) {
      throw new HttpError(400, 'invalid_request_error', `${field}: data: URL must be base64-encoded`, field);
    }
    payload = v.slice(dataUrl[0].length);
  } else if (v.startsWith('/') || v.startsWith('./') || v.startsWith('~') || /^[a-z]:\\/i.test(v) || /\.(png|jpe?g|webp|gif|bmp)$/i.test(v)) {
    throw new HttpError(400, 'invalid_request_error', `${field}: images are accepted inline only (base64 or a data: URL); server paths are not read`, field);
  }
  const clean = payload.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(clean) || clean.length < 8) {
    throw new HttpError(400, 'invalid_request_error', `${field}: not valid base64`, field);
  }
  const bytes = Buffer.from(clean, clean.includes('-') || clean.includes('_') ? 'base64url' : 'base64');
  const kind = MAGIC.find((m) => m.test(bytes));
  if (!kind) throw new HttpError(400, 'invalid_request_error', `${field}: not a PNG, JPEG, WebP, GIF or BMP image`, field);
  return {bytes, ext: kind.ext};
}
