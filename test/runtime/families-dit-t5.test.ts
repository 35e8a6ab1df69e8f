// The T5-conditioned DiT image families end to end (see families.ts): Chroma, PixArt-Sigma, AuraFlow, Hunyuan-DiT.
import {familySuite} from './families.js';

familySuite('families-dit-t5', [
  {name: 'tiny-chroma', family: 'chroma', pipeline: 'ChromaPipeline', params: ['max_sequence_length', 'negative_prompt']},
  {name: 'tiny-pixart', family: 'pixart', pipeline: 'PixArtSigmaPipeline', variants: ['sigma'], params: ['use_resolution_binning', 'max_sequence_length']},
  {name: 'tiny-auraflow', family: 'auraflow', pipeline: 'AuraFlowPipeline', params: ['max_sequence_length', 'sigmas']},
  // Hunyuan-DiT snaps every size to its ~1024-px shapes unless told not to.
  {name: 'tiny-hunyuandit', family: 'hunyuandit', pipeline: 'HunyuanDiTPipeline', params: ['use_resolution_binning', 'guidance_rescale'],
    extra: {use_resolution_binning: false}},
]);
