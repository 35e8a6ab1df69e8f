"""Transformer-only single files of the tiny DiT builtins, in the layout the families are shared in: FLUX.1 and
Chroma as Black Forest Labs / ComfyUI files (`double_blocks.*`, `single_blocks.*`, fused qkv), SD3 as Stability's
MMDiT file (`joint_blocks.*`). Each holds exactly the weights of its base builtin's transformer, so loading it onto
that base (the component-file plan) must give the base's own pixels. Every file is checked at build time by
converting it back with diffusers' own single-file converter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from .tiny import _manifest


def _cat(state: dict[str, torch.Tensor], keys: list[str]) -> torch.Tensor:
    return torch.cat([state.pop(k) for k in keys], dim=0)


def _swap_halves(t: torch.Tensor) -> torch.Tensor:
    """diffusers' AdaLayerNormContinuous keeps (scale, shift); the original final layers keep (shift, scale)."""
    scale, shift = t.chunk(2, dim=0)
    return torch.cat([shift, scale], dim=0)


def flux_to_bfl(diffusers_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A FluxTransformer2DModel or ChromaTransformer2DModel state dict in Black Forest Labs' original names."""
    s = {k: v.clone() for k, v in diffusers_state.items()}
    out: dict[str, torch.Tensor] = {}

    def move(src: str, dst: str) -> None:
        for what in ("weight", "bias"):
            if f"{src}.{what}" in s:
                out[f"{dst}.{what}"] = s.pop(f"{src}.{what}")

    move("x_embedder", "img_in")
    move("context_embedder", "txt_in")
    for src, dst in (("timestep_embedder", "time_in"), ("text_embedder", "vector_in"), ("guidance_embedder", "guidance_in")):
        move(f"time_text_embed.{src}.linear_1", f"{dst}.in_layer")
        move(f"time_text_embed.{src}.linear_2", f"{dst}.out_layer")
    # Chroma's distilled guidance approximator
    move("distilled_guidance_layer.in_proj", "distilled_guidance_layer.in_proj")
    move("distilled_guidance_layer.out_proj", "distilled_guidance_layer.out_proj")
    i = 0
    while f"distilled_guidance_layer.layers.{i}.linear_1.weight" in s:
        p = f"distilled_guidance_layer.layers.{i}"
        move(f"{p}.linear_1", f"{p}.in_layer")
        move(f"{p}.linear_2", f"{p}.out_layer")
        out[f"distilled_guidance_layer.norms.{i}.scale"] = s.pop(f"distilled_guidance_layer.norms.{i}.weight")
        i += 1
    i = 0
    while f"transformer_blocks.{i}.attn.to_q.weight" in s:
        d, o = f"transformer_blocks.{i}", f"double_blocks.{i}"
        move(f"{d}.norm1.linear", f"{o}.img_mod.lin")
        move(f"{d}.norm1_context.linear", f"{o}.txt_mod.lin")
        for what in ("weight", "bias"):
            out[f"{o}.img_attn.qkv.{what}"] = _cat(s, [f"{d}.attn.to_{x}.{what}" for x in "qkv"])
            out[f"{o}.txt_attn.qkv.{what}"] = _cat(s, [f"{d}.attn.add_{x}_proj.{what}" for x in "qkv"])
        out[f"{o}.img_attn.norm.query_norm.scale"] = s.pop(f"{d}.attn.norm_q.weight")
        out[f"{o}.img_attn.norm.key_norm.scale"] = s.pop(f"{d}.attn.norm_k.weight")
        out[f"{o}.txt_attn.norm.query_norm.scale"] = s.pop(f"{d}.attn.norm_added_q.weight")
        out[f"{o}.txt_attn.norm.key_norm.scale"] = s.pop(f"{d}.attn.norm_added_k.weight")
        move(f"{d}.attn.to_out.0", f"{o}.img_attn.proj")
        move(f"{d}.attn.to_add_out", f"{o}.txt_attn.proj")
        move(f"{d}.ff.net.0.proj", f"{o}.img_mlp.0")
        move(f"{d}.ff.net.2", f"{o}.img_mlp.2")
        move(f"{d}.ff_context.net.0.proj", f"{o}.txt_mlp.0")
        move(f"{d}.ff_context.net.2", f"{o}.txt_mlp.2")
        i += 1
    i = 0
    while f"single_transformer_blocks.{i}.attn.to_q.weight" in s:
        d, o = f"single_transformer_blocks.{i}", f"single_blocks.{i}"
        move(f"{d}.norm.linear", f"{o}.modulation.lin")
        for what in ("weight", "bias"):
            out[f"{o}.linear1.{what}"] = _cat(s, [f"{d}.attn.to_q.{what}", f"{d}.attn.to_k.{what}", f"{d}.attn.to_v.{what}",
                                                  f"{d}.proj_mlp.{what}"])
        out[f"{o}.norm.query_norm.scale"] = s.pop(f"{d}.attn.norm_q.weight")
        out[f"{o}.norm.key_norm.scale"] = s.pop(f"{d}.attn.norm_k.weight")
        move(f"{d}.proj_out", f"{o}.linear2")
        i += 1
    for what in ("weight", "bias"):
        if f"norm_out.linear.{what}" in s:
            out[f"final_layer.adaLN_modulation.1.{what}"] = _swap_halves(s.pop(f"norm_out.linear.{what}"))
    move("proj_out", "final_layer.linear")
    if s:
        raise ValueError(f"flux_to_bfl left {len(s)} tensors unconverted, e.g. {sorted(s)[:3]}")
    return out


def sd3_to_mmdit(diffusers_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """An SD3Transformer2DModel state dict in Stability's original MMDiT names."""
    s = {k: v.clone() for k, v in diffusers_state.items()}
    out: dict[str, torch.Tensor] = {}

    def move(src: str, dst: str) -> None:
        for what in ("weight", "bias"):
            if f"{src}.{what}" in s:
                out[f"{dst}.{what}"] = s.pop(f"{src}.{what}")

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
                      convert: Callable[..., dict[str, torch.Tensor]], config: dict) -> None:
    back = convert(dict(original), config=config)
    bad = sorted(k for k in diffusers_state if k not in back or not torch.equal(back[k], diffusers_state[k]))
    extra = sorted(k for k in back if k not in diffusers_state)
    if bad or extra:
        raise ValueError(f"diffusers' converter does not give back the tiny transformer: {(bad + extra)[:3]}")


def _build(out: Path, name: str, base: str, base_builder: Callable[[Path], dict], to_original: Callable, converter: str,
           filename: str, family: str) -> dict:
    import diffusers.loaders.single_file_utils as sfu
    from safetensors.torch import save_file

    from . import tiny

    base_dir = out / ".scratch" / base
    base_builder(base_dir)
    transformer = getattr(diffusers_pipeline(base_dir), "transformer")
    state = {k: v.contiguous() for k, v in transformer.state_dict().items()}
    original = to_original(state)
    _check_round_trip(original, state, getattr(sfu, converter), dict(transformer.config))
    save_file({k: v.contiguous() for k, v in original.items()}, str(out / filename), metadata={"format": "pt"})
    tiny._rmtree(out / ".scratch")
    return _manifest(out, name, "transformer-only", base, [filename], file=filename, component="transformer", family=family)


def diffusers_pipeline(folder: Path):
    import json

    import diffusers

    name = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))["_class_name"]
    return getattr(diffusers, name).from_pretrained(str(folder), local_files_only=True)


def build_tiny_flux_single(out: Path) -> dict:
    from .tiny import build_tiny_flux

    return _build(out, "tiny-flux-single", "tiny-flux", build_tiny_flux, flux_to_bfl,
                  "convert_flux_transformer_checkpoint_to_diffusers", "tiny-flux-transformer.safetensors", "flux")


def build_tiny_chroma_single(out: Path) -> dict:
    from .tiny_dit import build_tiny_chroma

    return _build(out, "tiny-chroma-single", "tiny-chroma", build_tiny_chroma, flux_to_bfl,
                  "convert_chroma_transformer_checkpoint_to_diffusers", "tiny-chroma-transformer.safetensors", "chroma")


def build_tiny_sd3_single(out: Path) -> dict:
    from .tiny import build_tiny_sd3

    return _build(out, "tiny-sd3-single", "tiny-sd3", build_tiny_sd3, sd3_to_mmdit,
                  "convert_sd3_transformer_checkpoint_to_diffusers", "tiny-sd3-transformer.safetensors", "sd3")


BUILDERS = {
    "tiny-sd3-single": build_tiny_sd3_single,
}
