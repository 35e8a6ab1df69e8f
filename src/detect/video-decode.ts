// The video VAE's decode working set: frames x size through each family's video VAE. The report's VRAM estimate
// (memory.ts) counts it, and the memory plan (src/backends/memory-plan.ts) compares it with the free GPU memory to
// decide VAE tiling (enable_tiling exists on AutoencoderKLWan, AutoencoderKLCogVideoX, AutoencoderKLLTXVideo and
// AutoencoderKLHunyuanVideo).
//
// Elements alive per output pixel, per VAE (times the pipeline's bytes per element):
//   wan           7000 per pixel whatever the frame count: AutoencoderKLWan decodes one latent frame (4 video frames) at a
//                 time with a causal cache. ComfyUI's estimate for the Wan VAE (comfy/sd.py memory_used_decode:
//                 7000 x latent pixels x 8 x 8 past 4 latent frames).
//   hunyuanvideo  1500 per pixel and frame: the whole clip goes through the decoder at once (ComfyUI: 1500 x latent
//                 voxels x 4 x 8 x 8).
//   ltxv          75 per pixel and frame (ComfyUI: 1200 x latent voxels x 8 x 8 x 8, a latent voxel being 32 x 32
//                 pixels x 8 frames).
//   cogvideox     530 per pixel and frame, from diffusers' CogVideoX docs: decoding 49 frames of 720x480 in fp16 takes
//                 ~19 GB with model CPU offload (the VAE alone on the GPU), 11 GB once tiling is on as well.
// plus the decoded frames themselves (3 channels, float32).
import {FAMILIES} from './families.js';
import type {Family} from './types.js';

export interface VideoSize {
  width: number;
  height: number;
  frames: number;
}

const PER_PIXEL: Partial<Record<Family, {elements: number; perFrame: boolean}>> = {
  wan: {elements: 7000, perFrame: false},
  hunyuanvideo: {elements: 1500, perFrame: true},
  ltxv: {elements: 75, perFrame: true},
  cogvideox: {elements: 530, perFrame: true},
};

/** The family's default clip (what `inspect` reports), with any of `size` given instead. */
export function videoSize(family: Family, size: Partial<VideoSize> = {}): VideoSize | null {
  const info = FAMILIES[family];
  if (!PER_PIXEL[family] || !info?.frames) return null;
  return {width: size.width ?? info.defaults.width, height: size.height ?? info.defaults.height, frames: size.frames ?? info.frames};
}

/** Peak bytes of the video VAE's decode at `bytes` per element, or null for a family without a video VAE. */
export function videoDecodeBytes(family: Family, size: Partial<VideoSize>, bytes: number): number | null {
  const vae = PER_PIXEL[family];
  const s = videoSize(family, size);
  if (!vae || !s) return null;
  const pixels = s.width * s.height;
  return pixels * vae.elements * (vae.perFrame ? s.frames : 1) * bytes + pixels * s.frames * 3 * 4;
}
