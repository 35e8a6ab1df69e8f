// What a model makes (images, a video, audio), the output formats each kind takes and their file extensions:
// checked before the worker starts (exit 2 naming the valid formats), and the same table names the files.
import {FAMILIES} from '../detect/families.js';
import type {Family} from '../detect/types.js';
import {UsageError} from '../errors.js';
import {frameMultiple} from './validation.js';

export type MediaKind = 'image' | 'video' | 'audio';

export const VIDEO_FORMATS = ['mp4', 'webm', 'gif', 'webp', 'png-frames'] as const;
export const AUDIO_FORMATS = ['wav', 'flac'] as const;
export const ALL_FORMATS = ['png', ...VIDEO_FORMATS, ...AUDIO_FORMATS] as const;

const BY_KIND: Record<MediaKind, readonly string[]> = {image: ['png'], video: VIDEO_FORMATS, audio: AUDIO_FORMATS};

export function mediaKind(family: Family | null | undefined): MediaKind {
  const task = family ? FAMILIES[family]?.mainTask : undefined;
  if (task === 'text-to-video' || task === 'image-to-video') return 'video';
  if (task === 'text-to-audio') return 'audio';
  return 'image';
}

/** The format to write: the one asked for when this kind of media takes it (else exit 2), or the kind's default. */
export function outputFormat(kind: MediaKind, format: string | null | undefined, flag = '--format'): string {
  if (format === undefined || format === null) return BY_KIND[kind][0]!;
  if (!BY_KIND[kind].includes(format)) {
    throw new UsageError(`${flag} ${format} is not a${kind === 'video' ? '' : 'n'} ${kind} format; use ${BY_KIND[kind].join(', ')}`, {field: 'format'});
  }
  return format;
}

/** The file extension of a format ('' for png-frames: a folder of PNGs). */
export function formatExtension(format: string): string {
  return format === 'png-frames' ? '' : `.${format}`;
}

export const MEDIA_TYPES: Record<string, string> = {
  png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', mp4: 'video/mp4', webm: 'video/webm', gif: 'image/gif', webp: 'image/webp', 'png-frames': 'image/png',
  wav: 'audio/wav', flac: 'audio/flac',
};

/** The media flags against the family (exit 2 before any worker starts): the format, and flags of another kind. */
export function checkMediaRequest(
  r: {format?: string | null; frames?: number | null; fps?: number | null; duration?: number | null},
  family: Family | null | undefined,
  name: (field: string) => string = (f) => `--${f}`,
): void {
  if (!family || family === 'unknown') return;
  const kind = mediaKind(family);
  outputFormat(kind, r.format, name('format'));
  const label = FAMILIES[family]?.label ?? family;
  for (const field of ['frames', 'fps'] as const) {
    if (r[field] != null && kind !== 'video') throw new UsageError(`${name(field)} is for video models; ${label} makes ${kind === 'audio' ? 'audio' : 'images'}`, {field});
  }
  if (r.duration != null && kind !== 'audio') throw new UsageError(`${name('duration')} is for audio models; ${label} makes ${kind === 'video' ? 'video (use --frames and --fps)' : 'images'}`, {field: 'duration'});
}

/** The frame count nearest to `seconds` at `fps` that the family takes (k*m+1; OpenAI's `seconds`). */
export function framesForSeconds(family: Family | null | undefined, seconds: number, fps: number): number {
  const m = frameMultiple(family) ?? 1;
  return Math.max(1, Math.round((seconds * fps - 1) / m)) * m + 1;
}
