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
                    loras: list[tuple[str, str]] | None = None, version: str = "mgen",
                    lora_tags: list[tuple[str, float]] | None = None, ti_hashes: list[tuple[str, str]] | None = None) -> str:
    """`model_hash` only for a checkpoint that is one file (never a component's hash); a repo or folder gives its id and
    revision as `model_name` instead. `lora_tags` go in the prompt part as `<lora:name:scale>` (as A1111 writes them),
    `ti_hashes` in `TI hashes`."""
    lines = [prompt_with_lora_tags(prompt, lora_tags)]
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
    if ti_hashes:
        parts.append(("TI hashes", _field(", ".join(f"{name}: {short_hash}" for name, short_hash in ti_hashes))))
    if loras:
        parts.append(("Lora hashes", _field(", ".join(f"{name}: {short_hash}" for name, short_hash in loras))))
    if version:
        parts.append(("Version", _field(version)))
    lines.append(", ".join(f"{k}: {v}" for k, v in parts))
    return "\n".join(lines)


def lora_tag_name(model_id: str) -> str:
    """The name a LoRA goes by in a `<lora:...>` tag mgen resolves again (the CLI's loraTagName): a MODEL_ID with a
    scheme or a slash as it is, a file path as its file name without the extension."""
    is_path = bool(re.match(r"^(\.{0,2}/|~|/)", model_id) or re.match(r"^[A-Za-z]:[\\/]", model_id)
                   or re.search(r"\.(safetensors|ckpt|pt|pth|bin)$", model_id, re.I))
    if not is_path and (re.match(r"^[a-z][a-z0-9+.-]*:", model_id, re.I) or "/" in model_id):
        return model_id
    return re.sub(r"\.(safetensors|ckpt|pt|pth|bin)$", "", re.split(r"[/\\]", model_id)[-1], flags=re.I)


def prompt_with_lora_tags(prompt: str, tags: list[tuple[str, float]] | None) -> str:
    """The prompt part with a `<lora:name:scale>` tag per LoRA it does not already carry (the CLI's promptWithLoraTags)."""
    out = prompt
    for name, scale in tags or []:
        tag = f"<lora:{name}:{_num(scale)}>"
        if tag not in out:
            out = f"{out} {tag}" if out else tag
    return out


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
