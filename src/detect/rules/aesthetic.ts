// Aesthetic-gradient embeddings (the A1111 extension vicgalle/stable-diffusion-aesthetic-gradients): a pickle that
// is one bare tensor, [1, D] or [D], the mean CLIP image embedding of a set of pictures. D is the CLIP projection
// width: 768 for ViT-L/14, the CLIP of SD1 (the extension's only base). Generating tunes that CLIP model's text tower.
// A bare tensor is no textual-inversion layout (those are dicts), so this beats the TI rule's small-dict fallback.
import type {Facts, Family} from '../types.js';
import type {Rule, RuleMatch} from '../rule-types.js';
import {rootView} from '../analyze/keys.js';

/** The CLIP model (with projection) an embedding of this width was made with, and the base family it serves. */
export const AESTHETIC_CLIPS: Record<number, {clip: string; family: Family}> = {768: {clip: 'openai/clip-vit-large-patch14', family: 'sd1'}};

export function matchAesthetic(facts: Facts): RuleMatch | null {
  const v = rootView(facts);
  if (v.size !== 1 || !v.has('tensor') || !facts.files.every((f) => f.format === 'pickle')) return null;
  const s = v.shape('tensor');
  if (!s || !(s.length === 1 || (s.length === 2 && s[0] === 1))) return null;
  const width = s[s.length - 1]!;
  const known = AESTHETIC_CLIPS[width];
  const evidence = [`one bare tensor ${JSON.stringify(s)} in a pickle: a CLIP image embedding of width ${width}`];
  const warnings = known
    ? [`needs ${known.clip} (the CLIP model it was made with); generate pulls it like a base`]
    : [`width ${width} is no CLIP projection mgen knows; pass --aesthetic-clip MODEL_ID when generating`];
  if (known) evidence.push(`width ${width} = ${known.clip} projection`);
  return {rule: 'aesthetic', kind: 'aesthetic-embedding', family: known?.family ?? 'unknown', variants: [], specificity: 80, evidence, warnings, task: 'text-to-image'};
}

export const aestheticRule: Rule = {id: 'aesthetic', match: matchAesthetic};
