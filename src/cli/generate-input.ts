// Turns `mgen generate` flags (and a --from PNG's request) into a GenerateInput; flags win.
import {existsSync} from 'node:fs';
import {resolve} from 'node:path';
import {NotFoundError, UsageError} from '../errors.js';
import type {GenerateInput} from '../backends/session.js';

export interface GenerateFlagValues {
  'negative-prompt'?: string;
  width?: number;
  height?: number;
  steps?: number;
  guidance?: string;
  seed?: string;
  'num-images'?: number;
  scheduler?: string;
  param?: string[];
  out?: string;
  image?: string;
  strength?: string;
  mask?: string;
  'control-image'?: string;
  frames?: number;
  fps?: string;
  duration?: string;
  format?: string;
  'prompt-syntax'?: string;
}

export async function readPrompt(flag: string | undefined, fallback?: string): Promise<string> {
  if (flag === '-') {
    if (process.stdin.isTTY) throw new UsageError('--prompt - reads the prompt from stdin, but stdin is a terminal');
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8').trim();
    if (!text) throw new UsageError('--prompt -: stdin was empty');
    return text;
  }
  const p = flag ?? fallback;
  if (p === undefined) throw new UsageError('no prompt given', {hint: 'pass --prompt "..." (or --prompt - to read stdin)'});
  return p;
}

function num(name: string, v: string | undefined, check?: (n: number) => boolean, want?: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || (check && !check(n))) throw new UsageError(`--${name} must be ${want ?? 'a number'}, got ${v}`);
  return n;
}

/** `key=value` pairs; values parse as JSON when they can (numbers, booleans, lists), else stay strings. */
export function parseParams(pairs: string[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of pairs ?? []) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new UsageError(`--param ${p}: expected key=value`);
    const key = p.slice(0, eq).trim();
    const raw = p.slice(eq + 1);
    try {
      out[key] = JSON.parse(raw);
    } catch {
      out[key] = raw;
    }
  }
  return out;
}

function inputFile(flag: string, v: string | null | undefined): string | null {
  if (!v) return null;
  const abs = resolve(v);
  if (!existsSync(abs)) throw new NotFoundError(`--${flag}: no such file: ${v}`);
  return abs;
}

export function buildGenerateInput(f: GenerateFlagValues, prompt: string, from?: Partial<GenerateInput>): GenerateInput {
  const seed = num('seed', f.seed, (n) => Number.isInteger(n) && n >= 0 && n < 2 ** 53, 'a whole number >= 0');
  const strength = num('strength', f.strength, (n) => n >= 0 && n <= 1, 'between 0 and 1');
  const params = {...(from?.params ?? {}), ...parseParams(f.param)};
  const image = inputFile('image', f.image ?? from?.image);
  const mask = inputFile('mask', f.mask ?? from?.mask);
  if (mask && !image) throw new UsageError('--mask needs --image (the picture to inpaint)');
  if (strength !== undefined && !image) throw new UsageError('--strength needs --image');
  return {
    prompt,
    negativePrompt: f['negative-prompt'] ?? from?.negativePrompt ?? null,
    width: f.width ?? from?.width,
    height: f.height ?? from?.height,
    steps: f.steps ?? from?.steps,
    guidance: num('guidance', f.guidance) ?? from?.guidance,
    seed: seed ?? from?.seed,
    numImages: f['num-images'] ?? 1,
    scheduler: f.scheduler ?? from?.scheduler ?? null,
    // The PNG's scheduler config belongs to its scheduler: dropped when --scheduler names another.
    ...(from?.schedulerConfig && (!f.scheduler || f.scheduler === from.scheduler) ? {schedulerConfig: from.schedulerConfig} : {}),
    image,
    mask,
    strength: strength ?? from?.strength ?? null,
    controlImage: inputFile('control-image', f['control-image'] ?? from?.controlImage),
    params,
    out: f.out,
    frames: f.frames ?? from?.frames ?? null,
    fps: num('fps', f.fps, (n) => n > 0 && n <= 240, 'a number of frames per second above 0') ?? from?.fps ?? null,
    duration: num('duration', f.duration, (n) => n > 0, 'a number of seconds above 0') ?? from?.duration ?? null,
    format: f.format ?? from?.format ?? null,
    ...(f['prompt-syntax'] ? {promptSyntax: f['prompt-syntax'] as 'a1111' | 'plain'} : {}),
  };
}
