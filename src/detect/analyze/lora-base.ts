// Base family of a LoRA from its module names and the widths it adapts (REFERENCE §3 shape cues).
// Each check is a small table entry: a name pattern over canonical module names plus an optional width test.
import type {Family} from '../types.js';
import type {KeyView} from './keys.js';
import {canonicalModule, moduleInDim, type BaseGuess, type LoraFacts} from './lora.js';

interface Mod {
  part: string;
  name: string;
  keys: string[];
}

/** FLUX.2 hidden sizes wider than FLUX.1's 3072 (klein 9B, dev). */
const FLUX2_HIDDEN = new Set([4096, 6144]);
const ATTN2_CONTEXT: Record<number, Family> = {768: 'sd1', 1024: 'sd2', 2048: 'sdxl', 1280: 'sdxl-refiner'};

export function inferLoraBase(v: KeyView, lf: LoraFacts): BaseGuess | null {
  const mods: Mod[] = [];
  for (const [m, keys] of lf.modules) {
    const c = canonicalModule(m);
    mods.push({part: c.part, name: c.name, keys});
  }
  const den = mods.filter((m) => m.part === 'denoiser');
  const any = (re: RegExp) => den.find((m) => re.test(m.name));
  const width = (m: Mod | undefined) => (m ? moduleInDim(v, m.keys) : undefined);
  const ev = (m: Mod, what: string) => `${m.keys[0]}${width(m) !== undefined ? ` (in ${width(m)})` : ''}: ${what}`;

  // HunyuanVideo reuses double/single block names with its own sub-module names.
  const hv = any(/^double_blocks_\d+_(img_mlp_fc[12]|img_mod_linear|img_attn_q_norm)|^single_blocks_\d+_modulation_linear|individual_token_refiner/);
  if (hv) return {family: 'hunyuanvideo', evidence: [ev(hv, 'HunyuanVideo block names')], strength: 2};

  const flux2 = any(/(double|single)_stream_modulation|to_qkv_mlp_proj/);
  if (flux2) return {family: 'flux2', evidence: [ev(flux2, 'FLUX.2 shared stream modulation')], strength: 3};

  const bfl = any(/^double_blocks_\d+_(img|txt)_(attn|mlp|mod)|^single_blocks_\d+_(linear[12]|modulation_lin)|^double_blocks_\d+_processor/);
  if (bfl) {
    const qkv = any(/^double_blocks_\d+_img_attn_qkv$/);
    const w = width(qkv);
    if (w !== undefined && FLUX2_HIDDEN.has(w)) return {family: 'flux2', evidence: [ev(qkv!, 'FLUX.2-wide double blocks')], strength: 3};
    return {family: 'flux', evidence: [ev(bfl, 'FLUX.1 double/single stream blocks (BFL names)')], strength: w === 3072 ? 3 : 2};
  }

  const single = any(/^single_transformer_blocks_\d+_/);
  if (single) {
    const w = width(single);
    if (w !== undefined && FLUX2_HIDDEN.has(w)) return {family: 'flux2', evidence: [ev(single, 'FLUX.2-wide single_transformer_blocks')], strength: 3};
    return {family: 'flux', evidence: [ev(single, 'single_transformer_blocks (diffusers FLUX names)')], strength: w === 3072 ? 3 : 2};
  }

  const qwen = any(/^transformer_blocks_\d+_(img_mod|txt_mod|img_mlp|txt_mlp)/) ?? any(/^(txt_norm|img_in|txt_in)$/);
  if (qwen) return {family: 'qwen-image', evidence: [ev(qwen, 'Qwen-Image block names (img_mod/txt_mlp)')], strength: 3};

  const joint = any(/^joint_blocks_\d+_(x|context)_block/);
  if (joint) return {family: 'sd3', evidence: [ev(joint, 'SD3 MMDiT joint_blocks')], strength: 3};

  const tb = any(/^transformer_blocks_\d+_attn_(to_[kqv]|add_[kqv]_proj|to_out)/);
  if (tb) {
    const w = width(tb);
    const maxBlock = Math.max(...den.map((m) => Number(/^transformer_blocks_(\d+)_/.exec(m.name)?.[1] ?? -1)));
    if (w === 1536 || w === 2432) return {family: 'sd3', evidence: [ev(tb, `MMDiT transformer_blocks at width ${w} (SD3)`)], strength: 3};
    if (w === 3072) {
      const fluxOnly = any(/^transformer_blocks_\d+_(ff_context|norm1_context|norm1_linear)/);
      if (fluxOnly && maxBlock < 19) return {family: 'flux', evidence: [ev(fluxOnly, 'FLUX double-stream block names, width 3072')], strength: 2};
      const warnings = maxBlock >= 19 ? [] : ['only transformer_blocks at width 3072 and no single-stream blocks: Qwen-Image (a FLUX LoRA limited to double blocks would look the same)'];
      return {family: 'qwen-image', evidence: [ev(tb, `transformer_blocks at width 3072 without single-stream blocks (max block ${maxBlock})`)], strength: maxBlock >= 19 ? 3 : 2, warnings};
    }
  }

  // Wan (original names: self_attn/cross_attn q,k,v,o and ffn.0/2; diffusers: attn1/attn2 + ffn.net).
  const wan = any(/^blocks_\d+_(self_attn|cross_attn)_[qkvo]$|^blocks_\d+_ffn_[02]$|^blocks_\d+_attn[12]_to_[kqv]$|^blocks_\d+_ffn_net_/);
  if (wan) {
    const w = width(wan);
    if (w === undefined || [1536, 3072, 5120].includes(w)) return {family: 'wan', evidence: [ev(wan, 'Wan block names')], strength: w === undefined ? 2 : 3};
  }

  const lumina = any(/^layers_\d+_(attention_(qkv|out)|attn_to_[kqv])$/);
  if (lumina && width(lumina) === 2304) return {family: 'lumina2', evidence: [ev(lumina, 'NextDiT layers at width 2304 (Lumina 2)')], strength: 3};

  return sdUnetBase(mods, v, width, ev);
}

/** SD-family UNet LoRAs: attn2 key/value width, text-encoder widths, then UNet structure. */
function sdUnetBase(mods: Mod[], v: KeyView, width: (m: Mod | undefined) => number | undefined, ev: (m: Mod, what: string) => string): BaseGuess | null {
  const den = mods.filter((m) => m.part === 'denoiser');
  const attn2 = den.filter((m) => /attn2_to_[kv]$/.test(m.name));
  for (const m of attn2) {
    const w = width(m);
    if (w !== undefined && ATTN2_CONTEXT[w]) return {family: ATTN2_CONTEXT[w], evidence: [ev(m, `cross-attention input ${w}`)], strength: 3};
  }
  const te = mods.filter((m) => m.part !== 'denoiser' && /self_attn_[qk]_proj$/.test(m.name));
  const te1 = te.find((m) => m.part === 'te1' || m.part === 'te');
  const te2 = te.find((m) => m.part === 'te2');
  const unetish = den.some((m) => /^(down|up|mid)_blocks?_|^(input|output|middle)_blocks?_/.test(m.name));
  if (te1 && te2) return {family: 'sdxl', evidence: [ev(te1, 'CLIP-L'), ev(te2, 'second text encoder (bigG)')], strength: 3};
  if (te1 && (te1.part === 'te' || unetish)) {
    const w = width(te1);
    if (w === 768) return {family: 'sd1', evidence: [ev(te1, 'CLIP-L text encoder 768')], strength: 3};
    if (w === 1024) return {family: 'sd2', evidence: [ev(te1, 'OpenCLIP-H text encoder 1024')], strength: 3};
    if (w === 1280) return {family: 'sdxl', evidence: [ev(te1, 'bigG text encoder 1280')], strength: 2};
  }
  // UNet-only SDXL LoRAs (sliders): SDXL's 10-deep transformer stacks exist nowhere in SD1/SD2.
  const deep = den.find((m) => /^(input_blocks_[78]_1|output_blocks_[0-2]_1|middle_block_1|down_blocks_2_attentions_\d|up_blocks_0_attentions_\d|mid_block_attentions_0)_transformer_blocks_[2-9]_/.test(m.name));
  if (deep) return {family: 'sdxl', evidence: [ev(deep, 'transformer depth > 2 (SDXL UNet structure)')], strength: 2};
  const projIn = den.find((m) => /_proj_in$/.test(m.name));
  if (projIn) {
    const down = projIn.keys.find((k) => /lora_(down|A)/.test(k));
    const rank = down ? v.shape(down)?.length : undefined;
    if (rank === 4) return {family: 'sd1', evidence: [`${down}: conv proj_in (SD1 UNet)`], strength: 2, warnings: ['base from the UNet layout only (no cross-attention or text-encoder widths)']};
  }
  if (unetish) return null;
  return null;
}
