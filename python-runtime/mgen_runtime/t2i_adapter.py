"""T2I-Adapters (`plan.t2i_adapter`): a diffusers T2IAdapter folder, or one weight file in diffusers' layout
(`adapter.conv_in.*`, `adapter.body.N.resnets.M.*`) or TencentARC's original one (`conv_in.*`, `body.K.block1.*`), put
on the loaded text-to-image pipeline as StableDiffusion(XL)AdapterPipeline (from_pipe: the components are shared).

A single file has no config: its widths, residual blocks, input channels and pixel-unshuffle factor come from its
shapes, and where the downsampling happens (no weights say it: `full_adapter` halves every level after the first,
`full_adapter_xl` only the third) from the base model's UNet, whose down blocks each take one residual of a fixed
width and size. Every adapter, folder or file, is checked against those slots before the first request.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from .protocol import WorkerError

_ORIGINAL_KEY = re.compile(r"body\.(\d+)\.(block1|block2|in_conv)\.(weight|bias)")
_DIFFUSERS_KEY = re.compile(r"adapter\.body\.(\d+)\.(?:resnets\.(\d+)\.(block1|block2)|(in_conv))\.(weight|bias)")


def attach(pipe: Any, spec: dict[str, Any], common: dict[str, Any], allow_pickle: bool) -> Any:
    """The pipeline with the adapter on it: StableDiffusion(XL)AdapterPipeline sharing `pipe`'s components."""
    import diffusers

    unet = getattr(pipe, "unet", None)
    if unet is None or getattr(pipe, "text_encoder", None) is None:
        raise WorkerError("load_failed", f"{type(pipe).__name__} takes no T2I-Adapter (SD1, SD2 and SDXL pipelines do)")
    path = Path(spec["path"])
    vae_scale = int(getattr(pipe, "vae_scale_factor", 8) or 8)
    slots = unet_slots(unet.config)
    if path.is_dir():
        from .plans import _folder_class

        if _folder_class(path, "T2IAdapter") != "T2IAdapter":
            raise WorkerError("load_failed", f"{path.name} is a {_folder_class(path, '')} folder; mgen loads one T2IAdapter at a time")
        adapter = diffusers.T2IAdapter.from_pretrained(str(path), **common)
        config = dict(adapter.config)
        if not fits(config, slots, vae_scale):
            raise WorkerError("load_failed", f"{path.name}: {mismatch(config, slots, vae_scale)}")
    else:
        adapter = _from_file(path, slots, vae_scale, common, allow_pickle)
    xl = getattr(pipe, "text_encoder_2", None) is not None
    cls = diffusers.StableDiffusionXLAdapterPipeline if xl else _sd_adapter_pipeline()
    out = cls.from_pipe(pipe, adapter=adapter, dtype=unet.dtype)
    # What mgen keeps on the pipeline (IP-Adapter image, aesthetic embedding, ...) goes with it.
    for name, value in vars(pipe).items():
        if name.startswith("_mgen_"):
            setattr(out, name, value)
    out._mgen_t2i_scale = float(spec.get("scale", 1.0))
    return out


def _sd_adapter_pipeline() -> Any:
    """diffusers' SD1/SD2 adapter pipeline with the LoRA loader StableDiffusionPipeline has (the SDXL one has its own):
    a request's LoRAs load into the same UNet and text encoder."""
    from diffusers import StableDiffusionAdapterPipeline
    from diffusers.loaders import StableDiffusionLoraLoaderMixin

    return type("StableDiffusionAdapterPipeline", (StableDiffusionAdapterPipeline, StableDiffusionLoraLoaderMixin), {})


def check_request(req: dict[str, Any]) -> None:
    """A T2I-Adapter pipeline is text-to-image: each request brings a control image and no input image."""
    if req.get("image") is not None or req.get("mask") is not None:
        raise WorkerError("bad_params", "request.image: the loaded T2I-Adapter pipeline is text-to-image only")
    if req.get("hires") is not None:
        raise WorkerError("bad_params", "request.hires: the hires fix's image-to-image pass has no T2I-Adapter pipeline")
    if req.get("control_image") is None:
        raise WorkerError("bad_params", "request.control_image: the loaded T2I-Adapter needs a control image")


def request_kwargs(pipe: Any, kwargs: dict[str, Any], params: dict[str, Any]) -> None:
    """The plan's scale unless the request's params set adapter_conditioning_scale; the image size must divide by the
    adapter's unshuffle factor."""
    if "adapter_conditioning_scale" not in params:
        kwargs["adapter_conditioning_scale"] = pipe._mgen_t2i_scale
    factor = int(pipe.adapter.downscale_factor)
    for field in ("width", "height"):
        v = kwargs.get(field)
        if isinstance(v, int) and v % factor:
            low, high = v // factor * factor, (v // factor + 1) * factor
            options = f"{low} or {high}" if low else str(high)
            raise WorkerError("bad_params", f"request.{field}: {v} is not a multiple of {factor}, which this T2I-Adapter needs (try {options})")


# --- the UNet's residual slots and the adapter's features ------------------------------------------------------

def unet_slots(config: Any) -> list[tuple[int, int]]:
    """(width, downscale relative to the latent) of the residual each down block adds: a cross-attention block adds it
    inside, before its own downsampler; a plain block after it (UNet2DConditionModel.forward)."""
    slots: list[tuple[int, int]] = []
    scale = 1
    types, widths = list(config["down_block_types"]), list(config["block_out_channels"])
    for i, (kind, width) in enumerate(zip(types, widths)):
        downsamples = i < len(types) - 1
        if "CrossAttn" in kind:
            slots.append((int(width), scale))
            scale *= 2 if downsamples else 1
        else:
            scale *= 2 if downsamples else 1
            slots.append((int(width), scale))
    return slots


def features(config: dict[str, Any]) -> list[tuple[int, int]]:
    """(width, downscale relative to the image) of each residual the adapter makes (diffusers' adapter classes)."""
    channels = [int(c) for c in config.get("channels") or []]
    d = int(config.get("downscale_factor") or 8)
    kind = config.get("adapter_type") or "full_adapter"
    if kind == "full_adapter_xl":
        return [(c, d * (2 if i >= 2 else 1)) for i, c in enumerate(channels)]
    if kind == "light_adapter":
        return [(c, d * 2**i) for i, c in enumerate(channels + channels[-1:])]
    return [(c, d * 2**i) for i, c in enumerate(channels)]


def fits(config: dict[str, Any], slots: list[tuple[int, int]], vae_scale: int) -> bool:
    feats = features(config)
    n = min(len(feats), len(slots))
    return n > 0 and all(feats[k] == (slots[k][0], slots[k][1] * vae_scale) for k in range(n))


def mismatch(config: dict[str, Any], slots: list[tuple[int, int]], vae_scale: int) -> str:
    have = ", ".join(f"{c}@1/{s}" for c, s in features(config))
    want = ", ".join(f"{c}@1/{s * vae_scale}" for c, s in slots)
    return f"this T2I-Adapter's residuals ({have} of the image) do not fit the base model's UNet ({want})"


# --- single files --------------------------------------------------------------------------------------------

def _read(path: Path, allow_pickle: bool) -> dict[str, Any]:
    from .plans import _read_state

    source = _read_state(path, allow_pickle)  # a pickle only with allow_pickle, through the weights-only loader
    if isinstance(source, str):
        from safetensors.torch import load_file

        return load_file(source)
    state = source
    while isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WorkerError("load_failed", f"{path.name} holds no state dict")
    return {k: v for k, v in state.items() if hasattr(v, "shape")}


def to_diffusers(state: dict[str, Any], name: str) -> tuple[dict[str, Any], int]:
    """The state dict in diffusers' names (`adapter.*`) and the residual blocks per level."""
    if "adapter.conv_in.weight" in state:
        levels = {int(m.group(1)) for k in state if (m := _DIFFUSERS_KEY.fullmatch(k))}
        blocks = {int(m.group(2)) for k in state if (m := _DIFFUSERS_KEY.fullmatch(k)) and m.group(1) == "0" and m.group(2)}
        if not levels or not blocks:
            raise WorkerError("load_failed", f"{name} has adapter.conv_in but no adapter.body.N.resnets.M weights: not a full T2I-Adapter")
        return dict(state), len(blocks)
    if "conv_in.weight" not in state:
        raise WorkerError("load_failed", f"{name} is not a T2I-Adapter file: it has no conv_in weights")
    # TencentARC's layout: body is one flat list of levels x blocks; a level's first block changes the width.
    index = {int(m.group(1)) for k in state if (m := _ORIGINAL_KEY.fullmatch(k))}
    widening = sorted(int(m.group(1)) for k in state if (m := _ORIGINAL_KEY.fullmatch(k)) and m.group(2) == "in_conv")
    if not index:
        raise WorkerError("load_failed", f"{name} has conv_in but no body.N.block1 weights: not a T2I-Adapter mgen can read")
    total = max(index) + 1
    per_level = widening[0] if widening and widening[0] > 0 else 2
    if total % per_level or 0 in widening:
        raise WorkerError("load_failed", f"{name}: its body of {total} blocks does not split into levels (a light or style adapter?)")
    out: dict[str, Any] = {f"adapter.conv_in.{p}": state[f"conv_in.{p}"] for p in ("weight", "bias") if f"conv_in.{p}" in state}
    for key, value in state.items():
        m = _ORIGINAL_KEY.fullmatch(key)
        if m is None:
            if not key.startswith("conv_in."):
                raise WorkerError("load_failed", f"{name} has a weight ({key}) that diffusers' T2I-Adapter has no place for")
            continue
        level, block = divmod(int(m.group(1)), per_level)
        part, what = m.group(2), m.group(3)
        out[f"adapter.body.{level}.in_conv.{what}" if part == "in_conv" else f"adapter.body.{level}.resnets.{block}.{part}.{what}"] = value
    return out, per_level


def derive_config(state: dict[str, Any], per_level: int, slots: list[tuple[int, int]], vae_scale: int, name: str) -> dict[str, Any]:
    """The T2IAdapter config for a diffusers-named state dict: shapes give the widths and the unshuffle factor, the
    UNet's slots the adapter type."""
    conv_in = tuple(state["adapter.conv_in.weight"].shape)
    levels = sorted({int(m.group(1)) for k in state if (m := _DIFFUSERS_KEY.fullmatch(k))})
    channels = [int(state[f"adapter.body.{i}.resnets.0.block1.weight"].shape[0]) for i in levels]
    unshuffled = int(conv_in[1])
    in_channels, factor = _split_unshuffle(unshuffled)
    if factor is None:
        raise WorkerError("load_failed", f"{name}: its conv_in takes {unshuffled} channels, no pixel-unshuffled RGB or grey image")
    config = {"in_channels": in_channels, "channels": channels, "num_res_blocks": per_level, "downscale_factor": factor}
    for kind in ("full_adapter", "full_adapter_xl"):
        if fits({**config, "adapter_type": kind}, slots, vae_scale):
            return {**config, "adapter_type": kind}
    raise WorkerError("load_failed", f"{name}: {mismatch({**config, 'adapter_type': 'full_adapter'}, slots, vae_scale)}")


def _split_unshuffle(width: int) -> tuple[int, int | None]:
    """conv_in's input width = image channels x factor^2 (RGB first, then grey)."""
    for channels in (3, 1):
        if width % channels == 0:
            root = math.isqrt(width // channels)
            if root > 1 and root * root == width // channels:
                return channels, root
    return 3, None


def _from_file(path: Path, slots: list[tuple[int, int]], vae_scale: int, common: dict[str, Any], allow_pickle: bool) -> Any:
    import diffusers
    import torch

    if not path.is_file():
        raise WorkerError("load_failed", f"{path} {'is not a file' if path.exists() else 'does not exist'}")
    state, per_level = to_diffusers(_read(path, allow_pickle), path.name)
    config = derive_config(state, per_level, slots, vae_scale, path.name)
    adapter = diffusers.T2IAdapter(**config)
    expected = adapter.state_dict()
    missing = sorted(k for k in expected if k not in state)
    wrong = sorted(k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape))
    extra = sorted(k for k in state if k not in expected)
    if missing or wrong or extra:
        names = ", ".join((missing + wrong + extra)[:3]) + (" ..." if len(missing) + len(wrong) + len(extra) > 3 else "")
        what = "has no weights for" if missing else "has weights of another shape for" if wrong else "has weights diffusers' T2I-Adapter has no place for:"
        raise WorkerError("load_failed", f"{path.name} {what} {names}")
    with torch.no_grad():
        adapter.load_state_dict(state, strict=True)
    return adapter.to(dtype=common.get("dtype") or torch.float32).eval()
