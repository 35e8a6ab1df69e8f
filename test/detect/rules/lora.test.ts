import {describe, expect, test} from '@jest/globals';
import {runRules} from '../../../src/detect/registry.js';
import {matchLora} from '../../../src/detect/rules/lora.js';
import {factsFrom} from '../../helpers/facts.js';
import * as a from '../../helpers/fixtures/adapters.js';
import {sdCheckpoint} from '../../helpers/fixtures/sd.js';

describe('LoRA rule: format and base family', () => {
  test.each([
    ['kohya SD1', a.kohyaSd('sd1'), 'sd1', 'kohya', []],
    ['kohya SD2 (UNet only)', a.kohyaSd('sd2', 'kohya', false), 'sd2', 'kohya', []],
    ['LyCORIS LoHa SD1', a.kohyaSd('sd1', 'loha'), 'sd1', 'lycoris-loha', ['loha']],
    ['kohya SDXL te1+te2', a.kohyaSdxl(), 'sdxl', 'kohya', []],
    ['SDXL slider (UNet only, no attn2)', a.kohyaSdxl(false, false), 'sdxl', 'kohya', []],
    ['kohya FLUX', a.kohyaFlux(), 'flux', 'kohya', []],
    ['kohya FLUX with CLIP-L and T5', a.kohyaFlux('te1+te3'), 'flux', 'kohya', []],
    ['diffusers FLUX', a.peftFlux(), 'flux', 'diffusers', []],
    ['raw PEFT FLUX with DoRA', a.peftFlux('base_model.model.', true), 'flux', 'peft', ['dora']],
    ['OneTrainer FLUX DoRA', a.onetrainerFlux(), 'flux', 'onetrainer', ['dora']],
    ['ai-toolkit FLUX', a.aiToolkitFlux(), 'flux', 'ai-toolkit', []],
    ['XLabs FLUX', a.xlabsFlux(), 'flux', 'xlabs', []],
    ['BFL control LoRA', a.bflControlLora(), 'flux', 'bfl-control', ['control-lora']],
    ['diffusers SD3', a.peftSd3(), 'sd3', 'diffusers', []],
    ['kohya Wan 14B', a.kohyaWan(), 'wan', 'kohya', []],
    ['Qwen-Image', a.qwenImageLora(), 'qwen-image', 'diffusers', []],
    ['HunyuanVideo (double_blocks, own sub-names)', a.hunyuanVideoLora(), 'hunyuanvideo', 'ai-toolkit', []],
    ['Lumina 2', a.lumina2Lora(), 'lumina2', 'kohya', []],
  ] as const)('%s', (_n, specs, family, format, variants) => {
    const f = factsFrom([...specs]);
    const m = matchLora(f);
    expect(m).toMatchObject({kind: 'lora', family, format});
    expect(m!.variants).toEqual(variants);
    expect(runRules(f).winner?.kind).toBe('lora');
  });

  test('LyCORIS (IA)^3 (`.weight` + `.on_input`) and full-diff (`.diff`) files are LoRAs, SD1 by their attn2 widths', () => {
    const mod = 'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k';
    const ia3 = [{name: `${mod}.weight`, dtype: 'F32', shape: [320]}, {name: `${mod}.on_input`, dtype: 'BOOL', shape: []}];
    expect(matchLora(factsFrom(ia3, {metadata: {ss_base_model_version: 'sd_v1'}}))).toMatchObject({kind: 'lora', family: 'sd1', variants: ['ia3']});
    const full = [{name: `${mod}.diff`, dtype: 'F32', shape: [320, 768]}, {name: `${mod}.diff_b`, dtype: 'F32', shape: [320]}];
    expect(matchLora(factsFrom(full))).toMatchObject({kind: 'lora', family: 'sd1', variants: ['full']});
  });

  test('a BFL control LoRA beats the FLUX checkpoint rule that its norm scales also satisfy', () => {
    const c = runRules(factsFrom(a.bflControlLora()));
    expect(c.winner?.rule).toBe('lora');
  });

  test('metadata fills in a base the keys cannot give, and loses to tensors when they disagree', () => {
    const teOnly = a.loraModule('lora_te1_text_model_encoder_layers_0_self_attn_q_proj', 768, 768);
    expect(matchLora(factsFrom(teOnly))?.family).toBe('unknown');
    expect(matchLora(factsFrom(teOnly, {metadata: {ss_base_model_version: 'flux1'}}))?.family).toBe('flux');
    const m = matchLora(factsFrom(a.kohyaSdxl(), {metadata: {ss_base_model_version: 'sd_v1'}}));
    expect(m?.family).toBe('sdxl');
    expect(m?.warnings?.join(' ')).toMatch(/metadata says sd1 but the tensors say sdxl/);
  });

  test('Qwen-Image LoKr with factor shapes that do not multiply to 3072 is still Qwen-Image, not unknown', () => {
    const lokr = [{name: 'lora_unet_transformer_blocks_0_attn_to_k.lokr_w1', dtype: 'F32', shape: [32, 96]}, {name: 'lora_unet_transformer_blocks_0_attn_to_k.lokr_w2', dtype: 'F32', shape: [32, 288]}, {name: 'lora_unet_transformer_blocks_0_attn_to_k.alpha', dtype: 'F32', shape: []}];
    expect(matchLora(factsFrom(lokr))).toMatchObject({family: 'qwen-image', format: 'lycoris-lokr'});
  });

  test('unknown DiT LoRAs stay unknown rather than borrowing a family', () => {
    const anima = [...a.loraModule('lora_unet_blocks_0_cross_attn_k_proj', 2048, 2048), ...a.loraModule('lora_unet_blocks_0_mlp_layer1', 2048, 8192)];
    expect(matchLora(factsFrom(anima))?.family).toBe('unknown');
    // Its Qwen3 text-encoder LoRA is 1024 wide like OpenCLIP-H, but it is not a CLIP layer: still not SD2.
    const withTe = [...anima, ...a.loraModule('lora_te_layers_0_self_attn_q_proj', 1024, 1024), ...a.loraModule('lora_te_layers_0_mlp_gate_proj', 1024, 2816)];
    expect(matchLora(factsFrom(withTe))?.family).toBe('unknown');
  });

  test('a checkpoint with a few merged LoRA keys is not a LoRA', () => {
    const f = factsFrom(sdCheckpoint('sd1', a.loraModule('lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k', 768, 320)));
    expect(matchLora(f)).toBeNull();
    expect(runRules(f).winner?.kind).toBe('checkpoint');
  });
});
