// Stable Audio Open: the diffusers folder (model_index StableAudioPipeline) and the stable-audio-tools single file
// (model.model.* DiT + pretransform.model.* Oobleck VAE + the T5 conditioner), with the key names and shapes of
// stabilityai/stable-audio-open-1.0 (model.safetensors), and look-alikes that are not it.
import {describe, expect, test} from '@jest/globals';
import {runRules} from '../../../src/detect/registry.js';
import {matchStableAudio} from '../../../src/detect/rules/stable-audio.js';
import {buildReport} from '../../../src/detect/report.js';
import {factsFrom} from '../../helpers/facts.js';
import * as dit from '../../helpers/fixtures/dit.js';

const t = (name: string, shape: number[]) => ({name, dtype: 'F32' as const, shape});

/** The stable-audio-tools checkpoint layout (stable-audio-open-1.0 model.safetensors), a handful of its keys. */
function stableAudioSingle() {
  return [
    t('model.model.preprocess_conv.weight', [64, 64, 1]), t('model.model.postprocess_conv.weight', [64, 64, 1]),
    t('model.model.to_global_embed.0.weight', [1536, 1536]), t('model.model.to_timestep_embed.0.weight', [1536, 256]),
    t('model.model.transformer.project_in.weight', [1536, 64]),
    t('model.model.transformer.layers.0.self_attn.to_qkv.weight', [4608, 1536]),
    t('model.model.transformer.layers.23.ff.ff.0.proj.weight', [12288, 1536]),
    t('pretransform.model.encoder.layers.0.weight_v', [128, 2, 7]), t('pretransform.model.decoder.layers.0.weight_v', [2048, 128, 7]),
    t('conditioner.conditioners.prompt.model.encoder.block.0.layer.0.SelfAttention.q.weight', [768, 768]),
    t('conditioner.conditioners.seconds_start.embedder.embedding.1.weight', [768, 257]),
  ];
}

/** diffusers StableAudioDiTModel keys (transformer/diffusion_pytorch_model.safetensors). */
function stableAudioDiffusersTransformer() {
  return [
    t('preprocess_conv.weight', [64, 64, 1]), t('postprocess_conv.weight', [64, 64, 1]), t('global_proj.0.weight', [1536, 1536]),
    t('timestep_proj.linear_1.weight', [1536, 256]), t('proj_in.weight', [1536, 64]), t('transformer_blocks.0.attn1.to_q.weight', [1536, 1536]),
  ];
}

describe('Stable Audio Open', () => {
  test('the stable-audio-tools single file: family stable-audio, text-to-audio, StableAudioPipeline', () => {
    const f = factsFrom(stableAudioSingle(), {name: 'model.safetensors'});
    expect(runRules(f).winner).toMatchObject({family: 'stable-audio', kind: 'checkpoint', rule: 'stable-audio'});
    expect(matchStableAudio(f)?.evidence).toContain('pretransform.model.* (Oobleck audio VAE)');
  });

  test('a diffusers folder, by its pipeline class and by its transformer keys', () => {
    const f = factsFrom([], {
      modelIndex: {_class_name: 'StableAudioPipeline', transformer: ['diffusers', 'StableAudioDiTModel'], projection_model: ['stable_audio', 'StableAudioProjectionModel']},
      components: [{name: 'transformer', className: 'StableAudioDiTModel', tensors: stableAudioDiffusersTransformer()}],
    });
    const c = runRules(f);
    expect(c.winner).toMatchObject({family: 'stable-audio', kind: 'checkpoint'});
    const report = buildReport(f, c, {type: 'local', id: 'stable-audio-open-1.0'});
    expect(report).toMatchObject({family: 'stable-audio', task: 'text-to-audio', pipeline: 'StableAudioPipeline'});
    expect(report.defaults).toMatchObject({steps: 100, duration: 10});
    // `stable_audio` is a diffusers pipeline module (StableAudioProjectionModel lives there): no remote code.
    expect(report.security.trust_remote_code_needed).toBe(false);
  });

  test('not Stable Audio: video and image DiTs, and a lone T5', () => {
    expect(matchStableAudio(factsFrom(dit.hunyuanVideo()))).toBeNull();
    expect(matchStableAudio(factsFrom(dit.fluxBfl()))).toBeNull();
    expect(matchStableAudio(factsFrom([t('encoder.block.0.layer.0.SelfAttention.q.weight', [768, 768])]))).toBeNull();
  });
});
