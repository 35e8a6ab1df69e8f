"""Tiny upscaler builtins (random weights: they make noise, not pictures)."""
from __future__ import annotations

from pathlib import Path

from .tiny import SEED, _files, _manifest


def build_tiny_esrgan(out: Path) -> dict:
    """An x4 RRDBNet with 1 block, 8 features, growth 4, random weights, saved in the original ESRGAN key layout
    (`model.0`, `model.1.sub.N.RDB1.conv1.0`, `model.3` / `model.6` upsampling, `model.8`, `model.10`)."""
    import torch
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(SEED + 12)
    nf, gc, nb = 8, 4, 1

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
