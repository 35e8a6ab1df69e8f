"""`upscale` verb: super-resolution files (ESRGAN / Real-ESRGAN, SwinIR, DAT, HAT and the rest of spandrel's list)
loaded through spandrel, the architecture loader ComfyUI and chaiNNer use, and run in overlapping tiles so large
images fit.

The weights are read here (safetensors, or a `.pth` through torch's weights-only loader; spandrel's own reader uses a
restricted unpickler instead) and handed to spandrel as a state dict; spandrel names the architecture, its scale, and
what input sizes it takes. Face restoration and inpainting models (GFPGAN, CodeFormer, LaMa, ...) are refused: they
are no upscalers.
"""
from __future__ import annotations

import warnings
from typing import Any

from .protocol import WorkerError
from .torchvision_standin import import_spandrel

# Wrappers of released files: nested dicts (`params_ema`, ...) spandrel unwraps itself; flat `params_ema.`-style key
# prefixes (safetensors conversions of those files) are stripped here.
_FLAT_WRAPPERS = ("params_ema.", "params-ema.", "params.", "state_dict.", "model_state_dict.", "net.")
# Extra input pixels each tile reads on every side, so tile seams see the same context as one pass would.
OVERLAP = 32


def _load_state(path: str) -> dict[str, Any]:
    import torch

    try:
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file

            sd = load_file(path)
        else:
            sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - truncated file, a pickle beyond plain tensors, ...
        raise WorkerError("invalid_model", "the upscaler file cannot be read as weights (safetensors, or a .pth of plain tensors)") from None
    if not isinstance(sd, dict):
        raise WorkerError("invalid_model", "the upscaler file holds no state dict")
    for prefix in _FLAT_WRAPPERS:
        if sd and all(isinstance(k, str) and k.startswith(prefix) for k in sd):
            sd = {k[len(prefix):]: v for k, v in sd.items()}
            break
    return sd


def load_upscaler(path: str, device: str = "cpu"):
    """spandrel's ImageModelDescriptor for an upscaler file (scale, size requirements, tiling advice), on `device`."""
    spandrel = import_spandrel()
    sd = spandrel.canonicalize_state_dict(_load_state(path))
    try:
        with warnings.catch_warnings():  # torch.meshgrid's indexing notice, from the architectures' __init__
            warnings.simplefilter("ignore", UserWarning)
            desc = spandrel.ModelLoader().load_from_state_dict(sd)
    except spandrel.UnsupportedModelError:
        raise WorkerError("invalid_model", "spandrel knows no upscaler architecture with these tensors "
                          "(ESRGAN, Real-ESRGAN, SwinIR, DAT, HAT and the others it supports)") from None
    except Exception as e:  # noqa: BLE001 - shapes that fit no configuration of the detected architecture
        arch = _detected_arch(spandrel, sd)
        raise WorkerError("invalid_model", f"the weights do not fit a {arch} network ({type(e).__name__})") from None
    name = desc.architecture.name
    if not isinstance(desc, spandrel.ImageModelDescriptor) or desc.purpose not in ("SR", "Restoration"):
        raise WorkerError("invalid_model", f"this {name} file is a {getattr(desc, 'purpose', 'other')} model, not an upscaler")
    if desc.input_channels not in (1, 3) or desc.output_channels not in (1, 3):
        raise WorkerError("invalid_model", f"this {name} file takes {desc.input_channels}-channel images; only RGB and grayscale are supported")
    return desc.to(device).eval()


def _detected_arch(spandrel: Any, sd: dict[str, Any]) -> str:
    for arch in spandrel.MAIN_REGISTRY.architectures("detection"):
        try:
            if arch.detect(sd):
                return str(arch.architecture.name)
        except Exception:  # noqa: BLE001
            continue
    return "known"


def _tile_size(desc: Any, tile: int) -> int:
    """The tile size in input pixels: at least the model's minimum, a multiple of what it needs, so inner tiles need
    no padding (spandrel's call pads the edge tiles itself)."""
    req = desc.size_requirements
    t = max(int(tile), req.minimum, 1)
    return -(-t // req.multiple_of) * req.multiple_of


def tiled(desc: Any, x: Any, tile: int, overlap: int = OVERLAP) -> Any:
    """Runs the model over `x` (1, C, H, W in [0, 1]) in tiles of `tile` input pixels, each read with `overlap` pixels
    of context on every side and cropped back, so seams do not show (a small convolutional model such as the tiny
    ESRGAN gives the pixels of one pass); a model that tiles internally, or an image that fits one tile, runs whole."""
    import torch
    from spandrel import ModelTiling

    _, _, h, w = x.shape
    scale = desc.scale
    t = _tile_size(desc, tile)
    if desc.tiling == ModelTiling.INTERNAL or (h <= t and w <= t):
        return desc(x)
    out = torch.zeros((1, desc.output_channels, h * scale, w * scale), dtype=x.dtype)  # on the CPU: only tiles use the device
    for y0 in range(0, h, t):
        for x0 in range(0, w, t):
            y1, x1 = min(y0 + t, h), min(x0 + t, w)
            py0, px0, py1, px1 = max(y0 - overlap, 0), max(x0 - overlap, 0), min(y1 + overlap, h), min(x1 + overlap, w)
            o = desc(x[:, :, py0:py1, px0:px1])
            oy, ox = (y0 - py0) * scale, (x0 - px0) * scale
            out[:, :, y0 * scale:y1 * scale, x0 * scale:x1 * scale] = o[:, :, oy:oy + (y1 - y0) * scale, ox:ox + (x1 - x0) * scale].cpu()
    return out


def upscale_images(model_path: str, images: list, factor: float | None = None, tile: int = 256, device: str = "cpu"):
    """PIL images in, PIL images out (resized to `factor` x when it differs from the model's native scale)."""
    import numpy as np
    import torch
    from PIL import Image

    desc = load_upscaler(model_path, device)
    native = int(desc.scale)
    mode = "L" if desc.input_channels == 1 else "RGB"
    outs = []
    with torch.inference_mode():
        for im in images:
            src = im.convert(mode)
            arr = np.asarray(src, dtype=np.float32) / 255.0
            x = torch.from_numpy(arr.reshape(arr.shape[0], arr.shape[1], -1)).permute(2, 0, 1)[None].to(device)
            y = tiled(desc, x, tile).clamp(0, 1)
            a = (y[0].permute(1, 2, 0).float().cpu().numpy() * 255.0).round().astype(np.uint8)
            up = Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a).convert("RGB")
            if factor and factor != native:
                up = up.resize((max(1, round(src.width * factor)), max(1, round(src.height * factor))), Image.LANCZOS)
            outs.append(up)
    return outs, native, desc


def _device() -> str:
    from .info import pick_device

    return pick_device("auto")


def run(params: dict[str, Any]) -> dict[str, Any]:
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    inputs = params.get("images") or []
    outputs = params.get("outputs") or []
    if len(inputs) != len(outputs) or not inputs:
        raise WorkerError("bad_request", "upscale needs images and as many outputs")
    ims = [Image.open(p) for p in inputs]
    # PNG text chunks (mgen's / A1111's `parameters`) carry over to the upscaled file.
    texts = [{k: v for k, v in getattr(im, "text", {}).items() if isinstance(v, str)} for im in ims]
    ups, native, desc = upscale_images(params["model"], ims, params.get("scale"), int(params.get("tile") or 256), _device())
    done = []
    for up, out, src, text in zip(ups, outputs, inputs, texts):
        info = None
        if text and out.lower().endswith(".png"):
            info = PngInfo()
            for k, v in text.items():
                info.add_text(k, v)
        up.save(out, pnginfo=info) if info else up.save(out)
        done.append({"input": src, "path": out, "width": up.width, "height": up.height})
    return {"images": done, "native_scale": native, "architecture": str(desc.architecture.name)}
