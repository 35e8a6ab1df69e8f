"""The A1111-style `parameters` PNG text, written the same way as the CLI's src/backends/a1111-parameters.ts
(the RunPod handler writes its PNGs itself, without the CLI)."""

from __future__ import annotations

import hashlib
import json
import re
import struct
from pathlib import Path
from typing import Any

# diffusers scheduler class -> the sampler name A1111 prints (same table as the CLI's).
SAMPLERS = {
    "EulerDiscreteScheduler": "Euler", "EulerAncestralDiscreteScheduler": "Euler a", "DPMSolverMultistepScheduler": "DPM++ 2M",
    "DPMSolverSinglestepScheduler": "DPM++ SDE", "DPMSolverSDEScheduler": "DPM++ SDE", "KDPM2DiscreteScheduler": "DPM2",
    "KDPM2AncestralDiscreteScheduler": "DPM2 a", "HeunDiscreteScheduler": "Heun", "LMSDiscreteScheduler": "LMS",
    "DDIMScheduler": "DDIM", "PNDMScheduler": "PLMS", "UniPCMultistepScheduler": "UniPC", "DEISMultistepScheduler": "DEIS",
    "LCMScheduler": "LCM", "FlowMatchEulerDiscreteScheduler": "Euler",
}


def sampler_name(scheduler: str | None) -> str:
    return SAMPLERS.get(scheduler, scheduler) if scheduler else "Default"


def _field(v: str) -> str:
    return json.dumps(v) if re.search(r'[,:"\n]', v) else v


def _num(v: Any) -> str:
    """Numbers as JavaScript prints them (7.0 -> 7), so both writers give the same text."""
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e21:
        return str(int(v))
    return str(v)


def model_slug(model_id: str) -> str:
    parts = [p for p in re.split(r"[/\\:]", re.sub(r"[/\\]+$", "", model_id)) if p]
    last = parts[-1] if parts else "model"
    last = re.sub(r"\.(safetensors|ckpt|pt|pth|bin|gguf)$", "", last, flags=re.I)
    return re.sub(r"[^A-Za-z0-9._-]+", "_", last) or "model"


def parameters_text(*, prompt: str, negative_prompt: str | None, steps: int, scheduler: str | None, guidance_scale: Any,
                    seed: int, width: int | None, height: int | None, model_hash: str | None = None,
                    model_name: str | None = None, strength: float | None = None,
                    loras: list[tuple[str, str]] | None = None, version: str = "mgen") -> str:
    lines = [prompt]
    if negative_prompt:
        lines.append(f"Negative prompt: {negative_prompt}")
    parts: list[tuple[str, str]] = [("Steps", _num(steps)), ("Sampler", sampler_name(scheduler)), ("CFG scale", _num(guidance_scale)),
                                    ("Seed", _num(seed))]
    if width and height:
        parts.append(("Size", f"{width}x{height}"))
    if model_hash:
        parts.append(("Model hash", model_hash))
    if model_name:
        parts.append(("Model", _field(model_name)))
    if strength is not None:
        parts.append(("Denoising strength", _num(strength)))
    if loras:
        parts.append(("Lora hashes", _field(", ".join(f"{name}: {short_hash}" for name, short_hash in loras))))
    if version:
        parts.append(("Version", _field(version)))
    lines.append(", ".join(f"{k}: {v}" for k, v in parts))
    return "\n".join(lines)


def lora_short_hash(path: str | Path) -> str:
    """A LoRA's short hash as A1111 writes it in "Lora hashes": for safetensors the sha256 of the bytes after the
    header (the "addnet" hash), else of the whole file; 12 hex digits (the same as the CLI's loraShortHash)."""
    p = Path(path)
    h = hashlib.sha256()
    with p.open("rb") as fh:
        if p.suffix.lower() == ".safetensors":
            (n,) = struct.unpack("<Q", fh.read(8))
            fh.seek(8 + n)
        for chunk in iter(lambda: fh.read(4 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:12]
