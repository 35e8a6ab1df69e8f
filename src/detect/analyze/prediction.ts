// Prediction type (epsilon / v) from the cues that do not need tensor data: scheduler config,
// ModelSpec and kohya metadata, SGM marker tensors, and pickle `global_step`.
import type {Facts} from '../types.js';
import type {Prediction} from '../rule-types.js';
import {component, meta, rootView, diffusionView} from './keys.js';
import {own} from '../own.js';

export interface PredictionCue {
  prediction: Prediction;
  evidence: string[];
}

/** Known SD2 release steps: 875000 / 220000 = epsilon (512 base), 110000 = v (768-v release). */
const GLOBAL_STEP: Record<string, Prediction> = {'875000': 'epsilon', '220000': 'epsilon', '110000': 'v'};

export function predictionCue(facts: Facts): PredictionCue | null {
  const sched = component(facts, 'scheduler')?.config?.prediction_type;
  if (typeof sched === 'string') {
    const p: Prediction = sched === 'v_prediction' ? 'v' : sched === 'epsilon' ? 'epsilon' : sched === 'flow_prediction' ? 'flow' : 'unknown';
    return {prediction: p, evidence: [`scheduler/scheduler_config.json prediction_type=${sched}`]};
  }
  const root = rootView(facts);
  const dm = diffusionView(facts).view;
  for (const k of ['v_pred', 'edm_vpred.sigma_max']) {
    if (root.has(k) || dm.has(k)) return {prediction: 'v', evidence: [`marker tensor ${k}`]};
  }
  const mp = meta(facts, 'modelspec.prediction_type');
  if (mp === 'v' || mp === 'v_prediction') return {prediction: 'v', evidence: [`modelspec.prediction_type=${mp}`]};
  if (mp === 'epsilon' || mp === 'eps') return {prediction: 'epsilon', evidence: [`modelspec.prediction_type=${mp}`]};
  const arch = meta(facts, 'modelspec.architecture');
  if (/^stable-diffusion-v2-768-v\b|-v(\/|$)/.test(arch)) return {prediction: 'v', evidence: [`modelspec.architecture=${arch}`]};
  if (meta(facts, 'ss_v_parameterization') === 'true') return {prediction: 'v', evidence: ['ss_v_parameterization=True']};
  const base = meta(facts, 'ss_base_model_version');
  if (/_v$/.test(base)) return {prediction: 'v', evidence: [`ss_base_model_version=${base}`]};
  const step = facts.metadata.global_step;
  const byStep = typeof step === 'string' ? own(GLOBAL_STEP, step) : undefined;
  if (byStep) return {prediction: byStep, evidence: [`global_step=${step}`]};
  return null;
}
