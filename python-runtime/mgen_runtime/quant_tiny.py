"""Quantized files of a (tiny) FLUX, SD3 or Qwen-Image transformer, in the layouts people publish, for tests and
benchmarks.

  python -m mgen_runtime.quant_tiny KIND TRANSFORMER_FOLDER OUT_FILE
  KIND: gguf-q8_0 | gguf-q4_k | gguf-q5_0 | gguf-f16 | gguf-bf16 | nf4 | nf4-nested | fp4 | fp8 | fp8-e5m2 | scaled-fp8

The family comes from the folder's config.json and picks the names city96's GGUF files (no prefix) and Forge's /
ComfyUI's safetensors files (`model.diffusion_model.` prefix) use:
  FLUX        the original BFL names (`double_blocks.0.img_attn.qkv.weight`, ...), by `flux_to_original`, the inverse
              of diffusers' own converter (checked in tests/test_quant.py); GGUF architecture `flux`.
  SD3/SD3.5   Stability's MMDiT names (`joint_blocks.0.x_block.attn.qkv.weight`, ...), by tiny_single's
              `sd3_to_mmdit`, the inverse of diffusers' convert_sd3_transformer_checkpoint_to_diffusers; `sd3`.
  Qwen-Image  diffusers' own names (Qwen released the model in them; ComfyUI and city96 kept them); `qwen_image`.
GGUF tensors are written by the `gguf` package's writer and quantized by its quantizer (Q8_0, Q5_0, Q4_0, F16,
BF16); it has no K-quant quantizer, so Q4_K blocks are made by `quantize_q4_k` below (and read back by gguf's
dequantizer in the tests). The NF4/FP4 and fp8 writers are reference quantizers independent of the loaders.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

PREFIX = "model.diffusion_model."


def flux_to_original(sd: dict[str, Any]) -> dict[str, Any]:
    """diffusers FluxTransformer2DModel names -> BFL/ComfyUI names (bfl_layout's converter, the inverse of the
    loader's), as contiguous tensors for the GGUF writer."""
    from .bfl_layout import flux_to_bfl

    return {k: v.contiguous() for k, v in flux_to_bfl(dict(sd)).items()}


# --- GGUF --------------------------------------------------------------------------------------------------------

def quantize_q4_k(x: np.ndarray) -> np.ndarray:
    """Q4_K blocks (llama.cpp's block_q4_K: d, dmin as f16, 12 bytes of 6-bit sub-block scales and mins, 128 bytes of
    4-bit values) for rows whose length is a multiple of 256. A plain min/max quantizer, not llama.cpp's search."""
    rows = x.reshape(-1, 256).astype(np.float32)
    sub = rows.reshape(-1, 8, 32)
    lo = np.minimum(sub.min(axis=-1), 0.0)
    hi = sub.max(axis=-1)
    scale = np.maximum((hi - lo) / 15.0, 1e-12)
    mins = -lo
    d = np.maximum(scale.max(axis=-1, keepdims=True) / 63.0, 1e-12).astype(np.float16).astype(np.float32)
    dmin = np.maximum(mins.max(axis=-1, keepdims=True) / 63.0, 1e-12).astype(np.float16).astype(np.float32)
    sc = np.clip(np.round(scale / d), 1, 63).astype(np.uint8)
    mn = np.clip(np.round(mins / dmin), 0, 63).astype(np.uint8)
    q = np.clip(np.round((sub + (dmin * mn)[..., None]) / (d * sc)[..., None]), 0, 15).astype(np.uint8)
    packed_scales = np.concatenate([
        (sc[:, :4] & 0x3F) | ((sc[:, 4:] >> 4) << 6),
        (mn[:, :4] & 0x3F) | ((mn[:, 4:] >> 4) << 6),
        (sc[:, 4:] & 0x0F) | ((mn[:, 4:] & 0x0F) << 4),
    ], axis=-1).astype(np.uint8)
    # 4 chunks of 32 bytes: low nibbles sub-block 2j, high nibbles sub-block 2j+1.
    qs = (q[:, 0::2, :] | (q[:, 1::2, :] << 4)).reshape(-1, 128).astype(np.uint8)
    blocks = np.concatenate([d.astype(np.float16).view(np.uint8), dmin.astype(np.float16).view(np.uint8), packed_scales, qs], axis=-1)
    return blocks.reshape(*x.shape[:-1], x.shape[-1] // 256 * 144)


def write_gguf(state: dict[str, Any], out: Path, qtype_name: str, arch: str = "flux") -> None:
    """city96's layout: 2-D (Linear) weights in `qtype_name` where their rows fit its blocks (else Q8_0, else F16),
    the rest (biases, norm scales, SD3's conv patch embedding and pos_embed table) in F32; a tensor of more than 4
    dimensions (Wan's patch_embedding), which GGUF cannot hold, flattened to rows with its shape in
    `comfy.gguf.orig_shape.<name>` (read back by quant_files.restore_orig_shapes)."""
    import gguf

    T = gguf.GGMLQuantizationType
    qtype = T[qtype_name.upper()]
    writer = gguf.GGUFWriter(str(out), arch=arch)
    # general.file_type as llama.cpp's quantizer writes it (Q4_K files are "Q4_K_M", as most published ones).
    file_type = {"Q4_K": "MOSTLY_Q4_K_M", "F32": "ALL_F32"}.get(qtype.name, f"MOSTLY_{qtype.name}")
    writer.add_file_type(int(gguf.LlamaFileType[file_type]))
    for key, tensor in state.items():
        data = tensor.float().numpy()
        if data.ndim != 2:
            if data.ndim > 4:
                writer.add_array(f"comfy.gguf.orig_shape.{key}", [int(d) for d in data.shape])
                data = data.reshape(data.shape[0], -1)
            writer.add_tensor(key, data.astype(np.float32))
            continue
        want = qtype
        block = gguf.GGML_QUANT_SIZES[want][0]
        if data.shape[-1] % block:
            want = T.Q8_0 if data.shape[-1] % 32 == 0 else T.F16
        if want == T.F16:
            writer.add_tensor(key, data.astype(np.float16))
        elif want == T.Q4_K:
            writer.add_tensor(key, quantize_q4_k(data), raw_dtype=want)
        else:
            writer.add_tensor(key, gguf.quants.quantize(data, want), raw_dtype=want)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


# --- bitsandbytes 4-bit ------------------------------------------------------------------------------------------

NF4 = np.array([-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
                -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
                0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
                0.7229568362236023, 1.0], dtype=np.float32)
FP4 = np.array([0.0, 0.005208333333, 0.66666667, 1.0, 0.33333333, 0.5, 0.16666667, 0.25,
                -0.0, -0.005208333333, -0.66666667, -1.0, -0.33333333, -0.5, -0.16666667, -0.25], dtype=np.float32)


def _blockwise_codes(flat: np.ndarray, code: np.ndarray, blocksize: int) -> tuple[np.ndarray, np.ndarray]:
    pad = (-flat.size) % blocksize
    blocks = np.concatenate([flat, np.zeros(pad, np.float32)]).reshape(-1, blocksize)
    absmax = np.abs(blocks).max(axis=1)
    normed = blocks / np.where(absmax == 0, 1, absmax)[:, None]
    idx = np.abs(normed[..., None] - code[None, None, :]).argmin(axis=-1).reshape(-1)[: flat.size]
    return idx.astype(np.uint8), absmax.astype(np.float32)


def quantize_4bit(w: np.ndarray, quant_type: str = "nf4", blocksize: int = 64, nested: bool = False) -> dict[str, np.ndarray]:
    """One weight as bitsandbytes' QuantState.as_dict(packed=True) stores it (keys relative to `<name>.weight`)."""
    code = NF4 if quant_type == "nf4" else FP4
    flat = w.astype(np.float32).reshape(-1)
    idx, absmax = _blockwise_codes(flat, code, blocksize)
    if idx.size % 2:
        idx = np.concatenate([idx, np.zeros(1, np.uint8)])
    packed = ((idx[0::2] << 4) | idx[1::2]).astype(np.uint8).reshape(-1, 1)
    state: dict[str, Any] = {"quant_type": quant_type, "blocksize": blocksize, "dtype": "bfloat16", "shape": list(w.shape)}
    out: dict[str, np.ndarray] = {"": packed, ".quant_map": code.copy()}
    if nested:
        # Double quantization: the absmax values minus their mean, 8-bit blockwise with a 256-entry signed map.
        offset = float(absmax.mean())
        nested_code = np.linspace(-1.0, 1.0, 256, dtype=np.float32)
        nidx, nabs = _blockwise_codes(absmax - offset, nested_code, 256)
        out[".absmax"], out[".nested_absmax"], out[".nested_quant_map"] = nidx, nabs, nested_code
        state.update({"nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": offset})
    else:
        out[".absmax"] = absmax
    out[f".quant_state.bitsandbytes__{quant_type}"] = np.frombuffer(json.dumps(state).encode(), dtype=np.uint8).copy()
    return out


def write_bnb4(state: dict[str, Any], out: Path, quant_type: str = "nf4", nested: bool = False, drop_state: bool = False) -> None:
    """Forge's flux1-dev-bnb-nf4 layout: every Linear weight (2-D) 4-bit, the rest bf16, `model.diffusion_model.`."""
    import torch
    from safetensors.torch import save_file

    tensors: dict[str, Any] = {}
    for key, value in state.items():
        if key.endswith(".weight") and value.ndim == 2:
            for suffix, arr in quantize_4bit(value.float().numpy(), quant_type, nested=nested).items():
                if drop_state and "quant_state" in suffix:
                    continue
                tensors[PREFIX + key + suffix] = torch.from_numpy(arr)
        else:
            tensors[PREFIX + key] = value.to(torch.bfloat16)
    save_file(tensors, str(out))


# --- fp8 ---------------------------------------------------------------------------------------------------------

def write_fp8(state: dict[str, Any], out: Path, scaled: bool = False, e5m2: bool = False) -> None:
    """fp8 Linear weights (ComfyUI's *-fp8_e4m3fn.safetensors); `scaled`: ComfyUI's scaled fp8, each weight divided by
    a per-layer `scale_weight` (max |w| / 448) before the cast, plus the `scaled_fp8` marker tensor."""
    import torch
    from safetensors.torch import save_file

    fp8 = torch.float8_e5m2 if e5m2 else torch.float8_e4m3fn
    tensors: dict[str, Any] = {}
    for key, value in state.items():
        if key.endswith(".weight") and value.ndim == 2:
            w = value.float()
            if scaled:
                scale = (w.abs().max() / 448.0).clamp(min=1e-12)
                tensors[PREFIX + key] = (w / scale).to(fp8)
                tensors[PREFIX + key[: -len(".weight")] + ".scale_weight"] = scale.reshape(())
            else:
                tensors[PREFIX + key] = w.to(fp8)
        else:
            tensors[PREFIX + key] = value.to(torch.bfloat16)
    if scaled:
        tensors["scaled_fp8"] = torch.zeros(0, dtype=fp8)
    save_file(tensors, str(out))


def _sd3_original(sd: dict[str, Any]) -> dict[str, Any]:
    from . import tiny  # noqa: F401 - tiny_single is imported through tiny (their imports are circular)
    from .tiny_single import sd3_to_mmdit

    return {k: v.contiguous() for k, v in sd3_to_mmdit(dict(sd)).items()}


# transformer class -> (GGUF architecture as city96's convert.py names it, diffusers names -> published names)
LAYOUTS: dict[str, tuple[str, Any]] = {
    "FluxTransformer2DModel": ("flux", flux_to_original),
    "SD3Transformer2DModel": ("sd3", _sd3_original),
    "QwenImageTransformer2DModel": ("qwen_image", lambda sd: {k: v.contiguous() for k, v in sd.items()}),
}


def original_state(transformer_folder: Path) -> tuple[dict[str, Any], str]:
    """The folder's weights in the names its family is published in, and the GGUF architecture of that family."""
    from safetensors.torch import load_file

    cls = json.loads((Path(transformer_folder) / "config.json").read_text(encoding="utf-8")).get("_class_name", "")
    if cls not in LAYOUTS:
        raise SystemExit(f"no published layout known for {cls or 'this transformer'} (known: {', '.join(LAYOUTS)})")
    arch, convert = LAYOUTS[cls]
    files = sorted(Path(transformer_folder).glob("*.safetensors"))
    sd: dict[str, Any] = {}
    for f in files:
        sd.update(load_file(str(f)))
    return convert(sd), arch


def write(kind: str, transformer_folder: Path, out: Path) -> None:
    state, arch = original_state(transformer_folder)
    if kind.startswith("gguf-"):
        write_gguf(state, out, kind[5:], arch)
    elif kind in ("nf4", "nf4-nested", "fp4", "nf4-no-state"):
        write_bnb4(state, out, "fp4" if kind == "fp4" else "nf4", nested=kind == "nf4-nested", drop_state=kind == "nf4-no-state")
    elif kind in ("fp8", "fp8-e5m2", "scaled-fp8"):
        write_fp8(state, out, scaled=kind == "scaled-fp8", e5m2=kind == "fp8-e5m2")
    else:
        raise SystemExit(f"unknown kind {kind}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    write(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))
