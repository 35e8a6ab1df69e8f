// Image upscalers, as spandrel (the loader `mgen upscale` runs them with) tells them apart: ESRGAN / Real-ESRGAN
// (BasicSR `conv_first` + `body.N.rdb1`, the original `model.1.sub.N.RDB1`, BSRGAN's `RRDB_trunk`), SwinIR and
// Swin2SR (`layers.N.residual_group.blocks`), HAT (SwinIR's layout plus `overlap_attn` and the root
// `relative_position_index_SA`), DAT (`before_RG` + `layers.N.blocks.N.attn.attns`). Often wrapped in `params_ema` /
// `params`. The scale (x1..x8) is read from the upsampling layers where they show it.
import type {Facts} from '../types.js';
import type {Rule, RuleMatch} from '../rule-types.js';
import {rootView, type KeyView} from '../analyze/keys.js';

const WRAPPERS = ['params_ema.', 'params-ema.', 'params.', 'state_dict.', 'model.', 'net.'];

/** x2^n from ESRGAN's upsampling convs, divided by the Real-ESRGAN pixel-unshuffle that in-channels 12 / 48 mean. */
function rrdbScale(ups: number, inCh: number | undefined, outCh: number | undefined): number | undefined {
  if (inCh === undefined) return undefined;
  const out = outCh ?? 3;
  const unshuffle = inCh === out * 4 ? 2 : inCh === out * 16 ? 4 : 1;
  return 2 ** ups / unshuffle;
}

/** The factor of a transformer SR model's upsampler: pixelshuffle stages, a direct pixelshuffle, or nearest+conv. */
function transformerScale(v: KeyView): number | undefined {
  if (v.has('conv_up1.weight')) return 2 ** v.count(/^conv_up\d+\.weight$/);
  if (v.has('conv_before_upsample.0.weight')) {
    let scale = 1;
    for (let i = 0; i < 10; i += 2) {
      const s = v.shape(`upsample.${i}.weight`);
      if (!s || s.length < 2) break;
      scale *= Math.floor(Math.sqrt(Math.floor(s[0]! / s[1]!)));
    }
    return scale;
  }
  const direct = v.dim('upsample.0.weight', 0);
  const inCh = v.dim('conv_first.weight', 1);
  return direct !== undefined && inCh ? Math.round(Math.sqrt(direct / inCh)) : undefined;
}

export function matchUpscaler(facts: Facts): RuleMatch | null {
  const root = rootView(facts);
  const wrap = WRAPPERS.find((p) => root.countPrefix(p) > root.size * 0.9 && (root.sub(p).has('conv_first.weight') || root.sub(p).has('model.0.weight')));
  const v = wrap ? root.sub(wrap) : root;
  const w = wrap ?? '';
  const evidence: string[] = [];
  const variants: string[] = [];
  let scale: number | undefined;
  const hasFirst = v.has('conv_first.weight') || v.has('conv_first.1.weight');
  if (v.has('conv_first.weight') && (v.find(/^body\.\d+\.rdb1\.conv1\.weight$/) || v.has('RRDB_trunk.0.RDB1.conv1.weight'))) {
    variants.push('esrgan');
    const layout = v.has('RRDB_trunk.0.RDB1.conv1.weight') ? 'RRDB_trunk.N.RDB1.* (BSRGAN / RealSR)' : 'body.N.rdb1.* (RRDB)';
    evidence.push(`${w}${v.describe('conv_first.weight')} + ${layout}`);
    scale = rrdbScale(v.count(/^(conv_up|upconv)\d+\.weight$/), v.dim('conv_first.weight', 1), v.dim('conv_last.weight', 0));
  } else if (v.find(/^model\.1\.sub\.\d+\.RDB1\.conv1(x1)?(\.0)?\.weight$/) && v.has('model.0.weight')) {
    variants.push('esrgan');
    evidence.push(`${w}model.1.sub.N.RDB1.* (original ESRGAN layout)`);
    // model.0, model.1 (trunk), then per x2 [upsample, conv, act], then conv, act, conv: length 5 + 3 per x2.
    const last = v.maxIndex('model.');
    scale = rrdbScale(Math.floor((last + 1 - 5) / 3), v.dim('model.0.weight', 1), v.dim(`model.${last}.weight`, 0));
  } else if (hasFirst && v.has('relative_position_index_SA') && v.find(/^layers\.\d+\.residual_group\.overlap_attn\./)) {
    variants.push('hat');
    evidence.push(`${w}conv_first + relative_position_index_SA + layers.N.residual_group.overlap_attn.* (HAT)`);
    scale = transformerScale(v);
  } else if (hasFirst && v.has('before_RG.1.weight') && v.find(/^layers\.\d+\.blocks\.\d+\.attn\.attns\./)) {
    variants.push('dat');
    evidence.push(`${w}conv_first + before_RG + layers.N.blocks.N.attn.attns.* (DAT)`);
    scale = transformerScale(v);
  } else if (hasFirst && v.find(/^layers\.\d+\.residual_group\.blocks\./)) {
    const swin2 = v.has('patch_embed.proj.weight');
    variants.push(swin2 ? 'swin2sr' : 'swinir');
    evidence.push(`${w}conv_first + layers.N.residual_group.blocks.*${swin2 ? ' + patch_embed.proj' : ''} (${swin2 ? 'Swin2SR' : 'SwinIR'})`);
    scale = transformerScale(v);
  } else return null;
  if (scale !== undefined && Number.isInteger(scale) && scale >= 1 && scale <= 8) variants.push(`x${scale}`);
  return {rule: 'upscaler', kind: 'upscaler', family: 'unknown', variants, specificity: 70, evidence, task: 'upscale'};
}

export const upscalerRule: Rule = {id: 'upscaler', match: matchUpscaler};
