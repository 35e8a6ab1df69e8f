"""Small, named shims for known incompatibilities between the pinned libraries.

Each shim says which versions it is for; remove it when the pin moves past the problem.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

_CLIP_CLASSES = ("CLIPTextModel", "CLIPTextModelWithProjection")


@contextmanager
def clip_skip_alias(pipe: Any) -> Iterator[list[str]]:
    """transformers 5 flattened CLIPTextModel (no `.text_model` level), but diffusers 0.42.1's SD pipelines still
    read `text_encoder.text_model.final_layer_norm` when `clip_skip` is set. For the duration of one call, give
    such encoders a `text_model` attribute pointing at themselves (outside nn.Module's registry, so weights and
    state_dict are untouched). Only during the call: diffusers' LoRA loader uses `hasattr(text_encoder,
    "text_model")` to decide how to map old LoRA key names, so a permanent alias would break LoRA loading."""
    patched = []
    for name in ("text_encoder", "text_encoder_2"):
        encoder = getattr(pipe, name, None)
        if encoder is None or type(encoder).__name__ not in _CLIP_CLASSES or hasattr(encoder, "text_model"):
            continue
        if hasattr(encoder, "final_layer_norm"):
            object.__setattr__(encoder, "text_model", encoder)
            patched.append(encoder)
    try:
        yield [type(e).__name__ for e in patched]
    finally:
        for encoder in patched:
            object.__delattr__(encoder, "text_model")


def wan_text_cleaning(pipe: Any) -> None:
    """diffusers 0.42.1's Wan image-to-video (and VACE, video-to-video, Animate) pipelines call `ftfy.fix_text` in
    their prompt cleaning unconditionally, while ftfy is optional (not in the runtime's pins) and only WanPipeline
    checks for it: without ftfy every prompt fails with NameError. Give those modules WanPipeline's guarded cleaner
    (html unescape + strip, and ftfy when it is installed)."""
    import importlib

    from diffusers.utils import is_ftfy_available

    if is_ftfy_available() or not type(pipe).__name__.startswith("Wan"):
        return
    from diffusers.pipelines.wan import pipeline_wan

    for name in ("pipeline_wan_i2v", "pipeline_wan_vace", "pipeline_wan_video2video", "pipeline_wan_animate"):
        try:
            module = importlib.import_module(f"diffusers.pipelines.wan.{name}")
        except ImportError:
            continue
        if getattr(module, "basic_clean", None) is not pipeline_wan.basic_clean:
            module.basic_clean = pipeline_wan.basic_clean
