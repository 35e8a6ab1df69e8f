// The DiT image families conditioned on language models end to end (see families.ts): FLUX.2 (Mistral 3), SANA and
// Lumina 2 (Gemma 2), Qwen-Image (Qwen2.5-VL).
import {familySuite} from './families.js';

familySuite('families-dit-llm', [
  {name: 'tiny-flux2', family: 'flux2', pipeline: 'Flux2Pipeline', params: ['max_sequence_length', 'text_encoder_out_layers']},
  {name: 'tiny-sana', family: 'sana', pipeline: 'SanaPipeline', params: ['complex_human_instruction', 'use_resolution_binning']},
  {name: 'tiny-lumina2', family: 'lumina2', pipeline: 'Lumina2Pipeline', params: ['cfg_trunc_ratio', 'system_prompt']},
  {name: 'tiny-qwen-image', family: 'qwen-image', pipeline: 'QwenImagePipeline', params: ['true_cfg_scale', 'max_sequence_length']},
]);
