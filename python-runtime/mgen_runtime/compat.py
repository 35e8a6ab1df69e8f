"""Small, named shims for known incompatibilities between the pinned libraries.

Each shim says which versions it is for; remove it when the pin moves past the problem.
"""

from __future__ import annotations

from typing import Any


def clip_text_model_alias(pipe: Any) -> list[str]:
    """transformers 5 flattened CLIPTextModel (no `.text_model` level), but diffusers 0.42.1 still reads
    `text_encoder.text_model.final_layer_norm` when `clip_skip` is set. Give such encoders a `text_model`
    attribute pointing at themselves. It is set outside nn.Module's registry, so state_dict, parameters and
    saving are unchanged. Returns the component names it patched."""
    patched = []
    for name in ("text_encoder", "text_encoder_2"):
        encoder = getattr(pipe, name, None)
        if encoder is None or type(encoder).__name__ not in ("CLIPTextModel", "CLIPTextModelWithProjection"):
            continue
        if "text_model" in encoder.__dict__ or hasattr(encoder, "text_model"):
            continue
        if hasattr(encoder, "final_layer_norm"):
            object.__setattr__(encoder, "text_model", encoder)
            patched.append(name)
    return patched
