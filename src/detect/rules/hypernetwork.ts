// A1111 hypernetworks: a pickled dict whose top-level keys are attention widths (integers 320..1280), each
// holding a pair of small MLP stacks (`linear.N.weight`). Base from the widths (768 SD1, 1024 SD2).
import type {Facts, Family} from '../types.js';
import type {Rule, RuleMatch} from '../rule-types.js';
import {rootView} from '../analyze/keys.js';

export function matchHypernetwork(facts: Facts): RuleMatch | null {
  const v = rootView(facts);
  if (v.size === 0) return null;
  const keyed = v.filter(/^(\d{3,4})\.(\d+\.)?(linear\.)?\d+\.(weight|bias)$|^(\d{3,4})\.\d+\.linear\.\d+\.(weight|bias)$/);
  if (keyed.length < v.size * 0.8) return null;
  const widths = [...new Set(keyed.map((k) => Number(k.split('.')[0])))].sort((a, b) => a - b);
  if (!widths.every((w) => [320, 640, 768, 1024, 1280, 2048].includes(w))) return null;
  const family: Family = widths.includes(1024) ? 'sd2' : widths.includes(2048) ? 'sdxl' : widths.includes(768) ? 'sd1' : 'unknown';
  const evidence = [`integer-keyed layer stacks for widths ${widths.join(', ')} (e.g. ${keyed[0]})`];
  for (const k of ['name', 'layer_structure', 'activation_func', 'sd_checkpoint_name']) if (facts.metadata[k]) evidence.push(`${k}=${facts.metadata[k]}`);
  return {rule: 'hypernetwork', kind: 'hypernetwork', family, variants: [], specificity: 75, evidence, task: 'text-to-image'};
}

export const hypernetworkRule: Rule = {id: 'hypernetwork', match: matchHypernetwork};
