// LTX-Video: `patchify_proj` + `adaln_single` + `transformer_blocks.N.scale_shift_table` (original layout) or
// diffusers LTXVideoTransformer3DModel; 48 blocks = 0.9.7 13B. The file's `config` metadata (JSON) is evidence too.
import type {Facts} from '../types.js';
import type {Rule, RuleMatch} from '../rule-types.js';
import {classEvidence, ditView, ggufEvidence} from '../analyze/dit.js';
import {pipelineClass} from '../analyze/keys.js';

export function matchLtxv(facts: Facts): RuleMatch | null {
  const v = ditView(facts);
  const evidence: string[] = [];
  const variants: string[] = [];
  let specificity = 0;
  const anchor = v.has('patchify_proj.weight') ? 'patchify_proj.weight' : undefined;
  if (anchor && v.hasPrefix('adaln_single.')) {
    specificity = 55;
    evidence.push(v.describe(anchor));
  } else if (v.has('proj_in.weight') && v.hasPrefix('adaln_single.') && v.has('transformer_blocks.0.scale_shift_table') && v.hasPrefix('caption_projection.')) {
    specificity = 50;
    evidence.push(v.describe('proj_in.weight'), 'adaln_single.* + transformer_blocks.*.scale_shift_table (diffusers LTX layout)');
  }
  if (specificity > 0) {
    const depth = v.maxIndex('transformer_blocks.') + 1;
    evidence.push(`${depth} transformer_blocks`);
    if (depth >= 48) variants.push('13b');
    if (v.hasPrefix('audio_') || v.find(/av_ca_a2v/)) variants.push('ltx2');
  }
  const cls = classEvidence(facts, /^(LTX\w*Pipeline|LTXVideoTransformer3DModel)$/);
  if (cls) {
    evidence.push(cls);
    specificity = Math.max(specificity, 50);
  }
  const gguf = ggufEvidence(facts, ['ltxv']);
  if (gguf) {
    evidence.push(gguf);
    specificity = Math.max(specificity, 40);
  }
  if (specificity === 0) return null;
  // Text-to-video and image-to-video share every weight: only the pipeline class tells them apart.
  if (/ImageToVideo/.test(pipelineClass(facts) ?? '')) variants.push('i2v');
  if (facts.metadata.config && /transformer|ltx/i.test(facts.metadata.config.slice(0, 2000))) evidence.push('safetensors metadata `config` (LTX release config JSON)');
  return {rule: 'ltxv', kind: 'checkpoint', family: 'ltxv', variants, specificity, evidence, prediction: 'flow'};
}

export const ltxvRule: Rule = {id: 'ltxv', match: matchLtxv};
