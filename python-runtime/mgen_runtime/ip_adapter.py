"""IP-Adapters (`plan.ip_adapter`): diffusers' load_ip_adapter with the image encoder folder the plan found (beside
the adapter in h94/IP-Adapter's `image_encoder/` layout, or pulled from the repository the adapter's layout names:
h94/IP-Adapter's `models/` or `sdxl_models/image_encoder`, openai/clip-vit-large-patch14 for XLabs' FLUX adapters),
the reference image and the scale fixed for the session. SD1/SDXL go through IPAdapterMixin (UNet), FLUX.1 through
FluxIPAdapterMixin, which reads XLabs' `ip_adapter.safetensors` layout itself (`double_blocks.N.processor.
ip_adapter_double_stream_{k,v}_proj` -> `to_{k,v}_ip`, `ip_adapter_proj_model.*` -> the image projection)."""
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
    unet, transformer = getattr(pipe, "unet", None), getattr(pipe, "transformer", None)
    denoiser = unet if unet is not None else transformer
    dtype = denoiser.dtype if denoiser is not None else torch.float32
    # A CLIPModel folder (openai/clip-vit-large-patch14) loads as its vision tower + projection; the text half is skipped.
    encoder = CLIPVisionModelWithProjection.from_pretrained(spec["image_encoder"], torch_dtype=dtype)
    encoder.to(pipe.device).eval()
    size = int(encoder.config.image_size)
    pipe.register_modules(image_encoder=encoder, feature_extractor=CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size}))
    path = Path(spec["path"])
    if unet is None and transformer is not None:
        # FluxIPAdapterMixin: the encoder is registered above, so none is loaded from the adapter's folder.
        pipe.load_ip_adapter(str(path.parent), weight_name=path.name, subfolder="", image_encoder_pretrained_model_name_or_path=None)
    else:
        pipe.load_ip_adapter(str(path.parent), subfolder="", weight_name=path.name, image_encoder_folder=None)
    pipe.set_ip_adapter_scale(float(spec["scale"]))
    pipe._mgen_ip_image = Image.open(spec["image"]).convert("RGB")


def request_kwargs(pipe: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    image = getattr(pipe, "_mgen_ip_image", None)
    if image is not None:
        kwargs["ip_adapter_image"] = image
    return kwargs
