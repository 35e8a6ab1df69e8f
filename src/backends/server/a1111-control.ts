// The AUTOMATIC1111 control endpoints: /options (the settings that map here, read and written), /progress (the
// running job's step, ETA and state as A1111's shared.state reports them), /interrupt and /skip.
import type {Job} from './queue.js';
import type {SdModelItem} from './a1111-read.js';

/** An A1111-shaped refusal ({error, detail, body, errors}): what A1111's API middleware answers for an exception. */
export class A1111Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
  body(): {error: string; detail: string; body: string; errors: string} {
    return {error: 'HTTPException', detail: this.message, body: '', errors: this.message};
  }
}

/** Settings a client may change here (server-wide, as in A1111) and how they apply. */
export interface A1111Settings {
  /** CLIP_stop_at_last_layers: A1111 counts from the end (1 = the last layer). */
  clipStop: number;
  /** live_previews_enable: /progress shows the running image (a VAE decode every show_progress_every_n_steps). */
  livePreviews: boolean;
  /** show_progress_every_n_steps (A1111's default 10; 0 or less: no previews). */
  previewEvery: number;
  /** samples_format: the file format of the images (jpg and webp carry the infotext as EXIF UserComment). */
  samplesFormat: SamplesFormat;
  /** jpeg_quality: the jpg / webp quality (A1111's default 80). */
  jpegQuality: number;
}

export type SamplesFormat = 'png' | 'jpg' | 'webp';

/** A samples_format value as this server names it (jpeg = jpg, any case), or null for a format it does not write. */
export function samplesFormat(v: unknown): SamplesFormat | null {
  const f = typeof v === 'string' ? v.toLowerCase() : '';
  return f === 'png' || f === 'webp' ? f : f === 'jpg' || f === 'jpeg' ? 'jpg' : null;
}

/** Partial images to ask the worker for per image: one every `previewEvery` steps, at most 8 (the worker's cap). */
export function previewCount(s: A1111Settings, steps: number): number {
  if (!s.livePreviews || s.previewEvery <= 0) return 0;
  return Math.min(8, Math.floor(steps / s.previewEvery));
}

/**
 * GET/POST /sdapi/v1/options. GET lists the settings that mean something here, with this server's values. POST
 * changes the ones that map (CLIP_stop_at_last_layers), accepts the others at the value they have (a client that
 * writes back what it read), and refuses the rest naming each: another checkpoint (one model per server), another
 * samples_format (png, jpg, webp), a setting this server does not have. All or nothing: a refused POST changes nothing.
 */
export class A1111Options {
  readonly settings: A1111Settings = {clipStop: 1, livePreviews: true, previewEvery: 10, samplesFormat: 'png', jpegQuality: 80};

  constructor(private readonly o: {clipSkip: () => boolean}) {}

  read(model: SdModelItem, vae: string | null): Record<string, unknown> {
    return {
      sd_model_checkpoint: model.title,
      sd_checkpoint_hash: model.sha256,
      sd_vae: vae ?? 'Automatic',
      CLIP_stop_at_last_layers: this.settings.clipStop,
      samples_format: this.settings.samplesFormat,
      jpeg_quality: this.settings.jpegQuality,
      enable_pnginfo: true,
      samples_save: false,
      grid_save: false,
      save_images_add_number: false,
      live_previews_enable: this.settings.livePreviews,
      show_progress_every_n_steps: this.settings.previewEvery,
      eta_noise_seed_delta: 0,
      randn_source: 'CPU',
      sd_checkpoints_limit: 1,
    };
  }

  write(body: unknown, model: SdModelItem, vae: string | null, namesModel: (name: string) => boolean): void {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new A1111Refusal(422, 'the body must be a JSON object of settings');
    const current = this.read(model, vae);
    const next = {...this.settings};
    for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
      if (k === 'sd_model_checkpoint') {
        if (typeof v !== 'string' || !namesModel(v)) {
          throw new A1111Refusal(400, `sd_model_checkpoint: model ${JSON.stringify(v)} not found; this server holds ${model.title} only (one model per mgen serve: start another for another model)`);
        }
      } else if (k === 'CLIP_stop_at_last_layers') {
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 12) throw new A1111Refusal(400, 'CLIP_stop_at_last_layers: must be an integer from 1 to 12');
        if (v > 1 && !this.o.clipSkip()) throw new A1111Refusal(400, 'CLIP_stop_at_last_layers: the loaded pipeline does not support clip skip');
        next.clipStop = v;
      } else if (k === 'live_previews_enable') {
        if (typeof v !== 'boolean') throw new A1111Refusal(400, 'live_previews_enable: must be true or false');
        next.livePreviews = v;
      } else if (k === 'show_progress_every_n_steps') {
        if (typeof v !== 'number' || !Number.isInteger(v) || v < -1 || v > 1000) throw new A1111Refusal(400, 'show_progress_every_n_steps: must be an integer from -1 to 1000');
        next.previewEvery = v;
      } else if (k === 'samples_format') {
        const f = samplesFormat(v);
        if (!f) throw new A1111Refusal(400, `samples_format: ${JSON.stringify(v)} is not supported; this server writes png, jpg or webp`);
        next.samplesFormat = f;
      } else if (k === 'jpeg_quality') {
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 100) throw new A1111Refusal(400, 'jpeg_quality: must be an integer from 1 to 100');
        next.jpegQuality = v;
      } else if (k in current) {
        if (JSON.stringify(v) !== JSON.stringify(current[k])) {
          throw new A1111Refusal(400, `${k}: fixed at ${JSON.stringify(current[k])} on this server; it cannot be changed`);
        }
      } else {
        throw new A1111Refusal(400, `${k}: not a setting this server has (settable here: CLIP_stop_at_last_layers, live_previews_enable, show_progress_every_n_steps, samples_format, jpeg_quality; sd_model_checkpoint read-only)`);
      }
    }
    Object.assign(this.settings, next);
  }
}

type AnyJob = Job<{request: {num_images?: number}}, unknown>;

/** The part of the JobQueue /progress and /interrupt use. */
export interface RunningJobs {
  readonly current: AnyJob | null;
  cancel(id: string, reason?: string): boolean;
  on(event: 'change', listener: () => void): unknown;
}

/** What /progress needs about the running job: which image of how many, started when, interrupted or not. */
interface Tracked {
  job: AnyJob;
  images: number;
  imageNo: number;
  step: number;
  steps: number;
  startedAt: number;
  interrupted: boolean;
  /** The latest partial image (base64 PNG), A1111's current_image. */
  image: string | null;
  skipped: boolean;
  timestamp: string;
}

/** YYYYMMDDhhmmss, A1111's job_timestamp. */
export function jobTimestamp(d = new Date()): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** Follows the queue's running job for /progress, /interrupt and /skip. */
export class A1111Progress {
  private tracked: Tracked | null = null;
  private lastTimestamp = jobTimestamp();

  constructor(private readonly queue: RunningJobs) {
    queue.on('change', () => this.follow());
  }

  private follow(): void {
    const job = this.queue.current;
    if (this.tracked?.job === job) return;
    this.tracked = null;
    if (!job) return;
    const t: Tracked = {
      job, images: job.input.request.num_images ?? 1, imageNo: 0, step: 0, steps: 0, startedAt: job.startedAt ?? Date.now(),
      interrupted: false, skipped: false, timestamp: jobTimestamp(), image: null,
    };
    this.lastTimestamp = t.timestamp;
    // Steps count up per image; a new image starts after the last one reached its last step.
    job.events.on('progress', (p: {step: number; steps: number}) => {
      if (t.steps && t.step >= t.steps && p.step <= t.step) t.imageNo = Math.min(t.imageNo + 1, t.images - 1);
      t.step = p.step;
      t.steps = p.steps;
    });
    job.events.on('preview', (p: {b64_json: string}) => {
      t.image = p.b64_json;
    });
    this.tracked = t;
  }

  /** GET /sdapi/v1/progress: current_image is the latest partial image (live previews), unless skipped. */
  read(skipCurrentImage = false): {progress: number; eta_relative: number; state: Record<string, unknown>; current_image: string | null; textinfo: string | null; current_task: string | null} {
    this.follow();
    const t = this.tracked;
    const state = {
      skipped: t?.skipped ?? false,
      interrupted: t?.interrupted ?? false,
      stopping_generation: false,
      job: t ? `job ${t.job.id}` : '',
      job_count: t ? t.images : 0,
      job_timestamp: t?.timestamp ?? this.lastTimestamp,
      job_no: t ? t.imageNo : 0,
      sampling_step: t?.step ?? 0,
      sampling_steps: t?.steps ?? 0,
    };
    if (!t) return {progress: 0, eta_relative: 0, state, current_image: null, textinfo: null, current_task: null};
    // A1111's arithmetic: 0.01 + done images / images + this image's share by steps; ETA from the time so far.
    let progress = 0.01 + t.imageNo / t.images;
    if (t.steps > 0) progress += (1 / t.images) * (t.step / t.steps);
    const elapsed = (Date.now() - t.startedAt) / 1000;
    const eta = elapsed / progress - elapsed;
    return {progress: Math.min(progress, 1), eta_relative: Math.max(0, eta), state, current_image: skipCurrentImage ? null : t.image, textinfo: null, current_task: t.job.id};
  }

  /** POST /interrupt and /skip: stop the running job (its request answers 499); waiting jobs go on. */
  stop(how: 'interrupted' | 'skipped'): boolean {
    this.follow();
    const t = this.tracked;
    if (!t) return false;
    t[how] = true;
    return this.queue.cancel(t.job.id, `${how} (POST /sdapi/v1/${how === 'interrupted' ? 'interrupt' : 'skip'})`);
  }
}
