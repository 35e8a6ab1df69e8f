// What a family makes, the formats it takes and their file names, the media flags checked before any worker starts,
// and the mgen document read back from MP4 / WAV / FLAC tags (the layouts FFmpeg's muxers write, built here by hand).
import {describe, expect, it} from '@jest/globals';
import {readOutputText} from '../../src/backends/media-metadata.js';
import {checkMediaRequest, formatExtension, mediaKind, outputFormat} from '../../src/backends/media-output.js';
import {resolveOutputPaths} from '../../src/backends/output-paths.js';
import {validateRequest, flagName} from '../../src/backends/validation.js';

describe('media kinds and formats', () => {
  it('video families make video (mp4 by default), Stable Audio audio (wav), the rest images (png)', () => {
    for (const f of ['wan', 'cogvideox', 'ltxv', 'hunyuanvideo'] as const) expect(mediaKind(f)).toBe('video');
    expect(mediaKind('stable-audio')).toBe('audio');
    expect(mediaKind('sdxl')).toBe('image');
    expect(outputFormat('video', null)).toBe('mp4');
    expect(outputFormat('audio', undefined)).toBe('wav');
    expect(outputFormat('audio', 'flac')).toBe('flac');
    expect(formatExtension('png-frames')).toBe('');
  });

  it('a format, frames, fps or duration the family cannot take: exit 2 naming what it can', () => {
    expect(() => checkMediaRequest({format: 'gif'}, 'stable-audio')).toThrow('--format gif is not an audio format; use wav, flac');
    expect(() => checkMediaRequest({format: 'mp4'}, 'sd1')).toThrow('--format mp4 is not an image format; use png');
    expect(() => checkMediaRequest({frames: 9}, 'flux')).toThrow('--frames is for video models; FLUX.1 makes images');
    expect(() => checkMediaRequest({duration: 3}, 'wan')).toThrow('--duration is for audio models; Wan makes video (use --frames and --fps)');
    expect(() => checkMediaRequest({format: 'webm', frames: 33, fps: 16}, 'wan')).not.toThrow();
    expect(() => checkMediaRequest({format: 'anything'}, null)).not.toThrow(); // unknown family: the worker decides
  });

  it('frame counts per family: Wan/CogVideoX/HunyuanVideo 4k+1, LTX-Video 8k+1, with the nearest valid values', () => {
    expect(() => validateRequest({frames: 32}, {family: 'wan', name: flagName})).toThrow('--frames 32 must be 4k+1 frames for wan (try 33)');
    expect(() => validateRequest({frames: 31}, {family: 'cogvideox', name: flagName})).toThrow('--frames 31 must be 4k+1 frames for cogvideox (try 29 or 33)');
    expect(() => validateRequest({frames: 100}, {family: 'ltxv', name: flagName})).toThrow('--frames 100 must be 8k+1 frames for ltxv (try 97)');
    expect(() => validateRequest({frames: 97, width: 704, height: 480}, {family: 'ltxv', name: flagName})).not.toThrow();
    expect(() => validateRequest({frames: 12}, {family: 'sd1'})).not.toThrow(); // images: checkMediaRequest refuses it
  });

  it('--out patterns take the format\'s extension (replacing another media extension), png-frames a folder name', () => {
    const o = {seed: 7, numImages: 1, model: 'builtin:tiny-wan', cwd: '/w', exists: () => false, isDir: () => false};
    expect(resolveOutputPaths('clip-{seed}', {...o, ext: '.mp4'})).toEqual(['/w/clip-7.mp4']);
    expect(resolveOutputPaths('clip.png', {...o, ext: '.webm'})).toEqual(['/w/clip.webm']);
    expect(resolveOutputPaths('clip.mp4', {...o, ext: '.mp4'})).toEqual(['/w/clip.mp4']);
    expect(resolveOutputPaths('frames.mp4', {...o, ext: ''})).toEqual(['/w/frames']);
    expect(resolveOutputPaths('s', {...o, numImages: 2, ext: '.wav'})).toEqual(['/w/s-0.wav', '/w/s-1.wav']);
    expect(resolveOutputPaths(undefined, {...o, now: new Date(2026, 0, 2, 3, 4, 5), ext: '.flac'})).toEqual(['/w/mgen-20260102-030405-7-0.flac']);
  });
});

const DOC = JSON.stringify({schema: 1, model: 'builtin:tiny-wan', request: {prompt: 'ünïcode', frames: 9}});
const PARAMS = 'a cube\nSteps: 2, Seed: 1';

function box(type: string, ...children: Buffer[]): Buffer {
  const body = Buffer.concat(children);
  const head = Buffer.alloc(8);
  head.writeUInt32BE(8 + body.length);
  head.write(type, 4, 'latin1');
  return Buffer.concat([head, body]);
}
const dataBox = (text: string) => box('data', Buffer.from([0, 0, 0, 1, 0, 0, 0, 0]), Buffer.from(text, 'utf8'));

function chunk(id: string, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.write(id, 0, 'latin1');
  head.writeUInt32LE(body.length, 4);
  return Buffer.concat([head, body, body.length % 2 ? Buffer.alloc(1) : Buffer.alloc(0)]);
}

function vorbis(entries: string[]): Buffer {
  const parts = [Buffer.from([7, 0, 0, 0]), Buffer.from('Lavf62\0'.slice(0, 7))];
  const n = Buffer.alloc(4);
  n.writeUInt32LE(entries.length);
  parts.push(n);
  for (const e of entries) {
    const b = Buffer.from(e, 'utf8');
    const l = Buffer.alloc(4);
    l.writeUInt32LE(b.length);
    parts.push(l, b);
  }
  return Buffer.concat(parts);
}

describe('the mgen document inside video and audio files (--from)', () => {
  it('MP4: moov/udta/meta/ilst ©cmt (the document) and ©des (A1111 parameters)', () => {
    const ilst = box('ilst', box('\xa9too', dataBox('Lavf')), box('\xa9cmt', dataBox(DOC)), box('\xa9des', dataBox(PARAMS)));
    const meta = box('meta', Buffer.alloc(4), box('hdlr', Buffer.alloc(25)), ilst);
    const mp4 = Buffer.concat([box('ftyp', Buffer.from('isom\0\0\x02\0isom', 'latin1')), box('mdat', Buffer.alloc(64)), box('moov', box('mvhd', Buffer.alloc(100)), box('udta', meta))]);
    expect(readOutputText(mp4, 'clip.mp4')).toEqual({mgen: DOC, parameters: PARAMS});
  });

  it('WAV: the LIST INFO ICMT chunk after fmt, odd lengths padded', () => {
    const info = Buffer.concat([Buffer.from('INFO', 'latin1'), chunk('ISFT', Buffer.from('Lavf\0')), chunk('ICMT', Buffer.from(DOC + '\0', 'utf8'))]);
    const body = Buffer.concat([Buffer.from('WAVE', 'latin1'), chunk('fmt ', Buffer.alloc(16)), chunk('LIST', info), chunk('data', Buffer.alloc(8))]);
    const wav = Buffer.concat([Buffer.from('RIFF', 'latin1'), Buffer.from([0, 0, 0, 0]), body]);
    expect(readOutputText(wav, 'sound.wav')).toEqual({mgen: DOC});
  });

  it('FLAC: the Vorbis comment block, where FFmpeg writes comment as DESCRIPTION and description as description', () => {
    const streaminfo = Buffer.concat([Buffer.from([0, 0, 0, 34]), Buffer.alloc(34)]);
    const comment = vorbis([`DESCRIPTION=${DOC}`, `description=${PARAMS}`, 'encoder=Lavf']);
    const head = Buffer.from([0x84, 0, 0, 0]);
    head.writeUIntBE(comment.length, 1, 3);
    const flac = Buffer.concat([Buffer.from('fLaC', 'latin1'), streaminfo, head, comment, Buffer.alloc(16)]);
    expect(readOutputText(flac, 'sound.flac')).toEqual({mgen: DOC, parameters: PARAMS});
  });

  it('anything else: one line naming the file (exit 6)', () => {
    expect(() => readOutputText(Buffer.from('GIF89a....'), 'x.gif')).toThrow('x.gif is not a PNG, MP4, WAV or FLAC file');
  });
});
