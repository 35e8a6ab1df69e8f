// LoRA and LyCORIS adapters in every common key format (kohya, diffusers/PEFT incl. `base_model.model.`,
// LoHa, LoKr, DoRA, OneTrainer, ai-toolkit, XLabs, BFL control / LoKr). The family reported is the base
// the adapter needs, inferred from module names and widths; metadata supports it or is overruled with a warning.
import type {Facts} from '../types.js';
import type {Rule, RuleMatch} from '../rule-types.js';
import {rootView} from '../analyze/keys.js';
import {loraFacts} from '../analyze/lora.js';
import {inferLoraBase} from '../analyze/lora-base.js';
import {metadataHint} from '../analyze/metadata.js';

export function matchLora(facts: Facts): RuleMatch | null {
  const lf = loraFacts(facts);
  if (!lf) return null;
  const evidence = [...lf.evidence, `format ${lf.format}`];
  const warnings: string[] = [];
  const base = inferLoraBase(rootView(facts), lf);
  const hint = metadataHint(facts);
  let family = base?.family ?? 'unknown';
  if (base) {
    evidence.push(...base.evidence);
    warnings.push(...(base.warnings ?? []));
  }
  if (hint) {
    evidence.push(hint.evidence);
    if (!base) family = hint.family;
    else if (hint.family !== base.family) {
      // FLUX and Chroma share key names: metadata may choose between them; otherwise the tensors win.
      if (base.family === 'flux' && hint.family === 'chroma') family = 'chroma';
      else warnings.push(`metadata says ${hint.family} but the tensors say ${base.family}: trusting the tensors`);
    }
  }
  if (family === 'unknown') warnings.push('base model not recognized from the LoRA key names and widths');
  return {rule: 'lora', kind: 'lora', family, variants: lf.variants, specificity: 80, evidence, warnings, format: lf.format};
}

export const loraRule: Rule = {id: 'lora', match: matchLora};
