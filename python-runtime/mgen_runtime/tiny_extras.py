"""Tiny A1111 extras for the tiny SD1 builtin: a hypernetwork in A1111's on-disk layout and an aesthetic-gradient
embedding with the tiny CLIP model (text tower + projection) it is tuned with. They make noise, not pictures."""

from __future__ import annotations

from pathlib import Path

import torch

from .tiny import SEED, TEXT_WIDTH, _files, _manifest, _rmtree, sd1_pipeline

AESTHETIC_PROJECTION = 32


def build_tiny_sd_hypernetwork(out: Path) -> dict:
    """Layer structure 1-1/16-1/16-1 (real ones use 1-2-1 and wider), relu, layer norm and dropout (so the `linear.N` indices skip the activations and the
    dropout as A1111's do), one (k, v) pair for the 768-wide cross-attention context."""
    from .hypernetwork import build_module, settings_of

    out.mkdir(parents=True, exist_ok=True)
    meta = {"layer_structure": [1, 0.0625, 0.0625, 1], "activation_func": "relu", "is_layer_norm": True, "weight_initialization": "Normal",
            "use_dropout": True, "last_layer_dropout": False, "activate_output": False, "dropout_structure": [0, 0.3, 0, 0]}
    torch.manual_seed(SEED + 5)
    pair = []
    for _ in range(2):
        mod = build_module(TEXT_WIDTH, settings_of(meta))
        for p in mod.parameters():
            torch.nn.init.normal_(p, std=0.3)
        pair.append(mod.state_dict())
    data = {TEXT_WIDTH: tuple(pair), "step": 10, "name": "tinyhypernet", "sd_checkpoint": None, "sd_checkpoint_name": None, **meta}
    torch.save(data, str(out / "tinyhypernet.pt"))
    return _manifest(out, "tiny-sd-hypernetwork", "hypernetwork", "tiny-sd", _files(out), file="tinyhypernet.pt")


def build_tiny_sd_aesthetic(out: Path) -> dict:
    """`tiny-sd-aesthetic.pt` (a [1, 32] image embedding, saved as the extension saves them) and `clip/`, a CLIPModel
    whose text tower is tiny-sd's text encoder (as CLIP-L's is SD1's) with a 32-wide projection."""
    from transformers import CLIPConfig, CLIPModel, CLIPVisionConfig

    out.mkdir(parents=True, exist_ok=True)
    pipe = sd1_pipeline(out / ".scratch")
    te = pipe.text_encoder
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=37, num_attention_heads=2, num_hidden_layers=1, image_size=32, patch_size=16)
    config = CLIPConfig(text_config=te.config.to_dict(), vision_config=vision.to_dict(), projection_dim=AESTHETIC_PROJECTION)
    torch.manual_seed(SEED + 6)
    clip = CLIPModel(config).eval()
    clip.text_model.load_state_dict(te.state_dict())  # transformers 5: CLIPTextModel is the text tower itself
    clip.save_pretrained(out / "clip", safe_serialization=True)
    pipe.tokenizer.save_pretrained(out / "clip")
    _rmtree(out / ".scratch")
    emb = torch.randn(1, AESTHETIC_PROJECTION, generator=torch.Generator().manual_seed(SEED + 7))
    torch.save(emb / emb.norm(dim=-1, keepdim=True), str(out / "tiny-sd-aesthetic.pt"))
    return _manifest(out, "tiny-sd-aesthetic", "aesthetic-embedding", "tiny-sd", _files(out), file="tiny-sd-aesthetic.pt", clip="clip")
