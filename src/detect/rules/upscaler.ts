// Image upscalers (spandrel-style): ESRGAN / Real-ESRGAN (new `conv_first` + `body.N.rdb1` or old
// `model.1.sub.N.RDB1`), SwinIR (`layers.N.residual_group`). Often wrapped in `params_ema` / `params`.
import type {Facts} from '../types.js';
import type {Rule, RuleMatch} from '../rule-types.js';
import {rootView} from '../analyze/keys.js';

export function matchUpscaler(facts: Facts): RuleMatch | null {
  const root = rootView(facts);
  const wrap = ['params_ema.', 'params.', 'state_dict.', 'model.'].find((p) => root.countPrefix(p) > root.size * 0.9 && root.sub(p).has('conv_first.weight'));
  const v = wrap ? root.sub(wrap) : root;
  const evidence: string[] = [];
  const variants: string[] = [];
  if (v.has('conv_first.weight') && v.find(/^body\.\d+\.rdb1\.conv1\.weight$/)) {
    variants.push('esrgan');
    const inDim = v.dim('conv_first.weight', 1);
    evidence.push(`${wrap ?? ''}conv_first.weight ${JSON.stringify(v.shape('conv_first.weight'))} + body.N.rdb1.* (RRDB)`);
    // Real-ESRGAN packs pixels before the trunk: 3 in = x4, 12 in = x2 (2x2 unshuffle), 48 in = x1.
    const scale = inDim === 12 ? 'x2' : inDim === 48 ? 'x1' : inDim === 3 ? 'x4' : undefined;
    if (scale) variants.push(scale);
  } else if (v.find(/^model\.1\.sub\.\d+\.RDB1\.conv1\.0\.weight$/) && v.has('model.0.weight')) {
    variants.push('esrgan');
    evidence.push('model.1.sub.N.RDB1.* (old ESRGAN layout)');
  } else if (v.has('conv_first.weight') && v.find(/^layers\.\d+\.residual_group\.blocks\./)) {
    variants.push('swinir');
    evidence.push('conv_first + layers.N.residual_group.blocks.* (SwinIR)');
  } else return null;
  return {rule: 'upscaler', kind: 'upscaler', family: 'unknown', variants, specificity: 70, evidence, task: 'upscale'};
}

export const upscalerRule: Rule = {id: 'upscaler', match: matchUpscaler};
