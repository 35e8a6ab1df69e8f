// The UNet image families beyond SD1/SDXL end to end (see families.ts): SD 2.x v-prediction, the SDXL refiner
// (image-to-image only), Stable Cascade (prior + decoder in the combined pipeline).
import {familySuite} from './families.js';

familySuite('families-unet', [
  {name: 'tiny-sd2', family: 'sd2', pipeline: 'StableDiffusionPipeline', variants: ['v-prediction'], params: ['guidance_rescale', 'eta']},
  {name: 'tiny-sdxl-refiner', family: 'sdxl-refiner', pipeline: 'StableDiffusionXLImg2ImgPipeline', variants: ['refiner'], image: true,
    params: ['aesthetic_score', 'negative_aesthetic_score', 'denoising_start']},
  // Stable Cascade's stage C works at 1/42.67 of the image side: 128 px is its smallest useful size.
  {name: 'tiny-cascade', family: 'cascade', pipeline: 'StableCascadeCombinedPipeline', size: 128,
    params: ['prior_num_inference_steps', 'prior_guidance_scale', 'decoder_guidance_scale']},
]);
