// The text tags mgen writes into its video and audio files (media.py): the mgen JSON document as `comment` and the
// A1111 parameters as `description`, read back without FFmpeg for `mgen generate --from clip.mp4|sound.wav|sound.flac`:
// MP4 (moov/udta/meta/ilst ©cmt / ©des), WAV (LIST INFO ICMT), FLAC (VORBIS_COMMENT).
import {InvalidModelError} from '../errors.js';
import {readPngInfo} from './png-metadata.js';

/** keyword -> text as PNG text chunks name them (`mgen`, `parameters`), from a PNG or an mgen video/audio file. */
export function readOutputText(buf: Buffer, name: string): Record<string, string> {
  if (buf.length >= 8 && buf[0] === 0x89 && buf.toString('latin1', 1, 4) === 'PNG') return readPngInfo(buf, name).text;
  const tags = buf.toString('latin1', 4, 8) === 'ftyp' ? mp4Tags(buf) : buf.toString('latin1', 0, 4) === 'RIFF' ? wavTags(buf)
    : buf.toString('latin1', 0, 4) === 'fLaC' ? flacTags(buf) : null;
  if (tags === null) throw new InvalidModelError(`${name} is not a PNG, MP4, WAV or FLAC file`);
  const out: Record<string, string> = {};
  if (tags.comment) out.mgen = tags.comment;
  if (tags.description) out.parameters = tags.description;
  return out;
}

type Tags = {comment?: string; description?: string};

function* boxes(b: Buffer, start: number, end: number): Generator<{type: string; body: number; end: number}> {
  let off = start;
  while (off + 8 <= end) {
    let size = b.readUInt32BE(off);
    let header = 8;
    if (size === 1 && off + 16 <= end) {
      size = Number(b.readBigUInt64BE(off + 8));
      header = 16;
    } else if (size === 0) size = end - off;
    if (size < header || off + size > end) return;
    yield {type: b.toString('latin1', off + 4, off + 8), body: off + header, end: off + size};
    off += size;
  }
}

function child(b: Buffer, start: number, end: number, type: string): {body: number; end: number} | undefined {
  for (const x of boxes(b, start, end)) if (x.type === type) return x;
  return undefined;
}

function mp4Tags(b: Buffer): Tags {
  const moov = child(b, 0, b.length, 'moov');
  const udta = moov && child(b, moov.body, moov.end, 'udta');
  const meta = udta && child(b, udta.body, udta.end, 'meta');
  const ilst = meta && child(b, meta.body + 4, meta.end, 'ilst'); // meta is a full box: version + flags first
  const out: Tags = {};
  if (!ilst) return out;
  for (const item of boxes(b, ilst.body, ilst.end)) {
    const key = item.type === '\xa9cmt' ? 'comment' : item.type === '\xa9des' || item.type === 'desc' ? 'description' : null;
    const data = key && child(b, item.body, item.end, 'data');
    if (key && data && data.end - data.body >= 8) out[key] = b.toString('utf8', data.body + 8, data.end);
  }
  return out;
}

function wavTags(b: Buffer): Tags {
  const out: Tags = {};
  let off = 12;
  while (off + 8 <= b.length) {
    const id = b.toString('latin1', off, off + 4);
    const size = b.readUInt32LE(off + 4);
    const end = Math.min(b.length, off + 8 + size);
    if (id === 'LIST' && b.toString('latin1', off + 8, off + 12) === 'INFO') {
      let p = off + 12;
      while (p + 8 <= end) {
        const sub = b.toString('latin1', p, p + 4);
        const len = b.readUInt32LE(p + 4);
        const text = b.toString('utf8', p + 8, Math.min(end, p + 8 + len)).replace(/\0+$/, '');
        if (sub === 'ICMT') out.comment = text;
        if (sub === 'ISBJ') out.description = text;
        p += 8 + len + (len & 1);
      }
    }
    off += 8 + size + (size & 1);
  }
  return out;
}

function flacTags(b: Buffer): Tags {
  const out: Tags = {};
  let off = 4;
  for (;;) {
    if (off + 4 > b.length) return out;
    const last = (b[off]! & 0x80) !== 0;
    const type = b[off]! & 0x7f;
    const len = b.readUIntBE(off + 1, 3);
    if (type === 4) {
      let p = off + 4;
      const vendor = b.readUInt32LE(p);
      p += 4 + vendor;
      const n = b.readUInt32LE(p);
      p += 4;
      for (let i = 0; i < n && p + 4 <= b.length; i++) {
        const l = b.readUInt32LE(p);
        const s = b.toString('utf8', p + 4, p + 4 + l);
        const eq = s.indexOf('=');
        // FFmpeg's FLAC muxer writes `comment` as DESCRIPTION and `description` as description: tell them by content.
        const k = s.slice(0, eq).toUpperCase();
        const v = s.slice(eq + 1);
        if (k === 'COMMENT' || k === 'DESCRIPTION') out[v.startsWith('{') ? 'comment' : 'description'] = v;
        p += 4 + l;
      }
    }
    if (last) return out;
    off += 4 + len;
  }
}
