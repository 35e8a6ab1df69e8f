"""bitsandbytes 4-bit single files (Forge's `flux1-dev-bnb-nf4*.safetensors` layout) without bitsandbytes.

A 4-bit weight `W` of shape (out, in) is stored, as bitsandbytes' `QuantState.as_dict(packed=True)` writes it, as:
  `W`                                  uint8, two 4-bit codes per byte, first element in the high nibble
  `W.absmax`                           float32, one scale per block of `blocksize` elements (row-major order) -- or,
                                       with double quantization, uint8 codes of the scales, then also
  `W.nested_absmax`, `W.nested_quant_map`  float32 scales (one per `nested_blocksize` codes) and the 256-entry map
  `W.quant_map`                        float32[16]: the code table (NF4 or FP4)
  `W.quant_state.bitsandbytes__nf4`    uint8 bytes of a JSON object: quant_type, blocksize, dtype, shape, and for
                                       double quantization nested_blocksize, nested_dtype, nested_offset
Dequantized: W[i] = quant_map[code[i]] * absmax[i // blocksize] (absmax itself first dequantized the same way, with
the nested map and blocks, plus nested_offset). The NF4 table below is the one of the QLoRA paper (Dettmers et al.
2023, appendix E) and of bitsandbytes' `get_4bit_type("nf4")`; it is used only when a file lacks `quant_map`.
"""

from __future__ import annotations

import json
from typing import Any

from .protocol import WorkerError

NF4_CODE = (
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635, -0.18477343022823334,
    -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
)
# bitsandbytes' FP4 (e2m1, no NaN/inf), normalized to a maximum of 1, in its code order.
FP4_CODE = (
    0.0, 0.005208333333, 0.66666667, 1.0, 0.33333333, 0.5, 0.16666667, 0.25,
    -0.0, -0.005208333333, -0.66666667, -1.0, -0.33333333, -0.5, -0.16666667, -0.25,
)
STATE_SUFFIXES = (".quant_state.bitsandbytes__nf4", ".quant_state.bitsandbytes__fp4")
AUX_SUFFIXES = (".absmax", ".quant_map", ".nested_absmax", ".nested_quant_map") + STATE_SUFFIXES


def is_bnb4(keys: Any) -> bool:
    return any(k.endswith(STATE_SUFFIXES) or k.endswith(".absmax") for k in keys)


def _state_of(tensors: dict[str, Any], name: str) -> dict[str, Any] | None:
    for suffix in STATE_SUFFIXES:
        t = tensors.get(name + suffix)
        if t is not None:
            try:
                return json.loads(bytes(t.flatten().tolist()).decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as exc:
                raise WorkerError("load_failed", f"the quant_state of {name} is not readable JSON") from exc
    return None


def _blockwise(values: Any, absmax: Any, blocksize: int, numel: int) -> Any:
    import torch

    scale = absmax.float().repeat_interleave(blocksize)[:numel]
    if scale.numel() < numel:
        raise WorkerError("load_failed", "a 4-bit weight has fewer absmax blocks than its shape needs")
    return values[:numel] * scale


def dequantize_4bit(tensors: dict[str, Any], name: str, dtype: Any) -> Any:
    """The weight `name` of a bitsandbytes 4-bit file as a `dtype` tensor of its original shape."""
    import torch

    state = _state_of(tensors, name)
    absmax = tensors.get(name + ".absmax")
    if state is None or absmax is None:
        raise WorkerError("invalid_model", f"the 4-bit weight {name} has no quant_state/absmax tensors: the file is incomplete")
    quant_type = str(state.get("quant_type", "nf4"))
    code = tensors.get(name + ".quant_map")
    code = code.float() if code is not None else torch.tensor(NF4_CODE if quant_type == "nf4" else FP4_CODE)
    shape = [int(s) for s in state["shape"]]
    numel = 1
    for s in shape:
        numel *= s
    packed = tensors[name].flatten().to(torch.uint8)
    codes = torch.stack(((packed >> 4) & 0xF, packed & 0xF), dim=-1).flatten()[:numel].long()
    if codes.numel() < numel:
        raise WorkerError("invalid_model", f"the 4-bit weight {name} holds fewer values than its shape {shape}")
    if "nested_blocksize" in state:
        nested_absmax = tensors.get(name + ".nested_absmax")
        nested_code = tensors.get(name + ".nested_quant_map")
        if nested_absmax is None or nested_code is None:
            raise WorkerError("invalid_model", f"the 4-bit weight {name} is double-quantized but lacks nested_absmax/nested_quant_map")
        n = absmax.numel()
        absmax = _blockwise(nested_code.float()[absmax.flatten().long()], nested_absmax, int(state["nested_blocksize"]), n)
        absmax = absmax + float(state.get("nested_offset", 0.0))
    out = _blockwise(code[codes], absmax.flatten(), int(state["blocksize"]), numel)
    return out.reshape(shape).to(dtype)


def dequantize_state_dict(tensors: dict[str, Any], dtype: Any) -> dict[str, Any]:
    """Every 4-bit weight dequantized to `dtype`, the quantization tensors dropped, other tensors cast to `dtype`."""
    import torch

    out: dict[str, Any] = {}
    for key, value in tensors.items():
        if key.endswith(AUX_SUFFIXES):
            continue
        if value.dtype == torch.uint8 and (key + ".absmax" in tensors or any(key + s in tensors for s in STATE_SUFFIXES)):
            out[key] = dequantize_4bit(tensors, key, dtype)
        elif value.dtype == torch.uint8:
            raise WorkerError("invalid_model", f"the 4-bit weight {key} has no quant_state/absmax tensors: the file is incomplete")
        else:
            out[key] = value.to(dtype) if value.is_floating_point() else value
    return out


def bitsandbytes_usable(device: str) -> bool:
    """bitsandbytes' 4-bit kernels: installed and on CUDA."""
    if device != "cuda":
        return False
    try:
        import bitsandbytes  # noqa: F401
    except Exception:  # noqa: BLE001 - a broken install is as good as none
        return False
    return True
