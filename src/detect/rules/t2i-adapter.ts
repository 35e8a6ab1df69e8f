// T2I-Adapters (TencentARC): `adapter.body.*` / `body.N.*` with a pixel-unshuffled `conv_in`, or config
// T2IAdapter. `full_adapter_xl` / a 768-wide conv_in (3 x 16 x 16 unshuffle; 256 for one-channel sketch) = SDXL.
// When neither says (a conv_in width no released adapter has), SAI ModelSpec metadata may (supporting evidence).
import type {Facts, Family} from '../types.js';
import type {Rule, RuleMatch} from '../rule-types.js';
import {configClass, rootView} from '../analyze/keys.js';
import {metadataHint} from '../analyze/metadata.js';

export function matchT2iAdapter(facts: Facts): RuleMatch | null {
  const root = rootView(facts);
  const v = root.hasPrefix('adapter.') ? root.sub('adapter.') : root;
  const evidence: string[] = [];
  let family: Family | undefined;
  const keyed = v.has('conv_in.weight') && v.hasPrefix('body.') && v.size < 200 && !v.hasPrefix('down_blocks.') && !v.hasPrefix('encoder.');
  if (keyed) {
    const inDim = v.dim('conv_in.weight', 1);
    evidence.push(`${v.describe('conv_in.weight')} + body.* (T2I-Adapter)`);
    if (inDim === 768 || inDim === 256) family = 'sdxl';
    else if (inDim === 192 || inDim === 64) family = 'sd1';
  }
  const cls = configClass(facts.config);
  if (cls === 'T2IAdapter' || cls === 'MultiAdapter') {
    const type = facts.config?.adapter_type;
    evidence.push(`config.json class ${cls}${typeof type === 'string' ? `, adapter_type=${type}` : ''}`);
    if (typeof type === 'string') family = /_xl$/.test(type) ? 'sdxl' : family ?? 'sd1';
  }
  if (evidence.length === 0) return null;
  const hint = family ? null : metadataHint(facts);
  if (hint && (hint.family === 'sd1' || hint.family === 'sd2' || hint.family === 'sdxl')) {
    family = hint.family;
    evidence.push(hint.evidence);
  }
  const warnings = family === 'sd1' ? ['SD1 and SD2 T2I-Adapters have the same shapes; SD1.5 assumed'] : [];
  return {rule: 't2i-adapter', kind: 't2i-adapter', family: family ?? 'unknown', variants: [], specificity: 80, evidence, warnings};
}

export const t2iAdapterRule: Rule = {id: 't2i-adapter', match: matchT2iAdapter};
