// The PNG text mgen embeds: the A1111-style `parameters` text that image viewers and other UIs read, and
// the `mgen` JSON chunk with the full request, so `mgen generate --from image.png` can re-run it exactly.
import {hiresInfotext, type HiresRequest} from './hires.js';
import {basename} from 'node:path';
import {describeScheduler, type SchedulerConfig} from './a1111-samplers.js';

/** diffusers scheduler class -> the sampler name A1111 prints. */
const SAMPLERS: Record<string, string> = {
  EulerDiscreteScheduler: 'Euler',
  EulerAncestralDiscreteScheduler: 'Euler a',
  DPMSolverMultistepScheduler: 'DPM++ 2M',
  DPMSolverSinglestepScheduler: 'DPM++ SDE',
  DPMSolverSDEScheduler: 'DPM++ SDE',
  KDPM2DiscreteScheduler: 'DPM2',
  KDPM2AncestralDiscreteScheduler: 'DPM2 a',
  HeunDiscreteScheduler: 'Heun',
  LMSDiscreteScheduler: 'LMS',
  DDIMScheduler: 'DDIM',
  PNDMScheduler: 'PLMS',
  UniPCMultistepScheduler: 'UniPC',
  DEISMultistepScheduler: 'DEIS',
  LCMScheduler: 'LCM',
  FlowMatchEulerDiscreteScheduler: 'Euler',
};

export function samplerName(scheduler: string | null | undefined): string {
  if (!scheduler) return 'Default';
  return SAMPLERS[scheduler] ?? scheduler;
}

export interface A1111Fields {
  prompt: string;
  negativePrompt?: string | null;
  steps: number;
  scheduler?: string | null;
  /** Config overrides the scheduler ran with (an A1111 sampler / schedule type): named as A1111 names them. */
  schedulerConfig?: SchedulerConfig | null;
  /** diffusers' clip_skip (layers skipped); A1111 prints it as "Clip skip: clip_skip + 1". */
  clipSkip?: number | null;
  guidanceScale: number;
  seed: number;
  width: number | null;
  height: number | null;
  /** First 10 hex chars of the main weight file's sha256 (A1111's short hash). */
  modelHash?: string | null;
  modelName?: string | null;
  strength?: number | null;
  /** LoRAs by name (file name without extension) and A1111 short hash (loraShortHash). */
  loras?: Array<{name: string; hash: string}>;
  /** LoRAs as A1111 writes them in the prompt part: `<lora:name:scale>` (appended unless the prompt has it). */
  loraTags?: Array<{name: string; scale: number}>;
  /** Textual inversions the prompts use, by token and A1111 short hash (sha256, 12 hex): `TI hashes`. */
  tiHashes?: Array<{name: string; hash: string}>;
  version?: string;
  /** The hires fix's second pass (its strength is written as Denoising strength). */
  hires?: HiresRequest | null;
}

/**
 * The name a LoRA goes by in a `<lora:...>` tag that mgen can resolve again: a MODEL_ID with a scheme or a slash
 * (builtin:x, civitai:1@2, org/name) as it is; a file path as its file name without the extension (A1111's way,
 * looked up in the cache and the model folders).
 */
export function loraTagName(id: string): string {
  const isPath = /^(\.{0,2}\/|~|\/)/.test(id) || /^[A-Za-z]:[\\/]/.test(id) || /\.(safetensors|ckpt|pt|pth|bin)$/i.test(id);
  if (!isPath && (/^[a-z][a-z0-9+.-]*:/i.test(id) || id.includes('/'))) return id;
  return basename(id).replace(/\.(safetensors|ckpt|pt|pth|bin)$/i, '');
}

/** The prompt part with a `<lora:name:scale>` tag per LoRA that it does not already carry. */
export function promptWithLoraTags(prompt: string, tags: ReadonlyArray<{name: string; scale: number}> | undefined): string {
  let out = prompt;
  for (const t of tags ?? []) {
    const tag = `<lora:${t.name}:${t.scale}>`;
    if (!out.includes(tag)) out = out ? `${out} ${tag}` : tag;
  }
  return out;
}

/** A value A1111 would quote: it contains a comma, colon or quote. */
function field(v: string): string {
  return /[,:"\n]/.test(v) ? JSON.stringify(v) : v;
}

export function buildA1111Parameters(f: A1111Fields): string {
  const lines = [promptWithLoraTags(f.prompt, f.loraTags)];
  if (f.negativePrompt) lines.push(`Negative prompt: ${f.negativePrompt}`);
  const parts: Array<[string, string | number]> = [
    ['Steps', f.steps],
    ['Sampler', f.schedulerConfig ? describeScheduler(f.scheduler, f.schedulerConfig).sampler : samplerName(f.scheduler)],
  ];
  const scheduleType = f.schedulerConfig ? describeScheduler(f.scheduler, f.schedulerConfig).scheduleType : null;
  if (scheduleType) parts.push(['Schedule type', scheduleType]);
  parts.push(['CFG scale', f.guidanceScale], ['Seed', f.seed]);
  if (f.width && f.height) parts.push(['Size', `${f.width}x${f.height}`]);
  if (f.modelHash) parts.push(['Model hash', f.modelHash]);
  if (f.modelName) parts.push(['Model', field(f.modelName)]);
  if (f.strength !== null && f.strength !== undefined) parts.push(['Denoising strength', f.strength]);
  else if (f.hires) parts.push(['Denoising strength', f.hires.strength ?? 0.7]);
  if (f.hires) for (const [k, v] of hiresInfotext(f.hires, f.width, f.height, (s, c) => describeScheduler(s, c as SchedulerConfig))) parts.push([k, typeof v === 'string' ? field(v) : v]);
  if (typeof f.clipSkip === 'number' && f.clipSkip > 0) parts.push(['Clip skip', f.clipSkip + 1]);
  if (f.tiHashes?.length) parts.push(['TI hashes', field(f.tiHashes.map((t) => `${t.name}: ${t.hash}`).join(', '))]);
  if (f.loras?.length) parts.push(['Lora hashes', field(f.loras.map((l) => `${l.name}: ${l.hash}`).join(', '))]);
  if (f.version) parts.push(['Version', field(f.version)]);
  lines.push(parts.map(([k, v]) => `${k}: ${v}`).join(', '));
  return lines.join('\n');
}

export interface ParsedA1111 {
  prompt: string;
  negativePrompt: string | null;
  fields: Record<string, string>;
}

/** Parses an A1111 `parameters` text (ours or another UI's) back into prompt, negative prompt and fields. */
export function parseA1111Parameters(text: string): ParsedA1111 {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  let lastIdx = -1;
  for (let i = lines.length - 1; i >= 0; i--) {
    if (/(^|, )Steps: \d+/.test(lines[i]!)) {
      lastIdx = i;
      break;
    }
  }
  const body = lastIdx >= 0 ? lines.slice(0, lastIdx) : lines;
  const fieldsLine = lastIdx >= 0 ? lines[lastIdx]! : '';
  const negAt = body.findIndex((l) => l.startsWith('Negative prompt:'));
  const prompt = (negAt >= 0 ? body.slice(0, negAt) : body).join('\n').trim();
  const negativePrompt = negAt >= 0 ? body.slice(negAt).join('\n').replace(/^Negative prompt:\s*/, '').trim() : null;
  const fields: Record<string, string> = {};
  const re = /\s*([\w \-/]+):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(fieldsLine)) !== null) {
    if (m[0] === '') break;
    const raw = m[2]!.trim();
    let value = raw;
    if (raw.startsWith('"')) {
      try {
        value = JSON.parse(raw) as string;
      } catch {
        /* keep raw */
      }
    }
    fields[m[1]!.trim()] = value;
  }
  return {prompt, negativePrompt, fields};
}
