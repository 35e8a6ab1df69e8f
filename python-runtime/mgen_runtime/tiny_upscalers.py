"""Tiny upscaler builtins (random weights: they make noise, not pictures), each saved in the key layout and wrapper its
architecture's released files have, so spandrel (upscale.py) and the detection rules see what they see on real files."""
from __future__ import annotations

from pathlib import Path

from .tiny import SEED, _files, _manifest


def build_tiny_esrgan(out: Path) -> dict:
    """An x4 RRDBNet with 1 block, 8 features and the fixed growth of 32 every ESRGAN has, random weights, saved in
    the original ESRGAN key layout (`model.0`, `model.1.sub.N.RDB1.conv1.0`, `model.3` / `model.6` upsampling,
    `model.8`, `model.10`)."""
    import torch
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(SEED + 12)
    nf, gc, nb = 8, 32, 1

    def conv(cin: int, cout: int) -> tuple:
        return (torch.randn(cout, cin, 3, 3, generator=g) * (0.5 / (cin * 9) ** 0.5), torch.zeros(cout))

    sd: dict = {}

    def put(key: str, wb: tuple) -> None:
        sd[f"{key}.weight"], sd[f"{key}.bias"] = wb[0].contiguous(), wb[1]

    put("model.0", conv(3, nf))
    for b in range(nb):
        for r in (1, 2, 3):
            for i in range(5):
                put(f"model.1.sub.{b}.RDB{r}.conv{i + 1}.0", conv(nf + i * gc, gc if i < 4 else nf))
    put(f"model.1.sub.{nb}", conv(nf, nf))
    put("model.3", conv(nf, nf))
    put("model.6", conv(nf, nf))
    put("model.8", conv(nf, nf))
    w, b_ = conv(nf, 3)
    put("model.10", (w, torch.full((3,), 0.5)))
    name = "tiny-esrgan-x4.safetensors"
    save_file(sd, str(out / name))
    return _manifest(out, "tiny-esrgan", "upscaler", None, _files(out), file=name)


def _plain(model) -> dict:
    """A module's state dict as plain, unshared tensors (buffers included, as the released files carry them)."""
    return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}


def _spandrel_arch(name: str):
    from .torchvision_standin import import_spandrel

    import_spandrel()
    import importlib

    return getattr(importlib.import_module(f"spandrel.architectures.{name}"), name)


def build_tiny_swinir(out: Path) -> dict:
    """An x2 SwinIR (classical SR, pixelshuffle): 1 residual group of 2 Swin blocks, 16 channels, 2 heads, window 8,
    random weights; a `.pth` of `{"params": state_dict}` as the SwinIR release (`001_classicalSR_*.pth`) has it."""
    import torch

    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(SEED + 14)
    net = _spandrel_arch("SwinIR")(img_size=32, embed_dim=16, depths=[2], num_heads=[2], window_size=8, mlp_ratio=2.0,
                                   upscale=2, upsampler="pixelshuffle", resi_connection="1conv")
    name = "tiny-swinir-x2.pth"
    torch.save({"params": _plain(net)}, out / name)
    return _manifest(out, "tiny-swinir", "upscaler", None, _files(out), file=name)


def build_tiny_dat(out: Path) -> dict:
    """An x3 DAT: 1 residual group of 2 blocks (spatial, then channel attention), 16 channels, 2 heads, split 2x4,
    random weights; a `.pth` of `{"params": state_dict}` as the DAT release (`DAT_x3.pth`) has it."""
    import torch

    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(SEED + 15)
    net = _spandrel_arch("DAT")(img_size=32, embed_dim=16, split_size=[2, 4], depth=[2], num_heads=[2], expansion_factor=2.0,
                                upscale=3, upsampler="pixelshuffle", resi_connection="1conv")
    name = "tiny-dat-x3.pth"
    torch.save({"params": _plain(net)}, out / name)
    return _manifest(out, "tiny-dat", "upscaler", None, _files(out), file=name)


def build_tiny_hat(out: Path) -> dict:
    """An x4 HAT: 1 residual group of 2 hybrid attention blocks plus its overlapping cross-attention, 16 channels,
    2 heads, window 8, random weights; an unwrapped `.safetensors`, as the safetensors conversions of HAT files are."""
    import torch
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(SEED + 16)
    net = _spandrel_arch("HAT")(img_size=32, embed_dim=16, depths=(2,), num_heads=(2,), window_size=8, compress_ratio=2,
                                squeeze_factor=4, mlp_ratio=2.0, upscale=4, num_feat=16, upsampler="pixelshuffle",
                                resi_connection="1conv")
    name = "tiny-hat-x4.safetensors"
    save_file(_plain(net), str(out / name))
    return _manifest(out, "tiny-hat", "upscaler", None, _files(out), file=name)


def build_tiny_sd_ip_adapter(out: Path) -> dict:
    """An IP-Adapter for tiny-sd in h94/IP-Adapter's layout: `ip-adapter_tiny.safetensors` (`image_proj.proj/norm`,
    4 image tokens, and `ip_adapter.N.to_k_ip / to_v_ip` for each cross-attention, N = 1, 3, 5, ...) beside
    `image_encoder/`, a tiny CLIPVisionModelWithProjection (32 px, projection 32)."""
    import torch
    from safetensors.torch import save_file
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    from .tiny import _rmtree, sd1_pipeline

    out.mkdir(parents=True, exist_ok=True)
    pipe = sd1_pipeline(out / ".scratch")
    _rmtree(out / ".scratch")
    torch.manual_seed(SEED + 13)
    enc = CLIPVisionModelWithProjection(CLIPVisionConfig(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
                                                         image_size=32, patch_size=8, projection_dim=32))
    enc.save_pretrained(out / "image_encoder", safe_serialization=True)
    unet = pipe.unet
    cross = unet.config.cross_attention_dim
    sd: dict = {"image_proj.proj.weight": torch.randn(cross * 4, 32) * 0.2, "image_proj.proj.bias": torch.zeros(cross * 4),
                "image_proj.norm.weight": torch.ones(cross), "image_proj.norm.bias": torch.zeros(cross)}
    key = 1
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue
        attn = unet.get_submodule(name[: -len(".processor")])
        hidden = attn.to_k.weight.shape[0]
        sd[f"ip_adapter.{key}.to_k_ip.weight"] = torch.randn(hidden, cross) * 0.5
        sd[f"ip_adapter.{key}.to_v_ip.weight"] = torch.randn(hidden, cross) * 0.5
        key += 2
    name = "ip-adapter_tiny.safetensors"
    save_file({k: v.contiguous() for k, v in sd.items()}, str(out / name))
    return _manifest(out, "tiny-sd-ip-adapter", "ip-adapter", "tiny-sd", _files(out), file=name)
