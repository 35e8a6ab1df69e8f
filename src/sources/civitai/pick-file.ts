// Which file of a CivitAI version: --file when given, else the primary file, preferring safetensors over
// pickle and the smallest full-precision-equivalent (pruned fp16); several equally good -> ask or fail.
import {NotFoundError, UsageError} from '../../errors.js';
import type {CivitaiFile, CivitaiVersion} from './client.js';

const MODEL_TYPES = new Set(['Model', 'Pruned Model']);

export function isSafetensors(f: CivitaiFile): boolean {
  return f.metadata?.format === 'SafeTensor' || /\.(safetensors|sft)$/i.test(f.name);
}

function describe(f: CivitaiFile): string {
  const m = f.metadata ?? {};
  return `${f.name} (id ${f.id}${m.format ? `, ${m.format}` : ''}${m.size ? `, ${m.size}` : ''}${m.fp ? `, ${m.fp}` : ''}, ${(f.sizeKB / 1024).toFixed(1)} MB)`;
}

function score(f: CivitaiFile): number {
  let s = 0;
  if (isSafetensors(f)) s += 100;
  if (f.metadata?.size === 'pruned' || f.type === 'Pruned Model') s += 10;
  if (f.metadata?.fp === 'fp16' || f.metadata?.fp === 'bf16') s += 5;
  return s;
}

export interface PickResult {
  file?: CivitaiFile;
  choices?: CivitaiFile[];
}

/** `wanted`: a file name, a file id, or a shorthand (safetensors, pickle, fp16, fp32, pruned, full). */
export function pickCivitaiFile(version: CivitaiVersion, wanted?: string): PickResult {
  const files = version.files;
  if (files.length === 0) throw new NotFoundError(`civitai version ${version.id} has no files`);
  if (wanted) {
    const exact = files.find((f) => f.name === wanted || String(f.id) === wanted);
    if (exact) return {file: exact};
    const w = wanted.toLowerCase();
    const short = files.filter((f) => MODEL_TYPES.has(f.type ?? 'Model') && (
      (w === 'safetensors' && isSafetensors(f)) || ((w === 'pickle' || w === 'ckpt') && !isSafetensors(f)) ||
      f.metadata?.fp === w || f.metadata?.size === w));
    const shortSafe = short.length > 1 && short.some(isSafetensors) ? short.filter(isSafetensors) : short;
    if (shortSafe.length === 1) return {file: shortSafe[0]};
    if (shortSafe.length > 1) return {choices: shortSafe};
    throw new NotFoundError(`civitai version ${version.id} has no file '${wanted}'`, {hint: `files: ${files.map(describe).join('; ')}`});
  }
  const models = files.filter((f) => MODEL_TYPES.has(f.type ?? 'Model'));
  const pool = models.length > 0 ? models : files;
  const primary = pool.find((f) => f.primary);
  if (primary && (isSafetensors(primary) || !pool.some(isSafetensors))) return {file: primary};
  const best = Math.max(...pool.map(score));
  let top = pool.filter((f) => score(f) === best);
  if (top.length > 1) {
    const smallest = Math.min(...top.map((f) => f.sizeKB));
    const bySize = top.filter((f) => f.sizeKB === smallest);
    if (bySize.length === 1 && top.every((f) => f.metadata?.fp === top[0]!.metadata?.fp)) top = bySize;
  }
  return top.length === 1 ? {file: top[0]} : {choices: top};
}

export async function chooseCivitaiFile(version: CivitaiVersion, wanted: string | undefined, ask?: (choices: CivitaiFile[]) => Promise<CivitaiFile>): Promise<CivitaiFile> {
  const r = pickCivitaiFile(version, wanted);
  if (r.file) return r.file;
  const choices = r.choices!;
  if (ask) return ask(choices);
  throw new UsageError(`civitai version ${version.id} has several files that fit: ${choices.map(describe).join('; ')}`, {hint: 'pick one with --file <name or id>'});
}

export function describeCivitaiFile(f: CivitaiFile): string {
  return describe(f);
}
