"""`upscale` verb: ESRGAN / Real-ESRGAN (RRDBNet) upscalers, tiled so large images fit.

Both key layouts load: the new (BasicSR) `conv_first` + `body.N.rdb1.*` and the original ESRGAN `model.0` +
`model.1.sub.N.RDB1.*`, optionally wrapped in `params_ema` / `params`. Other architectures (SwinIR, DAT, HAT) are
refused with one line: they need spandrel, whose torchvision dependency has no CPU wheel on PyPI for the pinned torch.
"""
from __future__ import annotations

import re
from typing import Any

from .protocol import WorkerError


def _load_state(path: str) -> dict[str, Any]:
    import torch

    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        sd = load_file(path)
    else:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    for wrap in ("params_ema", "params", "state_dict"):
        if isinstance(sd, dict) and isinstance(sd.get(wrap), dict):
            sd = sd[wrap]
            break
    if not isinstance(sd, dict):
        raise WorkerError("invalid_model", "the upscaler file holds no state dict")
    return sd


def _to_new_layout(sd: dict[str, Any]) -> dict[str, Any]:
    """Original ESRGAN keys -> BasicSR RRDBNet keys (x2/x4/x8: one conv per x2 upsampling step)."""
    if "conv_first.weight" in sd:
        return sd
    if "model.0.weight" not in sd or not any(re.match(r"model\.1\.sub\.\d+\.RDB1\.conv1\.0\.weight$", k) for k in sd):
        raise WorkerError("invalid_model", "not an ESRGAN / Real-ESRGAN (RRDBNet) upscaler: only those are supported (SwinIR, DAT, HAT are not)")
    out: dict[str, Any] = {}
    blocks = sorted({int(m.group(1)) for k in sd if (m := re.match(r"model\.1\.sub\.(\d+)\.RDB", k))})
    for k, v in sd.items():
        m = re.match(r"model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias)$", k)
        if m:
            out[f"body.{m.group(1)}.rdb{m.group(2)}.conv{m.group(3)}.{m.group(4)}"] = v
    last_sub = max(int(m.group(1)) for k in sd if (m := re.match(r"model\.1\.sub\.(\d+)\.weight$", k)))
    for p in ("weight", "bias"):
        out[f"conv_first.{p}"] = sd[f"model.0.{p}"]
        out[f"conv_body.{p}"] = sd[f"model.1.sub.{last_sub}.{p}"]
    tail = sorted({int(m.group(1)) for k in sd if (m := re.match(r"model\.(\d+)\.weight$", k)) and int(m.group(1)) >= 2})
    names = [f"conv_up{i + 1}" for i in range(len(tail) - 2)] + ["conv_hr", "conv_last"]
    for idx, name in zip(tail, names):
        for p in ("weight", "bias"):
            out[f"{name}.{p}"] = sd[f"model.{idx}.{p}"]
    del blocks
    return out


def build_rrdb(sd: dict[str, Any]):
    import torch
    from torch import nn
    import torch.nn.functional as F

    sd = _to_new_layout(sd)
    in_ch = sd["conv_first.weight"].shape[1]
    nf = sd["conv_first.weight"].shape[0]
    gc = sd["body.0.rdb1.conv1.weight"].shape[0]
    nb = 1 + max(int(m.group(1)) for k in sd if (m := re.match(r"body\.(\d+)\.", k)))
    n_up = sum(1 for k in sd if re.match(r"conv_up\d+\.weight$", k))
    unshuffle = {12: 2, 48: 4}.get(in_ch, 1)
    out_ch = sd["conv_last.weight"].shape[0]

    class RDB(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            for i in range(5):
                setattr(self, f"conv{i + 1}", nn.Conv2d(nf + i * gc, gc if i < 4 else nf, 3, 1, 1))

        def forward(self, x):
            feats = [x]
            for i in range(4):
                feats.append(F.leaky_relu(getattr(self, f"conv{i + 1}")(torch.cat(feats, 1)), 0.2))
            return self.conv5(torch.cat(feats, 1)) * 0.2 + x

    class RRDB(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rdb1, self.rdb2, self.rdb3 = RDB(), RDB(), RDB()

        def forward(self, x):
            return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x

    class RRDBNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv_first = nn.Conv2d(in_ch, nf, 3, 1, 1)
            self.body = nn.Sequential(*[RRDB() for _ in range(nb)])
            self.conv_body = nn.Conv2d(nf, nf, 3, 1, 1)
            for i in range(n_up):
                setattr(self, f"conv_up{i + 1}", nn.Conv2d(nf, nf, 3, 1, 1))
            self.conv_hr = nn.Conv2d(nf, nf, 3, 1, 1)
            self.conv_last = nn.Conv2d(nf, out_ch, 3, 1, 1)

        def forward(self, x):
            if unshuffle > 1:
                x = F.pixel_unshuffle(x, unshuffle)
            feat = self.conv_first(x)
            feat = feat + self.conv_body(self.body(feat))
            for i in range(n_up):
                feat = F.leaky_relu(getattr(self, f"conv_up{i + 1}")(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
            return self.conv_last(F.leaky_relu(self.conv_hr(feat), 0.2))

    net = RRDBNet()
    try:
        net.load_state_dict(sd, strict=True)
    except RuntimeError:
        raise WorkerError("invalid_model", "the ESRGAN weights do not fit an RRDBNet (unexpected or missing tensors)") from None
    net.eval()
    scale = (2 ** n_up) // unshuffle
    return net, scale


def _tiled(net, x, scale: int, tile: int, pad: int = 16):
    import torch

    _, c, h, w = x.shape
    if h <= tile and w <= tile:
        return net(x)
    out = torch.zeros((1, c, h * scale, w * scale), dtype=x.dtype)
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            py0, px0, py1, px1 = max(y0 - pad, 0), max(x0 - pad, 0), min(y1 + pad, h), min(x1 + pad, w)
            o = net(x[:, :, py0:py1, px0:px1])
            oy, ox = (y0 - py0) * scale, (x0 - px0) * scale
            out[:, :, y0 * scale:y1 * scale, x0 * scale:x1 * scale] = o[:, :, oy:oy + (y1 - y0) * scale, ox:ox + (x1 - x0) * scale]
    return out


def upscale_images(model_path: str, images: list, factor: float | None = None, tile: int = 256):
    """PIL images in, PIL images out (resized to `factor` x when it differs from the model's native scale)."""
    import numpy as np
    import torch
    from PIL import Image

    net, native = build_rrdb(_load_state(model_path))
    outs = []
    with torch.inference_mode():
        for im in images:
            rgb = im.convert("RGB")
            x = torch.from_numpy(np.asarray(rgb, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
            y = _tiled(net, x, native, max(16, int(tile))).clamp(0, 1)
            arr = (y[0].permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8)
            up = Image.fromarray(arr)
            if factor and factor != native:
                up = up.resize((max(1, round(rgb.width * factor)), max(1, round(rgb.height * factor))), Image.LANCZOS)
            outs.append(up)
    return outs, native


def run(params: dict[str, Any]) -> dict[str, Any]:
    from PIL import Image

    inputs = params.get("images") or []
    outputs = params.get("outputs") or []
    if len(inputs) != len(outputs) or not inputs:
        raise WorkerError("bad_request", "upscale needs images and as many outputs")
    from PIL.PngImagePlugin import PngInfo

    ims = [Image.open(p) for p in inputs]
    # PNG text chunks (mgen's / A1111's `parameters`) carry over to the upscaled file.
    texts = [{k: v for k, v in getattr(im, "text", {}).items() if isinstance(v, str)} for im in ims]
    ups, native = upscale_images(params["model"], ims, params.get("scale"), int(params.get("tile") or 256))
    done = []
    for up, out, src, text in zip(ups, outputs, inputs, texts):
        info = None
        if text and out.lower().endswith(".png"):
            info = PngInfo()
            for k, v in text.items():
                info.add_text(k, v)
        up.save(out, pnginfo=info) if info else up.save(out)
        done.append({"input": src, "path": out, "width": up.width, "height": up.height})
    return {"images": done, "native_scale": native}
