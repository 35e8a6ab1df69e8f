"""A tiny XLabs FLUX IP-Adapter for tiny-flux (random weights: with it the tiny FLUX makes other noise, not pictures)."""
from __future__ import annotations

from pathlib import Path

from .tiny import SEED, T5_XXL_WIDTH, _files, _manifest

# The image embedding width: openai/clip-vit-large-patch14 projects to 768; the tiny encoder to 32, which keeps the
# adapter's image projection (4 tokens x 4096 x width) at 2 MB instead of 50.
EMBED = 32
TOKENS = 4  # XLabs' ImageProjModel: clip_extra_context_tokens=4


def tiny_clip(out: Path, seed: int) -> None:
    """A CLIPModel in openai/clip-vit-large-patch14's layout (one config.json with text_config + vision_config,
    `vision_model.*` + `visual_projection` beside the text tower), 32 px images: what XLabs' adapters take as their
    image encoder, which CLIPVisionModelWithProjection reads its vision half from."""
    import torch
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(seed)
    text = {"vocab_size": 64, "hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 1, "num_attention_heads": 4,
            "max_position_embeddings": 77, "projection_dim": EMBED}
    vision = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4, "image_size": 32,
              "patch_size": 8, "projection_dim": EMBED}
    CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=EMBED)).eval().save_pretrained(out, safe_serialization=True)


def build_tiny_flux_ip_adapter(out: Path) -> dict:
    """XLabs-AI/flux-ip-adapter's `ip_adapter.safetensors` layout for tiny-flux (1 double block, joint attention 4096,
    inner width 32): `ip_adapter_proj_model.{proj,norm}.*` (4 image tokens of 4096) and
    `double_blocks.N.processor.ip_adapter_double_stream_{k,v}_proj.{weight,bias}` (4096 -> 32), beside `image_encoder/`
    (a tiny CLIPModel in openai/clip-vit-large-patch14's layout)."""
    import torch
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    tiny_clip(out / "image_encoder", SEED + 14)
    g = torch.Generator().manual_seed(SEED + 15)
    ctx, inner, blocks = T5_XXL_WIDTH, 32, 1  # build_tiny_flux: joint_attention_dim, 2 heads x 16, num_layers
    sd: dict = {
        "ip_adapter_proj_model.proj.weight": torch.randn(ctx * TOKENS, EMBED, generator=g) * (1 / EMBED ** 0.5),
        "ip_adapter_proj_model.proj.bias": torch.zeros(ctx * TOKENS),
        "ip_adapter_proj_model.norm.weight": torch.ones(ctx),
        "ip_adapter_proj_model.norm.bias": torch.zeros(ctx),
    }
    for n in range(blocks):
        for kv in ("k", "v"):
            # LayerNormed 4096-wide tokens in, unit-scale keys/values out.
            sd[f"double_blocks.{n}.processor.ip_adapter_double_stream_{kv}_proj.weight"] = torch.randn(inner, ctx, generator=g) * (1 / ctx ** 0.5)
            sd[f"double_blocks.{n}.processor.ip_adapter_double_stream_{kv}_proj.bias"] = torch.zeros(inner)
    name = "ip_adapter.safetensors"
    save_file({k: v.contiguous() for k, v in sd.items()}, str(out / name))
    return _manifest(out, "tiny-flux-ip-adapter", "ip-adapter", "tiny-flux", _files(out), file=name)
