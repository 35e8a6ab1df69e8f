// Reads one weight file of any supported format: sniffs the format from its first bytes (the
// extension only breaks ties) and hands the bytes already read to the right reader.
import type {ByteSource, FileFacts, FileFormat} from '../types.js';
import {FIRST_READ_BYTES, readSafetensorsHeader} from './safetensors.js';

export const WEIGHT_EXTENSIONS = ['.safetensors', '.sft', '.ckpt', '.pt', '.pth', '.bin', '.gguf', '.pkl', '.pickle'];
export const PICKLE_EXTENSIONS = ['.ckpt', '.pt', '.pth', '.bin', '.pkl', '.pickle'];

export function isWeightFileName(path: string): boolean {
  const p = path.toLowerCase();
  return WEIGHT_EXTENSIONS.some((e) => p.endsWith(e));
}

export type SniffedFormat = 'safetensors' | 'zip' | 'pickle' | 'gguf' | 'json' | 'empty' | 'unknown';

/** Decides the format from the first bytes, falling back to the extension. */
export function sniffFormat(prefix: Uint8Array, path: string, size: number): SniffedFormat {
  const p = path.toLowerCase();
  if (size === 0) return 'empty';
  if (prefix.length >= 4 && prefix[0] === 0x50 && prefix[1] === 0x4b && (prefix[2] === 3 || prefix[2] === 5) && (prefix[3] === 4 || prefix[3] === 6)) return 'zip';
  if (prefix.length >= 4 && prefix[0] === 0x47 && prefix[1] === 0x47 && prefix[2] === 0x55 && prefix[3] === 0x46) return 'gguf';
  if (prefix.length >= 9) {
    const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
    const n = view.getBigUint64(0, true);
    if (n > 1n && n < 100n * 1024n * 1024n && prefix[8] === 0x7b /* { */) return 'safetensors';
  }
  if (prefix.length >= 2 && prefix[0] === 0x80 && prefix[1]! >= 2 && prefix[1]! <= 5) return 'pickle';
  if (p.endsWith('.safetensors') || p.endsWith('.sft')) return 'safetensors';
  if (p.endsWith('.gguf')) return 'gguf';
  if (PICKLE_EXTENSIONS.some((e) => p.endsWith(e))) return 'pickle';
  if (p.endsWith('.json')) return 'json';
  return 'unknown';
}

/** Reads a weight file's facts with as few reads as its format allows. */
export async function readWeightFile(src: ByteSource, path: string): Promise<FileFacts> {
  const size = await src.size();
  if (size === 0) {
    return {path, size, format: formatFromName(path), tensors: [], metadata: {}, warnings: [`${path}: empty file (0 bytes): weights missing (placeholder)`]};
  }
  const prefix = await src.read(0, Math.min(size, FIRST_READ_BYTES));
  const fmt = sniffFormat(prefix, path, size);
  switch (fmt) {
    case 'safetensors':
      return readSafetensorsHeader(src, {path, prefix});
    default:
      break;
  }
  const format: FileFormat = fmt === 'zip' ? 'pickle' : fmt === 'json' ? 'json' : fmt === 'pickle' || fmt === 'gguf' ? fmt : 'other';
  return {path, size, format, tensors: [], metadata: {}, warnings: [`${path}: format not recognized; tensors not read`]};
}

function formatFromName(path: string): FileFormat {
  const p = path.toLowerCase();
  if (p.endsWith('.safetensors') || p.endsWith('.sft')) return 'safetensors';
  if (p.endsWith('.gguf')) return 'gguf';
  if (PICKLE_EXTENSIONS.some((e) => p.endsWith(e))) return 'pickle';
  return 'other';
}
