// Facts + the registry's conclusion -> ModelReport (shared/ARCHITECTURE.md field names).
import type {Evidence, Facts, Family, Kind, ModelReport, ReportFormat, Task} from './types.js';
import type {Conclusion} from './registry.js';
import {FAMILIES, pipelineFor, suggestedRepo, taskFor} from './families.js';
import {dtypeCounts, summarizePrecision} from './precision.js';
import {estimatePeakVram} from './memory.js';
import {metadataHint} from './analyze/metadata.js';
import {componentsOf} from './components.js';
import {securityOf} from './security.js';
import {quantFileWarnings} from './quant-checks.js';

/** Loader pipelines for conditioning adapters, by base family. */
const ADAPTER_PIPELINES: Partial<Record<Kind, Partial<Record<Family, string>>>> = {
  controlnet: {sd1: 'StableDiffusionControlNetPipeline', sd2: 'StableDiffusionControlNetPipeline', sdxl: 'StableDiffusionXLControlNetPipeline', flux: 'FluxControlNetPipeline', sd3: 'StableDiffusion3ControlNetPipeline'},
  't2i-adapter': {sd1: 'StableDiffusionAdapterPipeline', sd2: 'StableDiffusionAdapterPipeline', sdxl: 'StableDiffusionXLAdapterPipeline'},
};
const LOADED_INTO_BASE: Kind[] = ['lora', 'textual-inversion', 'ip-adapter', 'hypernetwork', 'aesthetic-embedding'];

function formatOf(facts: Facts): ReportFormat {
  const main = facts.files.filter((f) => f.tensors.length > 0 || f.format !== 'json');
  if (facts.modelIndex) return 'diffusers';
  if (main.some((f) => f.format === 'gguf')) return 'gguf';
  if (facts.layout === 'file') return main.some((f) => f.format === 'pickle') ? 'pickle' : 'single-file';
  if (facts.layout === 'sharded') return 'sharded';
  if (facts.config && typeof facts.config._class_name === 'string') return 'diffusers';
  if (facts.components.some((c) => typeof c.config?._class_name === 'string')) return 'diffusers';
  if (main.length > 0 && main.every((f) => f.format === 'pickle')) return 'pickle';
  return 'folder';
}

/** Everything a model has, for the unknown case: tensor prefixes, files, configs. */
function whatWasFound(facts: Facts): string[] {
  const counts = new Map<string, number>();
  for (const name of facts.tensors.keys()) {
    const p = name.split('.').slice(0, 2).join('.');
    counts.set(p, (counts.get(p) ?? 0) + 1);
  }
  const top = [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([p, c]) => `${p}.* (${c})`);
  const out = [`${facts.tensors.size} tensors in ${facts.files.length} file(s)`];
  if (top.length) out.push(`most common key prefixes: ${top.join(', ')}`);
  if (facts.modelIndex) out.push(`model_index.json _class_name=${String(facts.modelIndex._class_name)}`);
  if (facts.config) out.push(`config.json: ${String(facts.config._class_name ?? facts.config.architectures ?? facts.config.model_type ?? 'no class name')}`);
  if (facts.files.length === 0 && facts.components.length === 0) out.push('no weight files or configs');
  return out;
}

export function buildReport(facts: Facts, conclusion: Conclusion, source: ModelReport['source']): ModelReport {
  const w = conclusion.winner;
  const kind: Kind = w?.kind ?? 'unknown';
  const family: Family = w?.family ?? 'unknown';
  const variants = w ? [...new Set(w.variants)] : [];
  const warnings = [...facts.warnings, ...(w?.warnings ?? []), ...conclusion.warnings];
  const evidence: Evidence[] = [...conclusion.evidence];
  if (!w) {
    evidence.push({rule: 'none', claim: 'kind=unknown family=unknown', facts: whatWasFound(facts)});
    warnings.push('no detection rule recognized this model');
  }

  // Tensors of the main weights plus every component's weights.
  const allTensors = [...facts.tensors.values()];
  const seen = new Set(facts.files);
  const allFiles = [...facts.files];
  for (const c of facts.components) {
    for (const f of c.files) {
      if (seen.has(f)) continue;
      seen.add(f);
      allFiles.push(f);
      allTensors.push(...f.tensors);
    }
  }
  const prec = summarizePrecision(allTensors, allFiles);
  warnings.push(...quantFileWarnings(allFiles));

  const hint = metadataHint(facts);
  if (hint) {
    evidence.push({rule: 'metadata', claim: `family=${hint.family}`, facts: [hint.evidence]});
    if (w && w.rule !== 'lora' && family !== 'unknown' && hint.family !== family) {
      warnings.push(`metadata says ${hint.family} but the tensors say ${family}: trusting the tensors`);
    }
  }

  const comps = componentsOf(facts, kind, family);
  warnings.push(...comps.warnings);
  const task: Task = w?.task ?? (kind === 'checkpoint' || LOADED_INTO_BASE.includes(kind) || kind === 'controlnet' || kind === 't2i-adapter' ? taskFor(family, kind === 'checkpoint' ? variants : []) : kind === 'upscaler' ? 'upscale' : 'unknown');

  let pipeline: string | null = null;
  if (kind === 'checkpoint') {
    const fromTable = w?.pipeline ?? pipelineFor(family, task, variants);
    const fromIndex = typeof facts.modelIndex?._class_name === 'string' ? facts.modelIndex._class_name : undefined;
    const fits = fromIndex && (family === 'unknown' || Object.values(FAMILIES[family].pipelines).includes(fromIndex) || fromIndex === fromTable);
    pipeline = fits ? fromIndex! : fromTable;
    if (fromIndex && !fits && fromTable) warnings.push(`model_index.json names ${fromIndex}; ${fromTable} fits this ${FAMILIES[family].label} model`);
  } else if (LOADED_INTO_BASE.includes(kind)) {
    pipeline = pipelineFor(family, task, []);
  } else {
    pipeline = ADAPTER_PIPELINES[kind]?.[family] ?? null;
  }

  const fam = FAMILIES[family];
  let defaults: ModelReport['defaults'] = family !== 'unknown' && kind !== 'vae' && kind !== 'text-encoder' && kind !== 'clip-vision' && kind !== 'upscaler'
    ? {...fam.defaults, ...(fam.frames ? {frames: fam.frames, fps: fam.fps} : {}), ...(fam.duration ? {duration: fam.duration} : {})} : null;
  if (defaults && family === 'sd2' && (variants.includes('inpaint') || variants.includes('depth'))) defaults = {...defaults, width: 512, height: 512};
  if (defaults && family === 'flux' && variants.includes('schnell')) defaults = {...defaults, steps: 4, guidance_scale: 0};
  if (defaults && family === 'sdxl' && variants.includes('playground-v2.5')) defaults = {...defaults, guidance_scale: 3};
  // CogVideoX 1.5 (3-D patches) is trained at 1360x768, 81 frames, 16 fps; 1.0 at 720x480, 49 frames, 8 fps.
  if (defaults && family === 'cogvideox' && variants.includes('1.5')) defaults = {...defaults, width: 1360, height: 768, frames: 81, fps: 16};

  let base: ModelReport['base'];
  if (family !== 'unknown' && (kind !== 'checkpoint' || comps.missing.length > 0)) {
    base = {family, suggested: suggestedRepo(family, kind === 'checkpoint' ? variants : [])};
  }

  const security = securityOf(facts);
  for (const f of facts.files) if (f.pickle?.findings.length) warnings.push(`${f.path}: pickle references ${f.pickle.findings.map((x) => x.global).join(', ')}`);

  return {
    source,
    format: formatOf(facts),
    kind,
    family,
    variants,
    precision: prec.precision,
    parameters: prec.parameters,
    files: allFiles.map((f) => ({path: f.path, size: f.size, format: f.format, dtypes: dtypeCounts(f)})),
    components: comps.components,
    missing: comps.missing,
    ...(base ? {base} : {}),
    ...(w?.requires?.length ? {requires: w.requires} : {}),
    pipeline,
    task,
    ...(w?.format ? {adapter_format: w.format} : {}),
    ...(w?.prediction ? {prediction: w.prediction} : {}),
    defaults,
    memory: {
      weights_bytes: prec.weightsBytes,
      estimated_peak_vram_bytes: estimatePeakVram({family, kind, parameters: prec.parameters, weightsBytes: prec.weightsBytes, quantized: prec.quantized}),
    },
    security,
    metadata: facts.metadata,
    evidence,
    warnings: [...new Set(warnings)],
  };
}
