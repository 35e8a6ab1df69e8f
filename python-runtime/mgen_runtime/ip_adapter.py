"""IP-Adapters (`plan.ip_adapter`): diffusers' load_ip_adapter with the image encoder the plan found beside the
adapter (h94/IP-Adapter's `image_encoder/` layout), the reference image and the scale fixed for the session."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .protocol import WorkerError


def attach(pipe: Any, spec: dict[str, Any] | None) -> None:
    if not spec:
        return
    import torch
    from PIL import Image
    from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection

    if not hasattr(pipe, "load_ip_adapter"):
        raise WorkerError("load_failed", f"{type(pipe).__name__} does not take IP-Adapters")
    unet = getattr(pipe, "unet", None)
    dtype = unet.dtype if unet is not None else torch.float32
    encoder = CLIPVisionModelWithProjection.from_pretrained(spec["image_encoder"], torch_dtype=dtype)
    encoder.to(pipe.device)
    size = int(encoder.config.image_size)
    pipe.register_modules(image_encoder=encoder, feature_extractor=CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size}))
    path = Path(spec["path"])
    pipe.load_ip_adapter(str(path.parent), subfolder="", weight_name=path.name, image_encoder_folder=None)
    pipe.set_ip_adapter_scale(float(spec["scale"]))
    pipe._mgen_ip_image = Image.open(spec["image"]).convert("RGB")


def request_kwargs(pipe: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    image = getattr(pipe, "_mgen_ip_image", None)
    if image is not None:
        kwargs["ip_adapter_image"] = image
    return kwargs
