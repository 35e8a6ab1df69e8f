// The hires fix (A1111's enable_hr) as a request field of its own: `hires` on the native request and the worker's
// GenerateRequest. The text-to-image result is upscaled (its latents or the decoded picture) to hires.width x
// hires.height and denoised again by the pipeline's image-to-image sibling (python-runtime/mgen_runtime/hires.py).

/** Upscalers: A1111's "Latent" family (latent interpolation) and the plain picture resizes. */
export const HIRES_UPSCALERS = [
  'latent', 'latent-antialiased', 'latent-bicubic', 'latent-bicubic-antialiased', 'latent-nearest', 'latent-nearest-exact',
  'lanczos', 'nearest',
] as const;
export type HiresUpscaler = (typeof HIRES_UPSCALERS)[number];

/** A1111's hr_upscaler names -> ours ("None" is A1111's plain Lanczos resize). */
export const A1111_HIRES_UPSCALERS: Readonly<Record<string, HiresUpscaler>> = {
  'Latent': 'latent', 'Latent (antialiased)': 'latent-antialiased', 'Latent (bicubic)': 'latent-bicubic',
  'Latent (bicubic antialiased)': 'latent-bicubic-antialiased', 'Latent (nearest)': 'latent-nearest',
  'Latent (nearest-exact)': 'latent-nearest-exact', 'None': 'lanczos', 'Lanczos': 'lanczos', 'Nearest': 'nearest',
};

/** Our upscaler as A1111 names it in infotexts. */
export function a1111UpscalerName(u: HiresUpscaler): string {
  if (u === 'lanczos') return 'Lanczos';
  return Object.entries(A1111_HIRES_UPSCALERS).find(([, v]) => v === u)![0];
}

export interface HiresRequest {
  width: number;
  height: number;
  /** Second-pass steps (image-to-image runs steps x strength of them); absent: the first pass's steps. */
  steps?: number | null;
  /** Denoising strength of the second pass (default 0.7). */
  strength?: number | null;
  /** Default 'latent'. */
  upscaler?: HiresUpscaler | null;
  prompt?: string | null;
  negative_prompt?: string | null;
  scheduler?: string | null;
  scheduler_config?: Record<string, string | number | boolean> | null;
}

/** Infotext fields A1111 writes for a hires run (after Denoising strength, which the caller writes). */
export function hiresInfotext(
  h: HiresRequest,
  width: number | null,
  height: number | null,
  sampler?: (scheduler: string, config: Record<string, unknown>) => {sampler: string; scheduleType: string | null},
): Array<[string, string | number]> {
  const parts: Array<[string, string | number]> = [];
  const scale = width && height ? h.width / width : null;
  if (scale !== null && height && h.height / height === scale) parts.push(['Hires upscale', Number(scale.toFixed(4))]);
  else parts.push(['Hires resize', `${h.width}x${h.height}`]);
  if (h.steps) parts.push(['Hires steps', h.steps]);
  parts.push(['Hires upscaler', a1111UpscalerName(h.upscaler ?? 'latent')]);
  if (h.scheduler && sampler) {
    const ran = sampler(h.scheduler, h.scheduler_config ?? {});
    parts.push(['Hires sampler', ran.sampler]);
    if (ran.scheduleType && ran.scheduleType !== 'Automatic') parts.push(['Hires schedule type', ran.scheduleType]);
  }
  if (h.prompt) parts.push(['Hires prompt', h.prompt]);
  if (h.negative_prompt) parts.push(['Hires negative prompt', h.negative_prompt]);
  return parts;
}
