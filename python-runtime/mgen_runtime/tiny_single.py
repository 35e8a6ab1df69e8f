"""Transformer-only single files of the tiny DiT builtins, in the layout the families are shared in: FLUX.1 and
Chroma as Black Forest Labs / ComfyUI files (`double_blocks.*`, `single_blocks.*`, fused qkv), SD3 as Stability's
MMDiT file (`joint_blocks.*`). Each holds exactly the weights of its base builtin's transformer, so loading it onto
that base (the component-file plan) must give the base's own pixels. Every file is checked at build time by
converting it back with the converter the runtime will use: diffusers' own for SD3, bfl_layout.py's for FLUX/Chroma
(diffusers' assumes the real 3072 width).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from .bfl_layout import _move, _swap_halves, bfl_to_flux, flux_to_bfl
from .tiny import _manifest


def _cat(state: dict[str, torch.Tensor], keys: list[str]) -> torch.Tensor:
    return torch.cat([state.pop(k) for k in keys], dim=0)


def sd3_to_mmdit(diffusers_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """An SD3Transformer2DModel state dict in Stability's original MMDiT names."""
    s = {k: v.clone() for k, v in diffusers_state.items()}
    out: dict[str, torch.Tensor] = {}

    def move(src: str, dst: str) -> None:
        _move(s, out, src, dst)

    out["pos_embed"] = s.pop("pos_embed.pos_embed")
    move("pos_embed.proj", "x_embedder.proj")
    move("context_embedder", "context_embedder")
    move("time_text_embed.timestep_embedder.linear_1", "t_embedder.mlp.0")
    move("time_text_embed.timestep_embedder.linear_2", "t_embedder.mlp.2")
    move("time_text_embed.text_embedder.linear_1", "y_embedder.mlp.0")
    move("time_text_embed.text_embedder.linear_2", "y_embedder.mlp.2")
    i = 0
    while f"transformer_blocks.{i}.attn.to_q.weight" in s:
        d, o = f"transformer_blocks.{i}", f"joint_blocks.{i}"
        for what in ("weight", "bias"):
            out[f"{o}.x_block.attn.qkv.{what}"] = _cat(s, [f"{d}.attn.to_{x}.{what}" for x in "qkv"])
            out[f"{o}.context_block.attn.qkv.{what}"] = _cat(s, [f"{d}.attn.add_{x}_proj.{what}" for x in "qkv"])
        move(f"{d}.norm1.linear", f"{o}.x_block.adaLN_modulation.1")
        move(f"{d}.attn.to_out.0", f"{o}.x_block.attn.proj")
        move(f"{d}.ff.net.0.proj", f"{o}.x_block.mlp.fc1")
        move(f"{d}.ff.net.2", f"{o}.x_block.mlp.fc2")
        pre_only = f"{d}.attn.to_add_out.weight" not in s
        ctx = f"{d}.norm1_context.linear"
        for what in ("weight", "bias"):
            if f"{ctx}.{what}" in s:
                t = s.pop(f"{ctx}.{what}")
                out[f"{o}.context_block.adaLN_modulation.1.{what}"] = _swap_halves(t) if pre_only else t
        move(f"{d}.attn.to_add_out", f"{o}.context_block.attn.proj")
        move(f"{d}.ff_context.net.0.proj", f"{o}.context_block.mlp.fc1")
        move(f"{d}.ff_context.net.2", f"{o}.context_block.mlp.fc2")
        i += 1
    for what in ("weight", "bias"):
        out[f"final_layer.adaLN_modulation.1.{what}"] = _swap_halves(s.pop(f"norm_out.linear.{what}"))
    move("proj_out", "final_layer.linear")
    if s:
        raise ValueError(f"sd3_to_mmdit left {len(s)} tensors unconverted, e.g. {sorted(s)[:3]}")
    return out


def _check_round_trip(original: dict[str, torch.Tensor], diffusers_state: dict[str, torch.Tensor],
                      convert: Callable[[dict, dict], dict[str, torch.Tensor]], config: dict) -> None:
    back = convert(dict(original), config)
    bad = sorted(k for k in diffusers_state if k not in back or not torch.equal(back[k], diffusers_state[k]))
    extra = sorted(k for k in back if k not in diffusers_state)
    if bad or extra:
        raise ValueError(f"diffusers' converter does not give back the tiny transformer: {(bad + extra)[:3]}")


def _build(out: Path, name: str, base: str, base_builder: Callable[[Path], dict], to_original: Callable, back: Callable,
           filename: str, family: str) -> dict:
    from safetensors.torch import save_file

    from . import tiny

    base_dir = out / ".scratch" / base
    base_builder(base_dir)
    transformer = getattr(diffusers_pipeline(base_dir), "transformer")
    state = {k: v.contiguous() for k, v in transformer.state_dict().items()}
    original = to_original(state)
    _check_round_trip(original, state, back, dict(transformer.config))
    save_file({k: v.contiguous() for k, v in original.items()}, str(out / filename), metadata={"format": "pt"})
    tiny._rmtree(out / ".scratch")
    return _manifest(out, name, "transformer-only", base, [filename], file=filename, component="transformer", family=family)


def diffusers_pipeline(folder: Path):
    import json

    import diffusers

    name = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))["_class_name"]
    return getattr(diffusers, name).from_pretrained(str(folder), local_files_only=True)


def _diffusers_converter(name: str) -> Callable[[dict, dict], dict[str, torch.Tensor]]:
    """diffusers' own single-file converter (what from_single_file runs on a file of the real width)."""
    import diffusers.loaders.single_file_utils as sfu

    return lambda state, config: getattr(sfu, name)(state, config=config)


def _bfl_back(state: dict, config: dict) -> dict[str, torch.Tensor]:
    """mgen's converter (bfl_layout.py), which the runtime uses for BFL files narrower than the real models."""
    inner = config["num_attention_heads"] * config["attention_head_dim"]
    return bfl_to_flux(state, inner, int(inner * config.get("mlp_ratio", 4.0)))


def build_tiny_flux_single(out: Path) -> dict:
    from .tiny import build_tiny_flux

    return _build(out, "tiny-flux-single", "tiny-flux", build_tiny_flux, flux_to_bfl, _bfl_back,
                  "tiny-flux-transformer.safetensors", "flux")


def build_tiny_chroma_single(out: Path) -> dict:
    from .tiny_dit import build_tiny_chroma

    return _build(out, "tiny-chroma-single", "tiny-chroma", build_tiny_chroma, flux_to_bfl, _bfl_back,
                  "tiny-chroma-transformer.safetensors", "chroma")


def build_tiny_sd3_single(out: Path) -> dict:
    from .tiny import build_tiny_sd3

    return _build(out, "tiny-sd3-single", "tiny-sd3", build_tiny_sd3, sd3_to_mmdit,
                  _diffusers_converter("convert_sd3_transformer_checkpoint_to_diffusers"), "tiny-sd3-transformer.safetensors", "sd3")


BUILDERS = {
    "tiny-flux-single": build_tiny_flux_single,
    "tiny-chroma-single": build_tiny_chroma_single,
    "tiny-sd3-single": build_tiny_sd3_single,
}
