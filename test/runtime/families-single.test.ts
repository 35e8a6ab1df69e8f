// Transformer-only files in their families' original layouts, loaded onto their tiny base (see families.ts): each
// file holds its base's own transformer weights, so it must give the base's pixels.
import {familySuite} from './families.js';

familySuite('families-single', [
  {name: 'tiny-sd3-single', family: 'sd3', pipeline: 'StableDiffusion3Pipeline', format: 'single-file', samePixelsAs: 'tiny-sd3',
    params: ['max_sequence_length', 'skip_guidance_layers']},
]);
