// What a detection rule returns, and the registry's shape. Rules are pure: Facts in, RuleMatch out.
import type {Facts, Family, Kind, Requirement, Task} from './types.js';

export type Prediction = 'epsilon' | 'v' | 'edm' | 'flow' | 'unknown';

export interface RuleMatch {
  /** The rule's id (its file name). */
  rule: string;
  kind: Kind;
  /** For adapters (lora, controlnet, ...) this is the base family they need. */
  family: Family;
  variants: string[];
  /** Higher wins when rules disagree: a specific anchor beats a generic one. */
  specificity: number;
  /** The facts the conclusion rests on: key names with shapes, config values, metadata. */
  evidence: string[];
  warnings?: string[];
  /** Diffusers pipeline class when the rule knows better than the family table (e.g. model_index). */
  pipeline?: string;
  task?: Task;
  /** For all-in-one and diffusers checkpoints: components found and expected-but-absent. */
  components?: {present: string[]; missing: string[]};
  /** LoRA / adapter sub-format (kohya, peft, lycoris-lokr, xlabs, ...). */
  format?: string;
  prediction?: Prediction;
  /** Models it needs beside its base (an IP-Adapter's image encoder). */
  requires?: Requirement[];
}

export interface Rule {
  id: string;
  match(facts: Facts): RuleMatch | null;
}
