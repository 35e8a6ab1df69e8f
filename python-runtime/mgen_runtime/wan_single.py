"""Wan 2.1 / 2.2 transformers in the original layout (Wan-AI's own files, ComfyUI/CivitAI repackagings such as
`wan2.1_t2v_1.3B_fp16.safetensors`, city96's GGUF files): `blocks.N.self_attn.q.weight`, `patch_embedding.*`,
`text_embedding.*`, `time_embedding.*`, `head.*`, sometimes under `model.diffusion_model.`.

Loading: diffusers' WanTransformer3DModel.from_single_file converts these names itself (its
convert_wan_transformer_to_diffusers is a plain renamer, so any width works), with the base pipeline's
transformer config. GGUF files need one more step diffusers lacks: city96's converter stores Wan's 5-D
`patch_embedding` flattened, with its shape in `comfy.gguf.orig_shape.patch_embedding.weight`;
quant_files.restore_orig_shapes puts it back.

Writing (tiny test files): `wan_to_original` is the inverse of diffusers' converter, from the one name table below
(WAN_NAMES), and every written file is checked by converting it back with diffusers' converter.

  python -m mgen_runtime.wan_single KIND TRANSFORMER_FOLDER OUT_FILE
  KIND: original | original-prefixed | gguf-q8_0 | gguf-f16
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

PREFIX = "model.diffusion_model."

# diffusers name -> original name, per part of a key. Top-level modules (matched at the start of the key) and the
# parts of a transformer block (`blocks.N.<part>`); the block's norm2/norm3 trade places (diffusers' norm2 is the
# cross-attention norm, Wan's norm3), and the one whose weights exist is the cross-attention norm.
WAN_NAMES: dict[str, dict[str, str]] = {
    "top": {
        "condition_embedder.time_embedder.linear_1.": "time_embedding.0.",
        "condition_embedder.time_embedder.linear_2.": "time_embedding.2.",
        "condition_embedder.text_embedder.linear_1.": "text_embedding.0.",
        "condition_embedder.text_embedder.linear_2.": "text_embedding.2.",
        "condition_embedder.time_proj.": "time_projection.1.",
        "condition_embedder.image_embedder.norm1.": "img_emb.proj.0.",
        "condition_embedder.image_embedder.ff.net.0.proj.": "img_emb.proj.1.",
        "condition_embedder.image_embedder.ff.net.2.": "img_emb.proj.3.",
        "condition_embedder.image_embedder.norm2.": "img_emb.proj.4.",
        "proj_out.": "head.head.",
        "scale_shift_table": "head.modulation",
        "patch_embedding.": "patch_embedding.",
    },
    "block": {
        "attn1.": "self_attn.",
        "attn2.": "cross_attn.",
        "to_q.": "q.",
        "to_k.": "k.",
        "to_v.": "v.",
        "to_out.0.": "o.",
        "add_k_proj.": "k_img.",
        "add_v_proj.": "v_img.",
        "norm_added_k.": "norm_k_img.",
        "norm_q.": "norm_q.",
        "norm_k.": "norm_k.",
        "norm2.": "norm3.",
        "ffn.net.0.proj.": "ffn.0.",
        "ffn.net.2.": "ffn.2.",
        "scale_shift_table": "modulation",
    },
}


def _rename_block_part(part: str) -> str:
    out = ""
    rest = part
    while rest:
        for src, dst in WAN_NAMES["block"].items():
            if rest.startswith(src):
                out, rest = out + dst, rest[len(src):]
                break
        else:
            return out + rest  # the parameter name (weight / bias)
    return out


def wan_to_original(state: dict[str, Any]) -> dict[str, Any]:
    """A WanTransformer3DModel state dict (diffusers names) in the original Wan names."""
    out: dict[str, Any] = {}
    for key, value in state.items():
        if key.startswith("blocks."):
            _, index, part = key.split(".", 2)
            new = f"blocks.{index}.{_rename_block_part(part)}"
        else:
            src = next((s for s in WAN_NAMES["top"] if key.startswith(s)), None)
            if src is None:
                raise ValueError(f"wan_to_original has no original name for {key}")
            new = WAN_NAMES["top"][src] + key[len(src):]
        out[new] = value
    return out


def is_wan_original(keys: Any) -> bool:
    return any(k.endswith("head.modulation") for k in keys) and any(k.endswith("patch_embedding.weight") for k in keys)


def check_round_trip(original: dict[str, Any], diffusers_state: dict[str, Any]) -> None:
    """diffusers' own converter (what from_single_file runs) must give `diffusers_state` back from `original`."""
    import torch
    from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers

    back = convert_wan_transformer_to_diffusers(dict(original))
    bad = sorted(k for k in diffusers_state if k not in back or not torch.equal(back[k], diffusers_state[k]))
    extra = sorted(k for k in back if k not in diffusers_state)
    if bad or extra:
        raise ValueError(f"diffusers' Wan converter does not give back the transformer: {(bad + extra)[:3]}")


# --- tiny files --------------------------------------------------------------------------------------------------

def original_state(transformer_folder: Path) -> dict[str, Any]:
    """The diffusers transformer folder's weights in the original names, checked against diffusers' converter."""
    from safetensors.torch import load_file

    sd: dict[str, Any] = {}
    for f in sorted(Path(transformer_folder).glob("*.safetensors")):
        sd.update(load_file(str(f)))
    original = {k: v.contiguous() for k, v in wan_to_original(sd).items()}
    check_round_trip(original, sd)
    return original


def write(kind: str, transformer_folder: Path, out: Path) -> None:
    from safetensors.torch import save_file

    state = original_state(transformer_folder)
    if kind == "original":
        save_file(state, str(out), metadata={"format": "pt"})
    elif kind == "original-prefixed":
        save_file({PREFIX + k: v for k, v in state.items()}, str(out), metadata={"format": "pt"})
    elif kind.startswith("gguf-"):
        from .quant_tiny import write_gguf

        write_gguf(state, out, kind[5:], arch="wan")  # city96's layout: arch wan, no prefix, 5-D tensors flattened
    else:
        raise SystemExit(f"unknown kind {kind}")


def build_tiny_wan_single(out: Path) -> dict:
    """builtin:tiny-wan's transformer as one ComfyUI-style file (`model.diffusion_model.` + Wan's original names),
    loaded onto builtin:tiny-wan as its base: the same weights, so the same frames."""
    from . import tiny
    from .tiny_video import build_tiny_wan

    base_dir = out / ".scratch" / "tiny-wan"
    build_tiny_wan(base_dir)
    filename = "tiny-wan-transformer.safetensors"
    write("original-prefixed", base_dir / "transformer", out / filename)
    tiny._rmtree(out / ".scratch")
    return tiny._manifest(out, "tiny-wan-single", "transformer-only", "tiny-wan", [filename], file=filename,
                          component="transformer", family="wan")


BUILDERS = {"tiny-wan-single": build_tiny_wan_single}


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    write(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))
