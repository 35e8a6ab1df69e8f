"""Quantized and low-precision denoiser files: GGUF, bitsandbytes NF4/FP4, fp8 and ComfyUI scaled fp8.

`file_kind` reads only the file's header; `load_denoiser` loads a transformer/UNet file by its kind:
  gguf        diffusers' GGUFQuantizationConfig: the weights stay in their GGUF types (Q8_0, Q4_K, ...) and are
              dequantized layer by layer to the compute dtype, on CPU and CUDA alike.
  bnb-nf4/fp4 on CUDA with bitsandbytes: kept 4-bit (dequantized, then requantized by bitsandbytes' NF4, which gives
              the same codes back); elsewhere dequantized to the compute dtype by quant_bnb.py.
  fp8         on CUDA: fp8 storage with diffusers' layer-wise casting to the compute dtype; on CPU: upcast.
  scaled-fp8  each fp8 weight times its `scale_weight` / `weight_scale`, in the compute dtype.
Each returns the model and one note for the plan (what happened to the weights), which the CLI prints.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from .protocol import WorkerError

GGUF_MAGIC = b"GGUF"
FP8_DTYPES = ("F8_E4M3", "F8_E5M2")
SCALE_SUFFIXES = (".scale_weight", ".weight_scale")
SCALE_DROP = (".scale_input", ".input_scale")


def _safetensors_header(path: Path) -> dict[str, Any]:
    with path.open("rb") as fh:
        raw = fh.read(8)
        if len(raw) < 8:
            raise WorkerError("invalid_model", f"{path.name} is truncated: no safetensors header")
        (size,) = struct.unpack("<Q", raw)
        if size > 100 * 1024 * 1024:
            raise WorkerError("invalid_model", f"{path.name} has an implausible safetensors header size")
        try:
            return json.loads(fh.read(size))
        except ValueError as exc:
            raise WorkerError("invalid_model", f"{path.name} has an unreadable safetensors header") from exc


def file_kind(path: Path) -> str | None:
    """gguf | bnb-nf4 | bnb-fp4 | scaled-fp8 | fp8, or None for plain 16/32-bit weights (or a folder)."""
    if not path.is_file():
        return None
    with path.open("rb") as fh:
        if fh.read(4) == GGUF_MAGIC:
            return "gguf"
    if path.suffix.lower() != ".safetensors":
        return None
    header = _safetensors_header(path)
    keys = [k for k in header if k != "__metadata__"]
    if any(k.endswith((".quant_state.bitsandbytes__nf4", ".quant_state.bitsandbytes__fp4", ".absmax", ".quant_map")) for k in keys):
        _check_bnb_header(path, header, set(keys))
        return "bnb-fp4" if any(k.endswith(".quant_state.bitsandbytes__fp4") for k in keys) else "bnb-nf4"
    dtypes = {v.get("dtype") for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)}
    if dtypes & set(FP8_DTYPES):
        if any(k == "scaled_fp8" or k.endswith(".scaled_fp8") or k.endswith(SCALE_SUFFIXES) for k in keys):
            return "scaled-fp8"
        return "fp8"
    return None


def _check_bnb_header(path: Path, header: dict[str, Any], keys: set[str]) -> None:
    """Every packed 4-bit weight needs its absmax and quant_state tensors (read from the header, before any load)."""
    for key in sorted(keys):
        info = header[key]
        if not (isinstance(info, dict) and info.get("dtype") == "U8" and key.endswith(".weight")):
            continue
        has_state = any(key + s in keys for s in (".quant_state.bitsandbytes__nf4", ".quant_state.bitsandbytes__fp4"))
        if not has_state or key + ".absmax" not in keys:
            raise WorkerError("invalid_model", f"{path.name}: the 4-bit weight {key} has no quant_state/absmax tensors (an incomplete NF4 file)")


def check_gguf(path: Path) -> str:
    """The file's GGUF architecture; a truncated file or one with no tensors is an invalid model."""
    try:
        from gguf import GGUFReader

        reader = GGUFReader(str(path))
    except Exception as exc:  # noqa: BLE001 - gguf raises ValueError/IndexError/struct errors on short files
        raise WorkerError("invalid_model", f"{path.name} is not a readable GGUF file (truncated or corrupt)") from exc
    if not reader.tensors:
        raise WorkerError("invalid_model", f"{path.name} holds no tensors")
    field = reader.fields.get("general.architecture")
    if field is None:
        return "unknown"
    return bytes(field.parts[field.data[0]]).decode("utf-8", "replace")


def gguf_state(path: Path, model_class: str) -> dict[str, Any]:
    """A transformer GGUF's tensors (GGUFParameters, still quantized), with ComfyUI's `model.diffusion_model.` prefix
    dropped, in the names the class's from_single_file converter expects:
      FLUX        original BFL names, converted here at any width (diffusers' converter assumes FLUX.1's 3072);
      SD3/SD3.5   Stability's MMDiT names (city96's `sd3` files), left to diffusers' converter, which reads every width
                  off the tensors and splits the fused qkv along rows (whole quantized rows);
      Qwen-Image  diffusers' names already (city96's `qwen_image` files): diffusers maps them as they are."""
    from diffusers.models.model_loading_utils import load_gguf_checkpoint

    state = restore_orig_shapes(path, load_gguf_checkpoint(str(path)))
    state = {k[len(_COMFY_PREFIX):] if k.startswith(_COMFY_PREFIX) else k: v for k, v in state.items()}
    if model_class == "FluxTransformer2DModel" and is_flux_original(state):
        return original_to_flux(state)
    return state


_COMFY_PREFIX = "model.diffusion_model."
ORIG_SHAPE = "comfy.gguf.orig_shape."


def restore_orig_shapes(path: Path, state: dict[str, Any]) -> dict[str, Any]:
    """city96's converter stores tensors GGUF cannot hold as they are (more than 4 dimensions, such as Wan's 5-D
    patch_embedding, or rows its quantizer cannot split) reshaped, with the real shape in a
    `comfy.gguf.orig_shape.<name>` field, which diffusers' loader ignores: those tensors are put back in their shape
    here (quantized ones dequantized first: their blocks follow the stored rows, not the real ones)."""
    import numpy as np
    import torch
    from gguf import GGUFReader, GGUFValueType
    from gguf.quants import dequantize

    reader = GGUFReader(str(path))
    for tensor in reader.tensors:
        field = reader.get_field(ORIG_SHAPE + tensor.name)
        if field is None or tensor.name not in state:
            continue
        if field.types[:1] != [GGUFValueType.ARRAY]:
            raise WorkerError("invalid_model", f"{path.name} has a malformed {ORIG_SHAPE}{tensor.name} field")
        shape = tuple(int(field.parts[i][0]) for i in field.data)
        value = state[tensor.name]
        if getattr(value, "quant_type", None) is not None:
            data = dequantize(np.asarray(tensor.data), tensor.tensor_type)
            value = torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32))
        state[tensor.name] = value.reshape(shape)
    return state


def gguf_types(path: Path) -> list[str]:
    from gguf import GGUFReader

    return sorted({t.tensor_type.name for t in GGUFReader(str(path)).tensors})


def upcast_fp8(tensors: dict[str, Any], dtype: Any) -> dict[str, Any]:
    """fp8 weights (scaled by their per-layer scale when the file has one) and everything else, in `dtype`."""
    out: dict[str, Any] = {}
    for key, value in tensors.items():
        if key == "scaled_fp8" or key.endswith(".scaled_fp8") or key.endswith(SCALE_SUFFIXES + SCALE_DROP):
            continue
        if not value.is_floating_point():
            out[key] = value
            continue
        w = value.to(dtype)
        if key.endswith(".weight"):
            stem = key[: -len(".weight")]
            scale = tensors.get(stem + ".scale_weight")
            if scale is None:
                scale = tensors.get(stem + ".weight_scale")
            if scale is not None:
                w = (value.float() * scale.float()).to(dtype)
        out[key] = w
    return out


def _diffusers_names(state: dict[str, Any]) -> dict[str, Any]:
    """FLUX's original names converted here (any width); other families' by diffusers' from_single_file."""
    return original_to_flux(state) if is_flux_original(state) else state


def _fp8_storage(tensors: dict[str, Any]) -> Any:
    import torch

    kinds = {t.dtype for t in tensors.values()}
    return torch.float8_e5m2 if torch.float8_e5m2 in kinds and torch.float8_e4m3fn not in kinds else torch.float8_e4m3fn


def load_denoiser(model_cls: Any, path: Path, kind: str, device: str, dtype: Any, kwargs: dict[str, Any]) -> tuple[Any, str]:
    """The denoiser from a quantized/fp8 file (`kwargs`: config/subfolder/dtype/local_files_only), and a note."""
    import torch

    dtype_name = str(dtype).replace("torch.", "")
    if kind == "gguf":
        from diffusers import GGUFQuantizationConfig

        check_gguf(path)
        types = ", ".join(t for t in gguf_types(path) if t not in ("F32",))
        source = gguf_state(path, model_cls.__name__)
        model = model_cls.from_single_file(source, quantization_config=GGUFQuantizationConfig(compute_dtype=dtype), **kwargs)
        return model, f"GGUF weights ({types}) stay quantized and are dequantized layer by layer to {dtype_name}"
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    if kind.startswith("bnb-"):
        from . import quant_bnb

        state = _diffusers_names(quant_bnb.dequantize_state_dict(tensors, dtype))
        del tensors
        if quant_bnb.bitsandbytes_usable(device):
            from diffusers import BitsAndBytesConfig

            qtype = kind.split("-")[1]
            config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=qtype, bnb_4bit_compute_dtype=dtype)
            model = model_cls.from_single_file(state, quantization_config=config, **kwargs)
            return model, f"{qtype.upper()} weights kept 4-bit on CUDA by bitsandbytes (compute in {dtype_name})"
        model = model_cls.from_single_file(state, **kwargs)
        why = "bitsandbytes has no kernels for this device" if device != "cuda" else "bitsandbytes is not installed"
        return model, f"{kind[4:].upper()} weights dequantized to {dtype_name} ({why}): they take full-precision memory"
    storage = _fp8_storage(tensors)
    state = _diffusers_names(upcast_fp8(tensors, dtype))
    del tensors
    model = model_cls.from_single_file(state, **kwargs)
    if kind == "fp8" and device == "cuda":
        model.enable_layerwise_casting(storage_dtype=storage, compute_dtype=dtype)
        return model, f"fp8 weights kept in {str(storage).replace('torch.', '')} with layer-wise casting to {dtype_name}"
    if kind == "scaled-fp8":
        return model, f"scaled fp8 weights multiplied by their per-layer scales and upcast to {dtype_name}"
    return model, f"fp8 weights upcast to {dtype_name} ({'no fp8 compute on ' + device})"


# --- FLUX original (BFL / ComfyUI / city96) names -> diffusers --------------------------------------------------
# diffusers' convert_flux_transformer_checkpoint_to_diffusers splits the fused qkv / linear1 weights assuming
# FLUX.1's width (3072); this converter reads the widths from the tensors, so it serves any width, GGUF tensors
# included (they are split along rows, which quantization keeps whole).

def is_flux_original(keys: Any) -> bool:
    return any(k.endswith("double_blocks.0.img_attn.qkv.weight") for k in keys)


def original_to_flux(sd: dict[str, Any]) -> dict[str, Any]:
    """Original (BFL/ComfyUI/city96) FLUX names -> diffusers names, through bfl_layout's converter with the widths read
    off the tensors: any width, GGUF tensors included (they are split along rows, which quantization keeps whole)."""
    from .bfl_layout import bfl_to_flux

    sd = {k[len("model.diffusion_model."):] if k.startswith("model.diffusion_model.") else k: v for k, v in sd.items()}
    inner = int(sd["img_in.weight"].shape[0])
    fused = next((v for k, v in sd.items() if k.endswith(".linear1.weight")), None)
    mlp = int(fused.shape[0]) - 3 * inner if fused is not None else 4 * inner
    return bfl_to_flux(sd, inner, mlp)
