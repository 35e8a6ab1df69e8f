"""Aesthetic gradients (vicgalle/stable-diffusion-aesthetic-gradients, the A1111 extension).

An aesthetic embedding is a CLIP image embedding (`.pt`, a [1, D] tensor: the mean of a set of images' projected
features). For each prompt, a copy of the CLIP model (text tower + projection; SD1's text encoder is CLIP-L's
text tower) takes `steps` Adam steps at `lr` on its text tower to raise the cosine similarity between the prompt's
projected text features and that embedding; the tuned text tower's last hidden state `zn` for the prompt then
replaces part of the pipeline's conditioning `z`: `z * (1 - weight) + zn * weight`, or the extension's slerp. The
copy is thrown away after the prompt: nothing of the pipeline changes. As in the extension, weight, steps or lr 0
leave the conditioning alone, and only the prompt (not the negative prompt) is tuned.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from .protocol import WorkerError


def slerp(low: Any, high: Any, val: float) -> Any:
    """The extension's slerp (norms over dim 1, as it computes them)."""
    import torch

    low_norm = low / torch.norm(low, dim=1, keepdim=True)
    high_norm = high / torch.norm(high, dim=1, keepdim=True)
    omega = torch.acos((low_norm * high_norm).sum(1))
    so = torch.sin(omega)
    return (torch.sin((1.0 - val) * omega) / so).unsqueeze(1) * low + (torch.sin(val * omega) / so).unsqueeze(1) * high


def read_embedding(path: str | Path) -> Any:
    """The image embedding, [1, D], normalised. `.pt` through torch's weights-only loader; safetensors: its one tensor."""
    import torch

    p = Path(path)
    try:
        if p.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            tensors = list(load_file(str(p)).values())
            emb = tensors[0] if len(tensors) == 1 else None
        else:
            emb = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a refusal or a broken file, named in one line
        from .plans import weights_only_refusal

        reason = weights_only_refusal(exc)
        raise WorkerError("unsafe_model" if reason else "load_failed",
                          f"{p.name}: " + (f"torch's weights-only loader refused it: {reason}" if reason else "not a readable aesthetic embedding")) from None
    if not isinstance(emb, torch.Tensor) or emb.dim() not in (1, 2) or (emb.dim() == 2 and emb.shape[0] != 1):
        raise WorkerError("load_failed", f"{p.name} is not an aesthetic embedding (one [1, D] tensor)")
    emb = emb.reshape(1, -1).to(torch.float32)
    return emb / emb.norm(dim=-1, keepdim=True)


class Aesthetic:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.embedding = read_embedding(spec["path"])
        self.clip_path = str(spec["clip_path"])
        self.weight = float(spec.get("weight", 0.9))
        self.steps = int(spec.get("steps", 5))
        self.lr = float(spec.get("lr", 0.0001))
        self.slerp = bool(spec.get("slerp", False))
        self._clip: Any = None

    def clip(self) -> Any:
        if self._clip is None:
            from transformers import CLIPModel

            try:
                self._clip = CLIPModel.from_pretrained(self.clip_path, local_files_only=True).eval()
            except Exception as exc:  # noqa: BLE001 - a folder that is not a CLIP model with projection
                raise WorkerError("load_failed", f"the aesthetic CLIP folder {Path(self.clip_path).name} is not a CLIP model with projection "
                                                 f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
            if self._clip.config.projection_dim != self.embedding.shape[1]:
                raise WorkerError("load_failed", f"the aesthetic embedding is {self.embedding.shape[1]}-wide but the CLIP projection is "
                                                 f"{self._clip.config.projection_dim}-wide")
        return self._clip

    def tuned_hidden_state(self, tokens: Any) -> Any:
        """The prompt's last hidden state from a copy of the CLIP text tower after `steps` steps toward the embedding."""
        import torch

        model = copy.deepcopy(self.clip()).to(tokens.device)
        model.requires_grad_(True)
        target = self.embedding.to(tokens.device)
        with torch.inference_mode(False), torch.enable_grad():
            opt = torch.optim.Adam(model.text_model.parameters(), lr=self.lr)
            for _ in range(self.steps):
                feats = model.text_projection(model.text_model(input_ids=tokens).pooler_output)
                feats = feats / feats.norm(dim=-1, keepdim=True)
                loss = -(feats @ target.T)
                opt.zero_grad()
                loss.mean().backward()
                opt.step()
            with torch.no_grad():
                zn = model.text_model(input_ids=tokens).last_hidden_state.detach()
        del model
        return zn

    def condition(self, pipe: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The call's kwargs with the prompt turned into (aesthetic-tuned) prompt embeddings."""
        if self.weight == 0 or self.steps == 0 or self.lr == 0:
            return kwargs
        if not hasattr(pipe, "encode_prompt") or getattr(pipe, "text_encoder_2", None) is not None or getattr(pipe, "tokenizer", None) is None:
            raise WorkerError("bad_params", f"aesthetic gradients work on SD1-style pipelines (one CLIP text encoder), not {type(pipe).__name__}")
        import torch

        kwargs = dict(kwargs)
        prompt = kwargs.pop("prompt")
        negative = kwargs.pop("negative_prompt", None)
        clip_skip = kwargs.pop("clip_skip", None)
        guidance = kwargs.get("guidance_scale", 7.5)
        device = getattr(pipe, "_execution_device", None) or pipe.device
        with torch.no_grad():
            z, neg = pipe.encode_prompt(prompt, device, 1, guidance > 1, negative, clip_skip=clip_skip)
        tok = pipe.tokenizer
        tokens = tok(prompt, padding="max_length", max_length=tok.model_max_length, truncation=True, return_tensors="pt").input_ids.to(device)
        zn = self.tuned_hidden_state(tokens).to(z.dtype)
        z = slerp(z, zn, self.weight) if self.slerp else z * (1 - self.weight) + zn * self.weight
        kwargs["prompt_embeds"] = z
        if neg is not None:
            kwargs["negative_prompt_embeds"] = neg
        return kwargs


def attach(pipe: Any, spec: dict[str, Any] | None) -> None:
    """Keeps the plan's aesthetic settings on the pipeline (generate.py conditions each prompt with them)."""
    pipe._mgen_aesthetic = Aesthetic(spec) if spec else None


def condition(pipe: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    aesthetic = getattr(pipe, "_mgen_aesthetic", None)
    return aesthetic.condition(pipe, kwargs) if aesthetic is not None else kwargs
