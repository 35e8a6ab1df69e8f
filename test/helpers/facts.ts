// Builds Facts in memory from tensor specs and configs, so rule tests need no files.
import type {ComponentFacts, Facts, FileFacts} from '../../src/detect/types.js';
import type {TensorSpec} from './safetensors-writer.js';

export interface FactsOpts {
  name?: string;
  metadata?: Record<string, string>;
  config?: Record<string, unknown>;
  modelIndex?: Record<string, unknown>;
  components?: Array<{name: string; library?: string | null; className?: string | null; config?: Record<string, unknown>; tensors?: TensorSpec[]; indexKeys?: string[]}>;
  format?: FileFacts['format'];
}

export function factsFrom(tensors: TensorSpec[], o: FactsOpts = {}): Facts {
  const file: FileFacts = {path: o.name ?? 'model.safetensors', size: 1000, format: o.format ?? 'safetensors', tensors: tensors.map((t) => ({...t})), metadata: o.metadata ?? {}, warnings: []};
  const components: ComponentFacts[] = (o.components ?? []).map((c) => ({
    name: c.name, library: c.library ?? 'diffusers', className: c.className ?? null, config: c.config, present: true,
    files: c.tensors ? [{path: `${c.name}/diffusion_pytorch_model.safetensors`, size: 1000, format: 'safetensors', tensors: c.tensors, metadata: {}, warnings: []}] : [],
    ...(c.indexKeys ? {indexKeys: c.indexKeys} : {}),
  }));
  return {
    layout: o.modelIndex ? 'diffusers' : o.config ? 'component-folder' : 'file',
    name: o.name ?? 'model.safetensors',
    files: tensors.length ? [file] : [],
    tensors: new Map(file.tensors.map((t) => [t.name, t])),
    metadata: o.metadata ?? {},
    components,
    ...(o.config ? {config: o.config} : {}),
    ...(o.modelIndex ? {modelIndex: o.modelIndex} : {}),
    warnings: [],
  };
}
