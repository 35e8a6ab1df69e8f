// Runs every rule on the facts and resolves disagreements by specificity. Adding a family or kind means
// adding its rule module to RULES; nothing here knows about any family.
import type {Evidence, Facts} from './types.js';
import type {Rule, RuleMatch} from './rule-types.js';
import {sd1Rule} from './rules/sd1.js';
import {sd2Rule} from './rules/sd2.js';
import {sdxlRule} from './rules/sdxl.js';
import {sdxlRefinerRule} from './rules/sdxl-refiner.js';
import {kolorsRule} from './rules/kolors.js';
import {sd3Rule} from './rules/sd3.js';
import {fluxRule} from './rules/flux.js';
import {flux2Rule} from './rules/flux2.js';
import {chromaRule} from './rules/chroma.js';
import {cascadeRule} from './rules/cascade.js';
import {pixartRule} from './rules/pixart.js';
import {auraflowRule} from './rules/auraflow.js';
import {hunyuanDitRule} from './rules/hunyuandit.js';
import {sanaRule} from './rules/sana.js';
import {lumina2Rule} from './rules/lumina2.js';
import {qwenImageRule} from './rules/qwen-image.js';
import {cogVideoXRule} from './rules/cogvideox.js';
import {ltxvRule} from './rules/ltxv.js';
import {wanRule} from './rules/wan.js';
import {hunyuanVideoRule} from './rules/hunyuanvideo.js';
import {loraRule} from './rules/lora.js';
import {textualInversionRule} from './rules/textual-inversion.js';
import {hypernetworkRule} from './rules/hypernetwork.js';
import {aestheticRule} from './rules/aesthetic.js';
import {controlnetRule} from './rules/controlnet.js';
import {t2iAdapterRule} from './rules/t2i-adapter.js';
import {ipAdapterRule} from './rules/ip-adapter.js';
import {vaeRule} from './rules/vae.js';
import {textEncoderRule} from './rules/text-encoder.js';
import {clipVisionRule} from './rules/clip-vision.js';
import {upscalerRule} from './rules/upscaler.js';

export const RULES: readonly Rule[] = [
  sd1Rule, sd2Rule, sdxlRule, sdxlRefinerRule, kolorsRule, sd3Rule, fluxRule, flux2Rule, chromaRule, cascadeRule,
  pixartRule, auraflowRule, hunyuanDitRule, sanaRule, lumina2Rule, qwenImageRule, cogVideoXRule, ltxvRule, wanRule,
  hunyuanVideoRule, loraRule, textualInversionRule, hypernetworkRule, aestheticRule, controlnetRule, t2iAdapterRule, ipAdapterRule,
  vaeRule, textEncoderRule, clipVisionRule, upscalerRule,
];

export interface Conclusion {
  /** The most specific claim, or null when no rule matched. */
  winner: RuleMatch | null;
  /** Every claim, most specific first. */
  claims: RuleMatch[];
  evidence: Evidence[];
  warnings: string[];
}

const claimOf = (m: RuleMatch) => `kind=${m.kind} family=${m.family}${m.variants.length ? ` variants=${m.variants.join(',')}` : ''}`;

export function runRules(facts: Facts, rules: readonly Rule[] = RULES): Conclusion {
  const claims: RuleMatch[] = [];
  const warnings: string[] = [];
  for (const rule of rules) {
    let m: RuleMatch | null;
    try {
      m = rule.match(facts);
    } catch (err) {
      // A rule bug must not hide what the other rules found.
      warnings.push(`rule ${rule.id} failed: ${(err as Error).message}`);
      continue;
    }
    if (m) claims.push(m);
  }
  claims.sort((a, b) => b.specificity - a.specificity);
  const winner = claims[0] ?? null;
  const evidence: Evidence[] = [];
  if (winner) evidence.push({rule: winner.rule, claim: claimOf(winner), facts: winner.evidence});
  for (const c of claims.slice(1)) {
    const same = c.kind === winner!.kind && c.family === winner!.family;
    if (!same && c.specificity === winner!.specificity) {
      warnings.push(`ambiguous: rule ${winner!.rule} (${winner!.kind}/${winner!.family}) and rule ${c.rule} (${c.kind}/${c.family}) are equally specific`);
    }
    evidence.push({rule: c.rule, claim: `${claimOf(c)} (lost: specificity ${c.specificity} < ${winner!.specificity})`, facts: c.evidence});
  }
  return {winner, claims, evidence, warnings};
}
