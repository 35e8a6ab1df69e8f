// AUTOMATIC1111 sampler names -> diffusers scheduler classes (the A1111 endpoints' sampler_name).
// Karras variants map to the same class; the sigma schedule option is noted in `karras` for the runtime.

export interface SchedulerChoice {
  scheduler: string;
  karras: boolean;
}

const TABLE: Record<string, string> = {
  'euler': 'EulerDiscreteScheduler',
  'euler a': 'EulerAncestralDiscreteScheduler',
  'heun': 'HeunDiscreteScheduler',
  'lms': 'LMSDiscreteScheduler',
  'dpm2': 'KDPM2DiscreteScheduler',
  'dpm2 a': 'KDPM2AncestralDiscreteScheduler',
  'dpm++ 2m': 'DPMSolverMultistepScheduler',
  'dpm++ 2m sde': 'DPMSolverMultistepScheduler',
  'dpm++ sde': 'DPMSolverSinglestepScheduler',
  'dpm++ 2s a': 'DPMSolverSinglestepScheduler',
  'ddim': 'DDIMScheduler',
  'ddpm': 'DDPMScheduler',
  'pndm': 'PNDMScheduler',
  'plms': 'PNDMScheduler',
  'unipc': 'UniPCMultistepScheduler',
  'lcm': 'LCMScheduler',
  'deis': 'DEISMultistepScheduler',
};

/** Names a client may send, for error messages and docs. */
export const A1111_SAMPLERS: readonly string[] = [
  'Euler', 'Euler a', 'Heun', 'LMS', 'DPM2', 'DPM2 a', 'DPM++ 2M', 'DPM++ 2M SDE', 'DPM++ SDE', 'DPM++ 2S a',
  'DDIM', 'DDPM', 'PNDM', 'PLMS', 'UniPC', 'LCM', 'DEIS',
];

/** Maps an A1111 sampler name (case-insensitive, optional " Karras" suffix); null for an unknown name. */
export function schedulerForSampler(name: string): SchedulerChoice | null {
  let key = name.trim().toLowerCase().replace(/\s+/g, ' ');
  let karras = false;
  if (key.endsWith(' karras')) {
    karras = true;
    key = key.slice(0, -' karras'.length);
  }
  const scheduler = TABLE[key];
  return scheduler ? {scheduler, karras} : null;
}

/** The A1111 name for a diffusers scheduler class (first match), for `info.sampler_name`. */
export function samplerForScheduler(scheduler: string | null): string | null {
  if (!scheduler) return null;
  for (const n of A1111_SAMPLERS) if (TABLE[n.toLowerCase()] === scheduler) return n;
  return null;
}
