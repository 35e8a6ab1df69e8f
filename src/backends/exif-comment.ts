// The EXIF UserComment of a JPEG or WebP: where A1111 (and mgen's jpeg / webp output) keep the `parameters` text
// (piexif.helper.UserComment: an 8-byte charset prefix, then UNICODE = UTF-16-BE, ASCII = plain bytes).

/** The UserComment text, or null when the image has none (or is not a JPEG / WebP with EXIF). Never throws. */
export function readExifUserComment(buf: Buffer): string | null {
  try {
    const tiff = exifTiff(buf);
    if (!tiff || tiff.length < 8) return null;
    const le = tiff.toString('latin1', 0, 2) === 'II';
    const u16 = (o: number): number => (le ? tiff.readUInt16LE(o) : tiff.readUInt16BE(o));
    const u32 = (o: number): number => (le ? tiff.readUInt32LE(o) : tiff.readUInt32BE(o));
    const entry = (ifd: number, tag: number): number | null => {
      const n = u16(ifd);
      for (let i = 0; i < n && i < 1000; i++) if (u16(ifd + 2 + i * 12) === tag) return ifd + 2 + i * 12;
      return null;
    };
    const exifIfd = entry(u32(4), 0x8769);
    if (exifIfd === null) return null;
    const comment = entry(u32(exifIfd + 8), 0x9286);
    if (comment === null) return null;
    const count = u32(comment + 4);
    const start = count <= 4 ? comment + 8 : u32(comment + 8);
    if (start + count > tiff.length || count < 8) return null;
    const prefix = tiff.toString('latin1', start, start + 8);
    const body = Buffer.from(tiff.subarray(start + 8, start + count));
    if (prefix.startsWith('UNICODE')) return body.length % 2 === 0 ? body.swap16().toString('utf16le') : null;
    return body.toString(prefix.startsWith('ASCII') ? 'latin1' : 'utf8').replace(/\0+$/, '');
  } catch {
    return null;
  }
}

/** The TIFF block of the image's EXIF: a JPEG's APP1 "Exif" segment or a WebP's EXIF chunk. */
function exifTiff(buf: Buffer): Buffer | null {
  const strip = (b: Buffer): Buffer => (b.toString('latin1', 0, 6) === 'Exif\0\0' ? b.subarray(6) : b);
  if (buf[0] === 0xff && buf[1] === 0xd8) {
    let at = 2;
    while (at + 4 <= buf.length && buf[at] === 0xff) {
      const marker = buf[at + 1]!;
      const len = buf.readUInt16BE(at + 2);
      if (marker === 0xda) break;
      if (marker === 0xe1 && buf.toString('latin1', at + 4, at + 10) === 'Exif\0\0') return buf.subarray(at + 10, at + 2 + len);
      at += 2 + len;
    }
    return null;
  }
  if (buf.toString('latin1', 0, 4) === 'RIFF' && buf.toString('latin1', 8, 12) === 'WEBP') {
    let at = 12;
    while (at + 8 <= buf.length) {
      const size = buf.readUInt32LE(at + 4);
      if (buf.toString('latin1', at, at + 4) === 'EXIF') return strip(buf.subarray(at + 8, at + 8 + size));
      at += 8 + size + (size % 2);
    }
  }
  return null;
}
