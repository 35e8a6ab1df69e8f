"""Partial images while denoising (OpenAI's `partial_images`): which steps get one, and the current latents decoded
by the pipeline's VAE into a picture. A preview that cannot be made is skipped, never an error."""

from __future__ import annotations

from typing import Any


def preview_steps(count: int, total: int) -> set[int]:
    """Up to `count` steps spread evenly before the last one (the final image is not a partial image)."""
    if count <= 0 or total <= 1:
        return set()
    return {s for s in (total * k // (count + 1) for k in range(1, count + 1)) if 1 <= s < total}


def decode_latents(pipe: Any, latents: Any, width: int | None, height: int | None) -> Any | None:
    """The latents as a PIL image (None when this pipeline's latents are not decodable here)."""
    import torch

    vae = getattr(pipe, "vae", None)
    processor = getattr(pipe, "image_processor", None)
    if vae is None or processor is None or latents is None:
        return None
    try:
        with torch.inference_mode():
            if latents.ndim == 3 and hasattr(pipe, "_unpack_latents") and width and height:
                latents = pipe._unpack_latents(latents, height, width, pipe.vae_scale_factor)
            cfg = vae.config
            latents = latents / getattr(cfg, "scaling_factor", 1.0) + (getattr(cfg, "shift_factor", None) or 0.0)
            image = vae.decode(latents.to(vae.dtype), return_dict=False)[0]
            return processor.postprocess(image, output_type="pil")[0]
    except Exception:  # noqa: BLE001 - a preview is optional
        return None
