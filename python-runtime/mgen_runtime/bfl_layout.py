"""FLUX.1 / Chroma transformer weights in Black Forest Labs' original layout (the ComfyUI / BFL single files:
`double_blocks.*`, `single_blocks.*`, fused qkv) <-> diffusers' FluxTransformer2DModel / ChromaTransformer2DModel.

diffusers' own single-file converters assume the real models' width (inner dim 3072) when they split the fused
single-block projections. A file of another width (the tiny builtins, or any narrower derivative) is converted
here instead, with the widths taken from the base's transformer config, and handed to from_single_file already in
diffusers' names. Files of the real width still go through diffusers' converter.
"""

from __future__ import annotations

from typing import Any

import torch

DIFFUSERS_BFL_WIDTH = 3072


def _swap_halves(t: torch.Tensor) -> torch.Tensor:
    """diffusers' AdaLayerNormContinuous keeps (scale, shift); the original final layers keep (shift, scale)."""
    a, b = t.chunk(2, dim=0)
    return torch.cat([b, a], dim=0)


# (diffusers name, BFL name) of the plain renames, per weight/bias pair.
_EMBEDDERS = [
    ("x_embedder", "img_in"), ("context_embedder", "txt_in"),
    ("time_text_embed.timestep_embedder.linear_1", "time_in.in_layer"), ("time_text_embed.timestep_embedder.linear_2", "time_in.out_layer"),
    ("time_text_embed.text_embedder.linear_1", "vector_in.in_layer"), ("time_text_embed.text_embedder.linear_2", "vector_in.out_layer"),
    ("time_text_embed.guidance_embedder.linear_1", "guidance_in.in_layer"),
    ("time_text_embed.guidance_embedder.linear_2", "guidance_in.out_layer"),
    ("distilled_guidance_layer.in_proj", "distilled_guidance_layer.in_proj"),
    ("distilled_guidance_layer.out_proj", "distilled_guidance_layer.out_proj"),
    ("proj_out", "final_layer.linear"),
]
_DOUBLE = [
    ("norm1.linear", "img_mod.lin"), ("norm1_context.linear", "txt_mod.lin"), ("attn.to_out.0", "img_attn.proj"),
    ("attn.to_add_out", "txt_attn.proj"), ("ff.net.0.proj", "img_mlp.0"), ("ff.net.2", "img_mlp.2"),
    ("ff_context.net.0.proj", "txt_mlp.0"), ("ff_context.net.2", "txt_mlp.2"),
]
_DOUBLE_NORMS = [
    ("attn.norm_q.weight", "img_attn.norm.query_norm.scale"), ("attn.norm_k.weight", "img_attn.norm.key_norm.scale"),
    ("attn.norm_added_q.weight", "txt_attn.norm.query_norm.scale"), ("attn.norm_added_k.weight", "txt_attn.norm.key_norm.scale"),
]
_SINGLE = [("norm.linear", "modulation.lin"), ("proj_out", "linear2")]
_SINGLE_NORMS = [("attn.norm_q.weight", "norm.query_norm.scale"), ("attn.norm_k.weight", "norm.key_norm.scale")]


def _move(s: dict[str, torch.Tensor], out: dict[str, torch.Tensor], src: str, dst: str) -> None:
    """A layer's weight and bias (where present) from `s` under `src` to `out` under `dst`."""
    for what in ("weight", "bias"):
        if f"{src}.{what}" in s:
            out[f"{dst}.{what}"] = s.pop(f"{src}.{what}")


def _count(state: dict[str, Any], prefix: str) -> int:
    found = {int(k[len(prefix):].split(".", 1)[0]) for k in state if k.startswith(prefix)}
    return max(found) + 1 if found else 0


def flux_to_bfl(diffusers_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A FluxTransformer2DModel or ChromaTransformer2DModel state dict in Black Forest Labs' names."""
    s = dict(diffusers_state)
    out: dict[str, torch.Tensor] = {}

    def move(src: str, dst: str) -> None:
        _move(s, out, src, dst)

    for d, o in _EMBEDDERS:
        move(d, o)
    for i in range(_count(s, "distilled_guidance_layer.layers.")):
        p = f"distilled_guidance_layer.layers.{i}"
        move(f"{p}.linear_1", f"{p}.in_layer")
        move(f"{p}.linear_2", f"{p}.out_layer")
        out[f"distilled_guidance_layer.norms.{i}.scale"] = s.pop(f"distilled_guidance_layer.norms.{i}.weight")
    for i in range(_count(s, "transformer_blocks.")):
        d, o = f"transformer_blocks.{i}", f"double_blocks.{i}"
        for a, b in _DOUBLE:
            move(f"{d}.{a}", f"{o}.{b}")
        for a, b in _DOUBLE_NORMS:
            out[f"{o}.{b}"] = s.pop(f"{d}.{a}")
        for what in ("weight", "bias"):
            out[f"{o}.img_attn.qkv.{what}"] = torch.cat([s.pop(f"{d}.attn.to_{x}.{what}") for x in "qkv"])
            out[f"{o}.txt_attn.qkv.{what}"] = torch.cat([s.pop(f"{d}.attn.add_{x}_proj.{what}") for x in "qkv"])
    for i in range(_count(s, "single_transformer_blocks.")):
        d, o = f"single_transformer_blocks.{i}", f"single_blocks.{i}"
        for a, b in _SINGLE:
            move(f"{d}.{a}", f"{o}.{b}")
        for a, b in _SINGLE_NORMS:
            out[f"{o}.{b}"] = s.pop(f"{d}.{a}")
        for what in ("weight", "bias"):
            out[f"{o}.linear1.{what}"] = torch.cat([s.pop(f"{d}.{n}.{what}") for n in ("attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp")])
    for what in ("weight", "bias"):
        if f"norm_out.linear.{what}" in s:
            out[f"final_layer.adaLN_modulation.1.{what}"] = _swap_halves(s.pop(f"norm_out.linear.{what}"))
    if s:
        raise ValueError(f"{len(s)} tensors have no Black Forest Labs name, e.g. {sorted(s)[:3]}")
    return out


def bfl_to_flux(bfl_state: dict[str, torch.Tensor], inner_dim: int, mlp_dim: int) -> dict[str, torch.Tensor]:
    """The inverse of flux_to_bfl for a transformer of the given widths (attention heads x head dim, MLP)."""
    s = {(k[len("model.diffusion_model."):] if k.startswith("model.diffusion_model.") else k): v for k, v in bfl_state.items()}
    out: dict[str, torch.Tensor] = {}

    def move(src: str, dst: str) -> None:
        _move(s, out, src, dst)

    for d, o in _EMBEDDERS:
        move(o, d)
    for i in range(_count(s, "distilled_guidance_layer.layers.")):
        p = f"distilled_guidance_layer.layers.{i}"
        move(f"{p}.in_layer", f"{p}.linear_1")
        move(f"{p}.out_layer", f"{p}.linear_2")
        out[f"distilled_guidance_layer.norms.{i}.weight"] = s.pop(f"distilled_guidance_layer.norms.{i}.scale")
    for i in range(_count(s, "double_blocks.")):
        d, o = f"transformer_blocks.{i}", f"double_blocks.{i}"
        for a, b in _DOUBLE:
            move(f"{o}.{b}", f"{d}.{a}")
        for a, b in _DOUBLE_NORMS:
            out[f"{d}.{a}"] = s.pop(f"{o}.{b}")
        for what in ("weight", "bias"):
            for x, t in zip("qkv", s.pop(f"{o}.img_attn.qkv.{what}").split(inner_dim)):
                out[f"{d}.attn.to_{x}.{what}"] = t
            for x, t in zip("qkv", s.pop(f"{o}.txt_attn.qkv.{what}").split(inner_dim)):
                out[f"{d}.attn.add_{x}_proj.{what}"] = t
    for i in range(_count(s, "single_blocks.")):
        d, o = f"single_transformer_blocks.{i}", f"single_blocks.{i}"
        for a, b in _SINGLE:
            move(f"{o}.{b}", f"{d}.{a}")
        for a, b in _SINGLE_NORMS:
            out[f"{d}.{a}"] = s.pop(f"{o}.{b}")
        for what in ("weight", "bias"):
            parts = s.pop(f"{o}.linear1.{what}").split([inner_dim, inner_dim, inner_dim, mlp_dim])
            for n, t in zip(("attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp"), parts):
                out[f"{d}.{n}.{what}"] = t
    for what in ("weight", "bias"):
        if f"final_layer.adaLN_modulation.1.{what}" in s:
            out[f"norm_out.linear.{what}"] = _swap_halves(s.pop(f"final_layer.adaLN_modulation.1.{what}"))
    if s:
        raise ValueError(f"{len(s)} tensors are not FLUX/Chroma transformer weights, e.g. {sorted(s)[:3]}")
    return out


def narrow_bfl_state(path: str, config: dict[str, Any]) -> dict[str, torch.Tensor] | None:
    """For a BFL-layout FLUX/Chroma safetensors file narrower than the real models: its weights in diffusers' names
    (widths from the base's transformer config). None when diffusers' own converter applies (the real width, or not
    the BFL layout)."""
    from safetensors import safe_open

    inner = int(config.get("num_attention_heads", 0)) * int(config.get("attention_head_dim", 0))
    if not path.endswith(".safetensors") or inner in (0, DIFFUSERS_BFL_WIDTH):
        return None
    with safe_open(path, framework="pt") as f:
        keys = list(f.keys())
        if not any(".double_blocks." in f".{k}" for k in keys):
            return None
        state = {k: f.get_tensor(k) for k in keys}
    mlp = int(inner * float(config.get("mlp_ratio", 4.0)))
    return bfl_to_flux(state, inner, mlp)
