"""Hires fix (A1111's enable_hr): the text-to-image result upscaled (its latents, or the decoded image) and denoised
again at the larger size by the pipeline's image-to-image sibling, which shares the loaded components (from_pipe).

request.hires = {width, height, steps?, strength?, upscaler?, prompt?, negative_prompt?, scheduler?, scheduler_config?}
"""

from __future__ import annotations

import inspect
from typing import Any

from .protocol import WorkerError

# Latent upscalers as A1111 names them -> torch interpolation mode and antialias.
LATENT_MODES: dict[str, tuple[str, bool]] = {
    "latent": ("bilinear", False), "latent-antialiased": ("bilinear", True), "latent-bicubic": ("bicubic", False),
    "latent-bicubic-antialiased": ("bicubic", True), "latent-nearest": ("nearest", False),
    "latent-nearest-exact": ("nearest-exact", False),
}
IMAGE_MODES = ("lanczos", "nearest")
_KEYS = {"width", "height", "steps", "strength", "upscaler", "prompt", "negative_prompt", "scheduler", "scheduler_config"}
# First-pass arguments the second pass does not take over (it has its own image, size, steps, prompts).
_OWN = {"prompt", "negative_prompt", "width", "height", "num_inference_steps", "image", "strength", "output_type", "mask_image",
        "control_image"}


def normalize(raw: Any, req: dict[str, Any]) -> dict[str, Any] | None:
    """request.hires checked (None when absent)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise WorkerError("bad_request", "request.hires must be an object")
    for key in raw:
        if key not in _KEYS:
            raise WorkerError("bad_request", f"request.hires.{key} is not a hires field")
    h = {"steps": None, "strength": 0.7, "upscaler": "latent", "prompt": None, "negative_prompt": None, "scheduler": None,
         "scheduler_config": None, **raw}
    for key in ("width", "height"):
        v = h.get(key)
        if not isinstance(v, int) or isinstance(v, bool) or v < 8:
            raise WorkerError("bad_request", f"request.hires.{key} must be an integer >= 8")
    if h["steps"] is not None and (not isinstance(h["steps"], int) or isinstance(h["steps"], bool) or h["steps"] < 1):
        raise WorkerError("bad_request", "request.hires.steps must be an integer >= 1")
    s = h["strength"]
    if not isinstance(s, (int, float)) or isinstance(s, bool) or not 0 < s <= 1:
        raise WorkerError("bad_request", "request.hires.strength must be a number above 0 and at most 1")
    if h["upscaler"] not in LATENT_MODES and h["upscaler"] not in IMAGE_MODES:
        raise WorkerError("bad_request", f"request.hires.upscaler must be one of {', '.join([*LATENT_MODES, *IMAGE_MODES])}")
    for key in ("prompt", "negative_prompt", "scheduler"):
        if h[key] is not None and not isinstance(h[key], str):
            raise WorkerError("bad_request", f"request.hires.{key} must be a string")
    if req["image"] is not None or req["mask"] is not None:
        raise WorkerError("bad_params", "request.hires: the hires fix is for text-to-image requests (no input image)")
    return h


class SecondPass:
    """The second pass of one request: the image-to-image sibling and its arguments, made once before the images."""

    def __init__(self, loaded: Any, pipe: Any, hires: dict[str, Any], kwargs: dict[str, Any], req: dict[str, Any]) -> None:
        import diffusers

        self.hires = hires
        self.latent = hires["upscaler"] in LATENT_MODES
        try:
            self.pipe = diffusers.AutoPipelineForImage2Image.from_pipe(pipe)
        except Exception as exc:  # noqa: BLE001 - no image-to-image sibling for this pipeline class
            first = str(exc).split("\n")[0]
            raise WorkerError("bad_params", f"request.hires: {type(pipe).__name__} has no image-to-image counterpart ({first})") from exc
        accepted = set(inspect.signature(type(self.pipe).__call__).parameters)
        if "output_type" not in inspect.signature(type(pipe).__call__).parameters:
            raise WorkerError("bad_params", f"request.hires: {type(pipe).__name__} takes no output_type")
        if hires["scheduler"] or hires["scheduler_config"]:
            self.pipe.scheduler = _scheduler(loaded, pipe, hires["scheduler"], hires["scheduler_config"])
        steps = hires["steps"] or kwargs["num_inference_steps"]
        if int(steps * hires["strength"]) < 1:
            raise WorkerError("bad_params", f"request.hires.steps: {steps} steps at strength {hires['strength']} run no denoising step")
        # The first pass's prompts, or its A1111-weighted prompt embeddings (generate.apply_prompt_syntax), carry over; a
        # hires prompt of its own replaces them as plain text.
        self.kwargs = {k: v for k, v in kwargs.items() if k in accepted and k not in _OWN}
        self.kwargs.update(num_inference_steps=steps, strength=hires["strength"], output_type="pil")
        if hires["prompt"] or hires["negative_prompt"]:
            for name in ("prompt_embeds", "pooled_prompt_embeds", "negative_prompt_embeds", "negative_pooled_prompt_embeds"):
                self.kwargs.pop(name, None)
            self.kwargs["prompt"] = hires["prompt"] or req["prompt"]
            negative = hires["negative_prompt"] or req["negative_prompt"]
            if negative is not None:
                self.kwargs["negative_prompt"] = negative
        elif "prompt_embeds" not in self.kwargs:
            self.kwargs["prompt"] = kwargs.get("prompt")
            if kwargs.get("negative_prompt") is not None:
                self.kwargs["negative_prompt"] = kwargs["negative_prompt"]
        # The first pass hands over latents (latent upscalers) or a picture (image upscalers).
        kwargs["output_type"] = "latent" if self.latent else "pil"

    def run(self, first: Any, generator: Any, extra: dict[str, Any]) -> Any:
        """The first pass's output (latents or images) -> the final output of the second pass."""
        w, h = self.hires["width"], self.hires["height"]
        if self.latent:
            import torch.nn.functional as F

            latents = first.images
            if getattr(latents, "ndim", 0) != 4:
                raise WorkerError("bad_params", f"request.hires.upscaler: {type(self.pipe).__name__} has packed latents; use an image upscaler (lanczos)")
            mode, antialias = LATENT_MODES[self.hires["upscaler"]]
            scale = getattr(self.pipe, "vae_scale_factor", 8)
            size = (h // scale, w // scale)
            image = F.interpolate(latents, size=size, mode=mode, antialias=antialias) if antialias else F.interpolate(latents, size=size, mode=mode)
        else:
            from PIL import Image

            resample = Image.Resampling.LANCZOS if self.hires["upscaler"] == "lanczos" else Image.Resampling.NEAREST
            image = first.images[0].resize((w, h), resample)
        return self.pipe(**self.kwargs, image=image, generator=generator, num_images_per_prompt=1, **extra)


def _scheduler(loaded: Any, pipe: Any, name: str | None, config: Any) -> Any:
    from .generate import configured_scheduler

    return configured_scheduler(loaded, pipe, name, config, "request.hires.scheduler: ")[1]
