// Textual-inversion embeddings: A1111 `.pt` (`string_to_param.*`), safetensors `emb_params`, SDXL
// `clip_l` + `clip_g` pairs, diffusers `learned_embeds` ({token: [dim]}). Base from the token width.
import type {Facts, Family} from '../types.js';
import type {Rule, RuleMatch} from '../rule-types.js';
import {rootView} from '../analyze/keys.js';

const WIDTH_FAMILY: Record<number, Family> = {768: 'sd1', 1024: 'sd2'};

export function matchTextualInversion(facts: Facts): RuleMatch | null {
  const v = rootView(facts);
  if (v.size === 0 || v.size > 16) return null;
  const evidence: string[] = [];
  let family: Family | undefined;
  let specificity = 75;
  let vectors: number | undefined;
  if (v.has('clip_g') && v.has('clip_l')) {
    family = 'sdxl';
    evidence.push(v.describe('clip_l'), v.describe('clip_g'));
    vectors = v.dim('clip_g', 0);
  } else {
    const key = v.find(/^string_to_param\.[^.]+$/) ?? (v.has('emb_params') ? 'emb_params' : undefined);
    if (key) {
      const s = v.shape(key);
      if (!s) return null;
      const width = s[s.length - 1]!;
      vectors = s.length > 1 ? s[0] : 1;
      family = WIDTH_FAMILY[width];
      evidence.push(`${v.describe(key)}: ${vectors} vector(s) of width ${width}`);
      if (!family) return {rule: 'textual-inversion', kind: 'textual-inversion', family: 'unknown', variants: [], specificity, evidence, warnings: [`token width ${width} matches no known text encoder`]};
    } else {
      // diffusers learned_embeds: a few 1-D (or [1, d]) tensors named after their tokens, all one width.
      const shapes = v.names.map((n) => v.shape(n));
      const widths = new Set(shapes.map((s) => (s ? s[s.length - 1] : undefined)));
      const small = shapes.every((s) => s && s.length <= 2 && (s.length === 1 || s[0]! <= 75));
      const [w] = [...widths];
      if (!small || widths.size !== 1 || w === undefined || !WIDTH_FAMILY[w] || v.size > 8) return null;
      if (v.names.some((n) => n.includes('.'))) return null; // module paths: not token names
      family = WIDTH_FAMILY[w];
      specificity = 60;
      evidence.push(`${v.size} token tensor(s) of width ${w} (${v.names.slice(0, 3).join(', ')})`);
    }
  }
  return {rule: 'textual-inversion', kind: 'textual-inversion', family: family!, variants: vectors !== undefined ? [`${vectors}-vectors`] : [], specificity, evidence};
}

export const textualInversionRule: Rule = {id: 'textual-inversion', match: matchTextualInversion};
