"""Textual inversions in every stored form, as vectors per text-encoder width, for prompt_weighting.

Forms: A1111 `.pt` (`string_to_param: {"*": [n, w]}`; a pickle: read only with allow_pickle, through torch's
weights-only loader), A1111/CivitAI `.safetensors` (`emb_params`), diffusers `learned_embeds.bin/.safetensors`
(`{"<token>": [w] or [n, w]}`), and SDXL pairs (`clip_l` [n, 768] + `clip_g` [n, 1280]). The name a prompt uses
is the file's stem (A1111's rule), or the token the caller gives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .protocol import WorkerError

PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")


def _state(path: Path, allow_pickle: bool) -> dict[str, Any]:
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        return dict(load_file(str(path)))
    if path.suffix.lower() not in PICKLE_SUFFIXES:
        raise WorkerError("bad_params", f"{path.name}: not a textual-inversion file (.safetensors, .pt or .bin)")
    if not allow_pickle:
        raise WorkerError("unsafe_model", f"{path.name} is a pickle file; refusing it without allow_pickle")
    import torch

    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - anything beyond tensors, strings and numbers
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WorkerError("unsafe_model", f"{path.name}: the weights-only loader refused it ({first[:120]})") from None
    if not isinstance(state, dict):
        raise WorkerError("bad_params", f"{path.name}: not a textual-inversion file")
    return state


def _matrix(t: Any) -> Any:
    import torch

    if not isinstance(t, torch.Tensor):
        return None
    t = t.detach().float()
    return t.unsqueeze(0) if t.dim() == 1 else t if t.dim() == 2 else None


def vectors_of(state: dict[str, Any]) -> dict[int, Any]:
    """{text-encoder width: [n, width] float tensor} of one embedding's state dict; {} when none is found."""
    if "clip_l" in state or "clip_g" in state:
        found = [_matrix(state.get(k)) for k in ("clip_l", "clip_g")]
    elif isinstance(state.get("string_to_param"), dict):
        found = [_matrix(next(iter(state["string_to_param"].values()), None))]
    elif "emb_params" in state:
        found = [_matrix(state["emb_params"])]
    else:
        tensors = [v for v in state.values() if _matrix(v) is not None]
        found = [_matrix(tensors[0])] if len(tensors) == 1 else []
    return {int(m.shape[1]): m for m in found if m is not None and m.shape[0] > 0}


def load_embedding(path: str, token: str, allow_pickle: bool = False) -> dict[str, Any]:
    """{token, vectors: {width: [n, width]}} for one file; a file without embedding vectors is a bad_params."""
    p = Path(path)
    if not p.is_file():
        raise WorkerError("bad_params", f"embedding {token!r}: no such file {p.name}")
    vectors = vectors_of(_state(p, allow_pickle))
    if not vectors:
        raise WorkerError("bad_params", f"{p.name}: no textual-inversion vectors (string_to_param, emb_params, clip_l/clip_g or one token)")
    return {"token": token, "vectors": vectors}


def normalize_request_embeddings(raw: Any) -> list[dict[str, str]]:
    """`request.embeddings` -> [{path, token}]."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise WorkerError("bad_request", "request.embeddings must be a list of {path, token}")
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("path"), str) or not item["path"]:
            raise WorkerError("bad_request", f"request.embeddings[{i}].path must be a file path")
        token = item.get("token") or Path(item["path"]).stem
        if not isinstance(token, str) or not token.strip():
            raise WorkerError("bad_request", f"request.embeddings[{i}].token must be a non-empty string")
        out.append({"path": item["path"], "token": token})
    return out
