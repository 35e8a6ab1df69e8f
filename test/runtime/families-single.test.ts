// Transformer-only files in their families' original layouts, loaded onto their tiny base (see families.ts): each
// file holds its base's own transformer weights, so it must give the base's pixels.
import {familySuite} from './families.js';

familySuite('families-single', [
  {name: 'tiny-sd3-single', family: 'sd3', pipeline: 'StableDiffusion3Pipeline', format: 'single-file', samePixelsAs: 'tiny-sd3',
    params: ['max_sequence_length', 'skip_guidance_layers']},
  {name: 'tiny-flux-single', family: 'flux', pipeline: 'FluxPipeline', format: 'single-file', samePixelsAs: 'tiny-flux',
    params: ['max_sequence_length', 'true_cfg_scale']},
  {name: 'tiny-chroma-single', family: 'chroma', pipeline: 'ChromaPipeline', format: 'single-file', samePixelsAs: 'tiny-chroma',
    params: ['max_sequence_length']},
]);
