// Reads one weight file of any supported format: sniffs the format from its first bytes (the
// extension only breaks ties) and hands the bytes already read to the right reader.
import type {ByteSource, FileFacts, FileFormat} from '../types.js';
import {FIRST_READ_BYTES, readSafetensorsHeader} from './safetensors.js';
import {readPickleFile} from './pickle.js';
import {readGgufHeader} from './gguf.js';
import {InvalidModelError} from '../../errors.js';
import {record} from '../own.js';

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

export interface WeightReadOptions {
  /**
   * Quote the first bytes (printable, escaped, at most 8 characters) when a file is not what its name says. Only for
   * a person's own local file at the CLI: serve and remote sources never echo file content (default off).
   */
  quoteContent?: boolean;
  /** A 0-byte file is an error (the file is the whole model), not a placeholder inside a folder. */
  emptyIsError?: boolean;
}

/** Reads a weight file's facts with as few reads as its format allows. */
export async function readWeightFile(src: ByteSource, path: string, opts: WeightReadOptions = {}): Promise<FileFacts> {
  const size = await src.size();
  if (size === 0) {
    if (opts.emptyIsError) throw new InvalidModelError(`${path} is empty (0 bytes), not a model file`);
    return {path, size, format: formatFromName(path), tensors: [], metadata: record<string>(), warnings: [`${path}: empty file (0 bytes): weights missing (placeholder)`]};
  }
  const prefix = await src.read(0, Math.min(size, FIRST_READ_BYTES));
  const fmt = sniffFormat(prefix, path, size);
  // Chosen by the extension alone: an HTML error page or an LFS pointer saved under a weight file's name says so.
  if ((fmt === 'pickle' || fmt === 'gguf') && sniffFormat(prefix, '', size) === 'unknown') {
    const kind = foreignKind(prefix);
    if (kind) throw new InvalidModelError(`${path} is ${kind}, not a ${fmt === 'gguf' ? 'GGUF' : 'PyTorch checkpoint'} file`);
  }
  switch (fmt) {
    case 'safetensors':
      if (!looksLikeSafetensors(prefix, size)) throw notSafetensors(path, prefix, opts);
      return readSafetensorsHeader(src, {path, prefix});
    case 'zip':
    case 'pickle':
      return readPickleFile(src, {path, prefix});
    case 'gguf':
      return readGgufHeader(src, {path, prefix});
    default:
      break;
  }
  const format: FileFormat = fmt === 'json' ? 'json' : 'other';
  return {path, size, format, tensors: [], metadata: record<string>(), warnings: [`${path}: format not recognized; tensors not read`]};
}

function formatFromName(path: string): FileFormat {
  const p = path.toLowerCase();
  if (p.endsWith('.safetensors') || p.endsWith('.sft')) return 'safetensors';
  if (p.endsWith('.gguf')) return 'gguf';
  if (PICKLE_EXTENSIONS.some((e) => p.endsWith(e))) return 'pickle';
  return 'other';
}

/**
 * False when a file named *.safetensors plainly is something else: its header JSON would start at byte 8 (after
 * optional spaces), so anything else there, or text where the length should be, is another kind of file.
 */
function looksLikeSafetensors(prefix: Uint8Array, size: number): boolean {
  if (size < 9 || prefix.length < 9) return true; // too short to tell: the reader says why it is invalid
  let i = 8;
  while (i < prefix.length && (prefix[i] === 0x20 || prefix[i] === 0x0a || prefix[i] === 0x0d || prefix[i] === 0x09)) i++;
  const jsonAt8 = i >= prefix.length || prefix[i] === 0x7b;
  const n = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength).getBigUint64(0, true);
  if (jsonAt8 && n < BigInt(size)) return true;
  return jsonAt8 && !foreignKind(prefix);
}

/** Names a format recognizable by its first bytes: what a wrong download or a renamed file usually is. */
export function foreignKind(prefix: Uint8Array): string | undefined {
  if (prefix.length >= 4 && prefix[0] === 0x50 && prefix[1] === 0x4b && prefix[2]! < 9 && prefix[3]! < 9) return 'a zip archive';
  if (prefix.length >= 4 && prefix[0] === 0x47 && prefix[1] === 0x47 && prefix[2] === 0x55 && prefix[3] === 0x46) return 'a GGUF file';
  if (prefix.length >= 2 && prefix[0] === 0x80 && prefix[1]! >= 2 && prefix[1]! <= 5) return 'a pickle';
  const head = new TextDecoder('latin1').decode(prefix.subarray(0, 256)).replace(/^\ufeff|^\u00ef\u00bb\u00bf/, '').trimStart();
  if (/^<(!doctype\s+html|html|head|body|title|meta)\b/i.test(head)) return 'an HTML page';
  if (/^<\?xml\b/i.test(head)) return 'an XML document';
  if (/^version https:\/\/git-lfs\./.test(head)) return 'a Git LFS pointer (the file itself was not downloaded)';
  if (/^\{\s*("|\})/.test(head) || /^\[\s*[[{"\d\]]/.test(head)) return 'a JSON document';
  return undefined;
}

/** Up to 8 printable ASCII characters from the start, backslash-escaped; '' when the file starts with binary. */
export function quoteStart(prefix: Uint8Array): string {
  let out = '';
  for (let i = 0; i < Math.min(8, prefix.length); i++) {
    const c = prefix[i]!;
    if (c < 0x20 || c > 0x7e) break;
    const ch = String.fromCharCode(c);
    out += ch === '"' || ch === '\\' ? `\\${ch}` : ch;
  }
  return out;
}

function notSafetensors(path: string, prefix: Uint8Array, opts: WeightReadOptions): InvalidModelError {
  const kind = foreignKind(prefix);
  if (kind) return new InvalidModelError(`${path} is ${kind}, not a safetensors file`);
  const quote = opts.quoteContent ? quoteStart(prefix) : '';
  return new InvalidModelError(`${path} is not a safetensors file${quote ? ` (it starts with "${quote}")` : ''}`);
}
