// The A1111 endpoints' sampler_name / scheduler fields: the table lives in src/backends/a1111-samplers.ts (the
// PNG `parameters` writer reads it too); this module is the server's view of it.
import {A1111_SAMPLER_TABLE, A1111_SCHEDULE_TYPES, chooseSampler, describeScheduler, runnableSamplers, runnableScheduleTypes, SamplerRefusal} from '../a1111-samplers.js';

export {chooseSampler, describeScheduler, SamplerRefusal};
export type {SamplerChoice, SchedulerConfig} from '../a1111-samplers.js';

/** Names a client may send (the ones that run), for /sdapi/v1/samplers and error messages. */
export const A1111_SAMPLERS: readonly string[] = runnableSamplers();
/** Schedule types a client may send (the ones that run), for /sdapi/v1/schedulers. */
export const A1111_SCHEDULERS: readonly string[] = runnableScheduleTypes();

/** GET /sdapi/v1/samplers: A1111's shape ({name, aliases, options}), the runnable ones. */
export function samplerList(): Array<{name: string; aliases: string[]; options: Record<string, string>}> {
  return A1111_SAMPLER_TABLE.filter((s) => s.scheduler).map((s) => ({
    name: s.name, aliases: [] as string[], options: (s.automatic ? {scheduler: s.automatic.toLowerCase().replace(/ /g, '_')} : {}) as Record<string, string>,
  }));
}

/** GET /sdapi/v1/schedulers: A1111's shape ({name, label, aliases, default_rho, need_inner_model}). */
export function scheduleTypeList(): Array<{name: string; label: string; aliases: null; default_rho: number; need_inner_model: boolean}> {
  return A1111_SCHEDULE_TYPES.filter((t) => t.config).map((t) => ({
    name: t.name.toLowerCase().replace(/ /g, '_'), label: t.name, aliases: null, default_rho: -1, need_inner_model: false,
  }));
}
