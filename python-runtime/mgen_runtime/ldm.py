"""diffusers -> original (LDM / CompVis) state-dict names for Stable Diffusion 1.x single-file checkpoints.

Used by the tiny-model builder to write `tiny-sd-single`: one file with `model.diffusion_model.*`,
`first_stage_model.*` and `cond_stage_model.transformer.*` keys, as A1111/CivitAI checkpoints have them, and
`tiny-sd-controlnet-single`: one ControlNet file with `control_model.*` keys, as lllyasviel's ControlNet files have them.
The layout is derived from the module structure (block counts come from the keys), not from a fixed table
of SD 1.5 indices, so a tiny UNet maps the same way a full-size one does.
"""

from __future__ import annotations

import re

import torch

_RESNET = [("norm1.", "in_layers.0."), ("conv1.", "in_layers.2."), ("time_emb_proj.", "emb_layers.1."),
           ("norm2.", "out_layers.0."), ("conv2.", "out_layers.3."), ("conv_shortcut.", "skip_connection.")]
_VAE_RESNET = [("conv_shortcut.", "nin_shortcut.")]
_VAE_ATTN = [("group_norm.", "norm."), ("to_q.", "q."), ("to_k.", "k."), ("to_v.", "v."), ("to_out.0.", "proj_out.")]


def _rename(rest: str, table: list[tuple[str, str]]) -> str:
    for src, dst in table:
        if rest.startswith(src):
            return dst + rest[len(src):]
    return rest


def _count(keys, pattern: str) -> int:
    found = {int(m.group(1)) for k in keys if (m := re.match(pattern, k))}
    return max(found) + 1 if found else 0


def _unet_names(sd: dict[str, torch.Tensor]) -> dict[str, str]:
    """diffusers UNet (or ControlNet encoder) key -> LDM key without prefix; keys it does not know are left out."""
    keys = list(sd)
    per_block = _count(keys, r"down_blocks\.0\.resnets\.(\d+)\.")
    names: dict[str, str] = {}
    # SDXL's added (pooled text + time ids) conditioning is the LDM `label_emb`, as is a class embedding.
    fixed = {"time_embedding.linear_1.": "time_embed.0.", "time_embedding.linear_2.": "time_embed.2.",
             "add_embedding.linear_1.": "label_emb.0.0.", "add_embedding.linear_2.": "label_emb.0.2.",
             "class_embedding.linear_1.": "label_emb.0.0.", "class_embedding.linear_2.": "label_emb.0.2.",
             "conv_in.": "input_blocks.0.0.", "conv_norm_out.": "out.0.", "conv_out.": "out.2."}
    for key in keys:
        new = None
        for src, dst in fixed.items():
            if key.startswith(src):
                new = dst + key[len(src):]
        if new is None and (m := re.match(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", key)):
            i, kind, j, rest = int(m.group(1)), m.group(2), int(m.group(3)), m.group(4)
            idx = 1 + i * (per_block + 1) + j
            new = f"input_blocks.{idx}.0.{_rename(rest, _RESNET)}" if kind == "resnets" else f"input_blocks.{idx}.1.{rest}"
        elif new is None and (m := re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)", key)):
            i = int(m.group(1))
            new = f"input_blocks.{1 + i * (per_block + 1) + per_block}.0.op.{m.group(2)}"
        elif new is None and (m := re.match(r"mid_block\.resnets\.(\d+)\.(.*)", key)):
            new = f"middle_block.{0 if m.group(1) == '0' else 2}.{_rename(m.group(2), _RESNET)}"
        elif new is None and (m := re.match(r"mid_block\.attentions\.0\.(.*)", key)):
            new = f"middle_block.1.{m.group(1)}"
        elif new is None and (m := re.match(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", key)):
            i, kind, j, rest = int(m.group(1)), m.group(2), int(m.group(3)), m.group(4)
            idx = i * (per_block + 1) + j
            new = f"output_blocks.{idx}.0.{_rename(rest, _RESNET)}" if kind == "resnets" else f"output_blocks.{idx}.1.{rest}"
        elif new is None and (m := re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.*)", key)):
            i = int(m.group(1))
            has_attn = any(k.startswith(f"up_blocks.{i}.attentions.") for k in keys)
            new = f"output_blocks.{i * (per_block + 1) + per_block}.{2 if has_attn else 1}.conv.{m.group(2)}"
        if new is not None:
            names[key] = new
    return names


def unet_to_ldm(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    names = _unet_names(sd)
    for key in sd:
        if key not in names:
            raise ValueError(f"no LDM name for UNet key {key!r}")
    return {"model.diffusion_model." + names[k]: v for k, v in sd.items()}


# The original ControlNet's hint encoder is one nn.Sequential of 8 convolutions with a SiLU after each but the last,
# so its convolutions sit at the even indices 0..14 and the last (zero-initialised) one is always `input_hint_block.14`;
# the loaders (diffusers' converter among them) look for the output convolution there.
HINT_OUT_INDEX = 14


def controlnet_to_ldm(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A diffusers ControlNetModel state dict -> the original ControlNet layout (`control_model.*`, as in lllyasviel's
    control_v11 files): the UNet encoder under the UNet's LDM names, plus `input_hint_block.*` (the conditioning
    embedding), `zero_convs.N.0.*` (one output conv per input block) and `middle_block_out.0.*`."""
    names = _unet_names(sd)
    n_blocks = _count(sd, r"controlnet_cond_embedding\.blocks\.(\d+)\.")
    if 2 * n_blocks >= HINT_OUT_INDEX:
        raise ValueError(f"a conditioning embedding of {n_blocks} blocks does not fit the original hint-block layout")
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        new = None
        if m := re.match(r"controlnet_cond_embedding\.conv_in\.(.*)", key):
            new = f"input_hint_block.0.{m.group(1)}"
        elif m := re.match(r"controlnet_cond_embedding\.blocks\.(\d+)\.(.*)", key):
            new = f"input_hint_block.{2 * (int(m.group(1)) + 1)}.{m.group(2)}"
        elif m := re.match(r"controlnet_cond_embedding\.conv_out\.(.*)", key):
            new = f"input_hint_block.{HINT_OUT_INDEX}.{m.group(1)}"
        elif m := re.match(r"controlnet_down_blocks\.(\d+)\.(.*)", key):
            new = f"zero_convs.{m.group(1)}.0.{m.group(2)}"
        elif m := re.match(r"controlnet_mid_block\.(.*)", key):
            new = f"middle_block_out.0.{m.group(1)}"
        elif not key.startswith(("up_blocks.", "conv_norm_out.", "conv_out.")):
            new = names.get(key)
        if new is None:
            raise ValueError(f"no original ControlNet name for key {key!r}")
        out["control_model." + new] = value
    return out


def vae_to_ldm(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    keys = list(sd)
    n_up = _count(keys, r"decoder\.up_blocks\.(\d+)\.")
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        new = key
        if m := re.match(r"(encoder|decoder)\.conv_norm_out\.(.*)", key):
            new = f"{m.group(1)}.norm_out.{m.group(2)}"
        elif m := re.match(r"encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(.*)", key):
            new = f"encoder.down.{m.group(1)}.block.{m.group(2)}.{_rename(m.group(3), _VAE_RESNET)}"
        elif m := re.match(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)", key):
            new = f"encoder.down.{m.group(1)}.downsample.conv.{m.group(2)}"
        elif m := re.match(r"decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.*)", key):
            # The LDM decoder numbers its up levels from the lowest resolution up, diffusers the other way.
            new = f"decoder.up.{n_up - 1 - int(m.group(1))}.block.{m.group(2)}.{_rename(m.group(3), _VAE_RESNET)}"
        elif m := re.match(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.*)", key):
            new = f"decoder.up.{n_up - 1 - int(m.group(1))}.upsample.conv.{m.group(2)}"
        elif m := re.match(r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.*)", key):
            new = f"{m.group(1)}.mid.block_{int(m.group(2)) + 1}.{_rename(m.group(3), _VAE_RESNET)}"
        elif m := re.match(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.*)", key):
            rest = _rename(m.group(2), _VAE_ATTN)
            new = f"{m.group(1)}.mid.attn_1.{rest}"
            if rest.endswith("weight") and value.ndim == 2:
                value = value[:, :, None, None]  # LDM's attention projections are 1x1 convolutions
        out["first_stage_model." + new] = value
    return out


def clip_to_ldm(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # transformers 5 dropped the `text_model.` level from CLIPTextModel; checkpoints in the wild have it.
    return {"cond_stage_model.transformer." + (k if k.startswith("text_model.") else "text_model." + k): v for k, v in sd.items()}


def diffusers_to_ldm_sd1(unet: dict, vae: dict, text_encoder: dict) -> dict[str, torch.Tensor]:
    return {**unet_to_ldm(unet), **vae_to_ldm(vae), **clip_to_ldm(text_encoder)}
