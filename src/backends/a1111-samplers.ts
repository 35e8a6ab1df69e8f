// AUTOMATIC1111 samplers and schedule types -> the diffusers scheduler class and config overrides that run the
// same algorithm (diffusers' "A1111/k-diffusion -> diffusers" table), and back: the A1111 words for what ran.
// Samplers and schedule types without a diffusers equivalent are listed so that a request naming one is refused.

export type SchedulerConfig = Record<string, string | number | boolean>;

export interface A1111Sampler {
  /** The A1111 name (as /sdapi/v1/samplers lists it). */
  name: string;
  /** null: A1111 has it, diffusers has no equivalent (refused). */
  scheduler: string | null;
  config: SchedulerConfig;
  /** The schedule type A1111 uses for "Automatic" with this sampler. */
  automatic?: string;
}

/** The sigma-schedule keys each class takes (from the classes' __init__ in diffusers 0.3x/0.4x). */
const SIGMA_OPTIONS: Record<string, readonly string[]> = {
  EulerDiscreteScheduler: ['use_karras_sigmas', 'use_exponential_sigmas', 'use_beta_sigmas', 'timestep_spacing'],
  EulerAncestralDiscreteScheduler: ['timestep_spacing'],
  HeunDiscreteScheduler: ['use_karras_sigmas', 'use_exponential_sigmas', 'use_beta_sigmas', 'timestep_spacing'],
  LMSDiscreteScheduler: [],
  KDPM2DiscreteScheduler: ['use_karras_sigmas', 'use_exponential_sigmas', 'use_beta_sigmas', 'timestep_spacing'],
  KDPM2AncestralDiscreteScheduler: ['use_karras_sigmas', 'use_exponential_sigmas', 'use_beta_sigmas', 'timestep_spacing'],
  DPMSolverMultistepScheduler: ['use_karras_sigmas', 'use_exponential_sigmas', 'use_beta_sigmas', 'timestep_spacing'],
  DPMSolverSinglestepScheduler: ['use_karras_sigmas', 'use_exponential_sigmas', 'use_beta_sigmas'],
  DDIMScheduler: ['timestep_spacing'],
  DDPMScheduler: ['timestep_spacing'],
  PNDMScheduler: ['timestep_spacing'],
  UniPCMultistepScheduler: ['use_karras_sigmas', 'use_exponential_sigmas', 'use_beta_sigmas', 'timestep_spacing'],
  LCMScheduler: ['timestep_spacing'],
  DEISMultistepScheduler: ['use_karras_sigmas', 'use_exponential_sigmas', 'use_beta_sigmas', 'timestep_spacing'],
};

const SDE = {algorithm_type: 'sde-dpmsolver++'};

/** Every sampler A1111 (1.10) lists, plus the diffusers-only names mgen took before (DDPM, PNDM, DEIS). */
export const A1111_SAMPLER_TABLE: readonly A1111Sampler[] = [
  {name: 'DPM++ 2M', scheduler: 'DPMSolverMultistepScheduler', config: {}, automatic: 'Karras'},
  {name: 'DPM++ SDE', scheduler: 'DPMSolverSinglestepScheduler', config: {}, automatic: 'Karras'},
  {name: 'DPM++ 2M SDE', scheduler: 'DPMSolverMultistepScheduler', config: {...SDE}, automatic: 'Exponential'},
  {name: 'DPM++ 2M SDE Heun', scheduler: 'DPMSolverMultistepScheduler', config: {...SDE, solver_type: 'heun'}, automatic: 'Exponential'},
  {name: 'DPM++ 2S a', scheduler: null, config: {}},
  {name: 'DPM++ 3M SDE', scheduler: null, config: {}},
  {name: 'Euler a', scheduler: 'EulerAncestralDiscreteScheduler', config: {}},
  {name: 'Euler', scheduler: 'EulerDiscreteScheduler', config: {}},
  {name: 'LMS', scheduler: 'LMSDiscreteScheduler', config: {}},
  {name: 'Heun', scheduler: 'HeunDiscreteScheduler', config: {}},
  {name: 'DPM2', scheduler: 'KDPM2DiscreteScheduler', config: {}},
  {name: 'DPM2 a', scheduler: 'KDPM2AncestralDiscreteScheduler', config: {}},
  {name: 'DPM fast', scheduler: null, config: {}},
  {name: 'DPM adaptive', scheduler: null, config: {}},
  {name: 'Restart', scheduler: null, config: {}},
  {name: 'DDIM', scheduler: 'DDIMScheduler', config: {}},
  {name: 'DDIM CFG++', scheduler: null, config: {}},
  {name: 'PLMS', scheduler: 'PNDMScheduler', config: {skip_prk_steps: true}},
  {name: 'UniPC', scheduler: 'UniPCMultistepScheduler', config: {}},
  {name: 'LCM', scheduler: 'LCMScheduler', config: {}},
  {name: 'DDPM', scheduler: 'DDPMScheduler', config: {}},
  {name: 'PNDM', scheduler: 'PNDMScheduler', config: {skip_prk_steps: false}},
  {name: 'DEIS', scheduler: 'DEISMultistepScheduler', config: {}},
];

export interface A1111ScheduleType {
  name: string;
  /** null: no diffusers equivalent (refused); {} for Automatic (the sampler's own). */
  config: SchedulerConfig | null;
}

/** A1111's schedule types (the `scheduler` field). "Uniform" is k-diffusion's evenly spaced timesteps. */
export const A1111_SCHEDULE_TYPES: readonly A1111ScheduleType[] = [
  {name: 'Automatic', config: {}},
  {name: 'Uniform', config: {timestep_spacing: 'linspace'}},
  {name: 'Karras', config: {use_karras_sigmas: true}},
  {name: 'Exponential', config: {use_exponential_sigmas: true}},
  {name: 'Polyexponential', config: null},
  {name: 'SGM Uniform', config: {timestep_spacing: 'trailing'}},
  {name: 'KL Optimal', config: null},
  {name: 'Align Your Steps', config: null},
  {name: 'Simple', config: null},
  {name: 'Normal', config: null},
  {name: 'DDIM', config: null},
  {name: 'Beta', config: {use_beta_sigmas: true}},
];

const norm = (s: string): string => s.trim().toLowerCase().replace(/[\s_]+/g, ' ');
const SUFFIXES = ['Karras', 'Exponential', 'Uniform', 'SGM Uniform', 'Beta'];

export interface SamplerChoice {
  /** What ran, in A1111's words. */
  sampler: string;
  scheduleType: string;
  /** diffusers class and the config overrides on top of the model's scheduler config. */
  scheduler: string;
  config: SchedulerConfig;
}

/** Why a sampler / schedule type cannot be run (the field it came from and the words). */
export class SamplerRefusal extends Error {
  constructor(readonly field: 'sampler' | 'scheduler', message: string) {
    super(message);
  }
}

/**
 * An A1111 sampler name (old "X Karras" style names included) and schedule type -> what to run. An explicit
 * schedule type other than Automatic wins over the name's suffix, as in A1111. Null sampler: the model's own.
 */
export function chooseSampler(samplerName: string | null | undefined, scheduleType: string | null | undefined): SamplerChoice | null {
  let key = samplerName ? norm(samplerName) : null;
  let suffix: string | null = null;
  if (key) {
    let entry = A1111_SAMPLER_TABLE.find((s) => norm(s.name) === key);
    if (!entry) {
      for (const suf of SUFFIXES) {
        const tail = ' ' + norm(suf);
        if (key.endsWith(tail)) {
          const base = A1111_SAMPLER_TABLE.find((s) => norm(s.name) === key!.slice(0, -tail.length));
          if (base) {
            entry = base;
            suffix = suf;
            key = norm(base.name);
            break;
          }
        }
      }
    }
    if (!entry) throw new SamplerRefusal('sampler', `unknown sampler "${samplerName}"`);
    if (!entry.scheduler) throw new SamplerRefusal('sampler', `sampler "${entry.name}" has no diffusers equivalent; use one of ${runnableSamplers().join(', ')}`);
  }
  let type: A1111ScheduleType | undefined;
  if (scheduleType && norm(scheduleType) !== 'automatic') {
    type = A1111_SCHEDULE_TYPES.find((t) => norm(t.name) === norm(scheduleType));
    if (!type) throw new SamplerRefusal('scheduler', `unknown schedule type "${scheduleType}"`);
  } else if (suffix) {
    type = A1111_SCHEDULE_TYPES.find((t) => t.name === suffix);
  }
  if (type && !type.config) throw new SamplerRefusal('scheduler', `schedule type "${type.name}" has no diffusers equivalent`);
  if (!key) {
    if (type) throw new SamplerRefusal('scheduler', `schedule type "${type.name}" needs a sampler_name`);
    return null;
  }
  const entry = A1111_SAMPLER_TABLE.find((s) => norm(s.name) === key)!;
  const scheduler = entry.scheduler!;
  // Automatic: the schedule A1111 uses for this sampler when the class can do it; else the class's own.
  const auto = entry.automatic ? A1111_SCHEDULE_TYPES.find((t) => t.name === entry.automatic) : undefined;
  const chosen = type ?? (auto && supports(scheduler, auto) ? auto : undefined);
  if (chosen && !supports(scheduler, chosen)) {
    throw new SamplerRefusal('scheduler', `schedule type "${chosen.name}" cannot be used with sampler "${entry.name}" (${scheduler})`);
  }
  return {
    sampler: entry.name,
    scheduleType: chosen?.name ?? 'Automatic',
    scheduler,
    config: {...entry.config, ...(chosen?.config ?? {})},
  };
}

function supports(scheduler: string, type: A1111ScheduleType): boolean {
  const keys = Object.keys(type.config ?? {});
  return keys.every((k) => (SIGMA_OPTIONS[scheduler] ?? []).includes(k));
}

/** Sampler names that run (for /sdapi/v1/samplers and messages). */
export function runnableSamplers(): string[] {
  return A1111_SAMPLER_TABLE.filter((s) => s.scheduler).map((s) => s.name);
}

/** Schedule types that run (for /sdapi/v1/schedulers). */
export function runnableScheduleTypes(): string[] {
  return A1111_SCHEDULE_TYPES.filter((t) => t.config).map((t) => t.name);
}

/**
 * The A1111 words for a diffusers class + config overrides (for PNG `parameters` and `info`): the sampler whose
 * own config the overrides contain, and the schedule type the rest of them are. Unknown classes keep their name.
 */
export function describeScheduler(scheduler: string | null | undefined, config: SchedulerConfig | null | undefined): {sampler: string; scheduleType: string | null} {
  if (!scheduler) return {sampler: 'Default', scheduleType: null};
  const cfg = config ?? {};
  const same = (a: SchedulerConfig, keys: string[]): boolean => keys.every((k) => a[k] === cfg[k]);
  let best: A1111Sampler | undefined;
  for (const s of A1111_SAMPLER_TABLE) {
    if (s.scheduler !== scheduler || !same(s.config, Object.keys(s.config))) continue;
    if (!best || Object.keys(s.config).length > Object.keys(best.config).length) best = s;
  }
  // A class reached only through the native `scheduler` field (no A1111 name): its class name.
  if (!best) best = A1111_SAMPLER_TABLE.find((s) => s.scheduler === scheduler && !Object.keys(s.config).length) ?? A1111_SAMPLER_TABLE.find((s) => s.scheduler === scheduler);
  if (!best) return {sampler: scheduler, scheduleType: null};
  const rest = Object.keys(cfg).filter((k) => !(k in best!.config) || best!.config[k] !== cfg[k]);
  if (!rest.length) return {sampler: best.name, scheduleType: config ? 'Automatic' : null};
  const type = A1111_SCHEDULE_TYPES.find((t) => t.config && Object.keys(t.config).length === rest.length && same(t.config, Object.keys(t.config)));
  return {sampler: best.name, scheduleType: type?.name ?? null};
}
