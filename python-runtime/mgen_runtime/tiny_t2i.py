"""Tiny T2I-Adapters for the tiny SD1 and SDXL builtins (registered in tiny.py).

Both tiny UNets have two down blocks, a plain 32-wide one then a 64-wide cross-attention one, so each takes its
residual at half the latent size (the plain block after its downsampler, the last block inside), and the tiny VAE
halves the image: residuals of 32 and 64 channels at 1/4 of the image. That is the arrangement of diffusers'
`full_adapter_xl` (no downsampling between the first two levels) with a pixel-unshuffle factor of 4.

- tiny-sd-t2i-adapter: one safetensors file in TencentARC's original layout (`conv_in.*`, `body.K.block1.*`, no
  config), with SAI ModelSpec metadata naming SD1: the runtime derives the config from the shapes and the base UNet.
- tiny-sdxl-t2i-adapter: a diffusers T2IAdapter folder (config.json + weights).
"""
from __future__ import annotations

from pathlib import Path

import torch

CHANNELS = [32, 64]
BLOCKS = 2
UNSHUFFLE = 4


def _adapter(seed: int):
    from diffusers import T2IAdapter

    torch.manual_seed(seed)
    adapter = T2IAdapter(in_channels=3, channels=CHANNELS, num_res_blocks=BLOCKS, downscale_factor=UNSHUFFLE, adapter_type="full_adapter_xl")
    return adapter.eval()


def to_original(state: dict[str, torch.Tensor], blocks: int) -> dict[str, torch.Tensor]:
    """diffusers names -> TencentARC's: `adapter.body.L.resnets.B.*` -> `body.{L*blocks+B}.*`, a level's in_conv on its
    first block."""
    import re

    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if m := re.fullmatch(r"adapter\.body\.(\d+)\.resnets\.(\d+)\.(.*)", key):
            out[f"body.{int(m.group(1)) * blocks + int(m.group(2))}.{m.group(3)}"] = value
        elif m := re.fullmatch(r"adapter\.body\.(\d+)\.in_conv\.(.*)", key):
            out[f"body.{int(m.group(1)) * blocks}.in_conv.{m.group(2)}"] = value
        elif key.startswith("adapter."):
            out[key[len("adapter."):]] = value
        else:
            raise ValueError(f"unexpected T2IAdapter key {key!r}")
    return out


def build_tiny_sd_t2i_adapter(out: Path) -> dict:
    from safetensors.torch import save_file

    from .tiny import _manifest

    out.mkdir(parents=True, exist_ok=True)
    state = to_original(_adapter(40).state_dict(), BLOCKS)
    name = "t2iadapter_tiny_sd.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(out / name),
              metadata={"format": "pt", "modelspec.architecture": "stable-diffusion-v1/t2i-adapter"})
    return _manifest(out, "tiny-sd-t2i-adapter", "single-file", "tiny-sd", [name], file=name, component="T2IAdapter")


def build_tiny_sdxl_t2i_adapter(out: Path) -> dict:
    from .tiny import _files, _manifest

    _adapter(41).save_pretrained(out, safe_serialization=True)
    return _manifest(out, "tiny-sdxl-t2i-adapter", "diffusers-folder", "tiny-sdxl", _files(out), component="T2IAdapter")
