"""Per-request LoRAs on the warm pipeline: loaded once as named adapters, switched on for one request, off after.

The plan's own LoRAs (`--lora` at load time) stay active for every request. A request's `loras` are added on
top of them with `set_adapters` for that request only; afterwards the pipeline is put back exactly as it was
(the plan's adapters alone, or LoRA layers disabled when there are none), so a request without `loras` gives
the base model's pixels. Loaded request adapters are kept for the next request (keyed by file path) up to a
cap; past it the least recently used one is deleted.

LyCORIS-style files that diffusers does not load (LoHa, LoKr, OFT/BOFT, (IA)^3, DoRA `dora_scale`, full diffs:
see lycoris.py) are kept as tensors and patched into the weights for the request; the original weights are put back
bit for bit afterwards.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .protocol import WorkerError

DEFAULT_CAPACITY = 8


def capacity_from_env(env: dict[str, str] | None = None) -> int:
    """$MGEN_MAX_LORAS: how many request LoRAs stay loaded (default 8, at least 1)."""
    raw = (env if env is not None else os.environ).get("MGEN_MAX_LORAS", "")
    try:
        return max(1, int(raw)) if raw.strip() else DEFAULT_CAPACITY
    except ValueError:
        return DEFAULT_CAPACITY


def normalize_loras(raw: Any) -> list[dict[str, Any]]:
    """`request.loras` -> [{path, scale}]; a malformed list is a bad_params naming the entry."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise WorkerError("bad_params", "request.loras must be a list of {path, scale}")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("path"), str) or not item["path"]:
            raise WorkerError("bad_params", f"request.loras[{i}].path must be a file or folder path")
        scale = item.get("scale", 1.0)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)):
            raise WorkerError("bad_params", f"request.loras[{i}].scale must be a number")
        path = str(Path(item["path"]).resolve())
        if path in seen:
            raise WorkerError("bad_params", f"request.loras[{i}]: {Path(path).name} is listed twice")
        seen.add(path)
        out.append({"path": path, "scale": float(scale)})
    return out


def adapter_name(path: str) -> str:
    """A stable adapter name for a file (letters and digits only: it becomes a module-dict key)."""
    return "req_" + hashlib.sha1(path.encode("utf-8")).hexdigest()[:16]


class AdapterCache:
    """The request LoRAs loaded into one pipeline, least recently used first."""

    def __init__(self, pipe: Any, base: list[tuple[str, float]], allow_pickle: bool = False, capacity: int = DEFAULT_CAPACITY) -> None:
        self.pipe = pipe
        self.base = list(base)
        self.allow_pickle = allow_pickle
        self.capacity = max(1, capacity)
        self.loaded: OrderedDict[str, str] = OrderedDict()  # path -> adapter name
        self.loads = 0  # files read from disk (tests: a cached adapter is not read again)
        self.evictions = 0
        self.active = False
        self.states: dict[str, dict[str, Any]] = {}  # adapter name -> tensors, for weight-patched files
        self.patches: Any = None

    def _load(self, path: str, index: int) -> str:
        from .plans import _read_state
        from . import lycoris

        name = adapter_name(path)
        try:
            keys = lycoris.file_keys(path)
            state = None if keys is not None else _read_state(Path(path), self.allow_pickle)
            if keys is None and isinstance(state, dict):
                keys = list(state)
            if keys is not None and lycoris.needs_patch(keys, self.pipe):
                tensors = state if isinstance(state, dict) else lycoris.read_tensors(path, self.allow_pickle)
                lycoris.resolve_or_raise(self.pipe, tensors, Path(path).name)
                self.states[name] = tensors
            else:
                self.pipe.load_lora_weights(state if state is not None else _read_state(Path(path), self.allow_pickle), adapter_name=name)
        except WorkerError:
            raise
        except Exception as exc:  # noqa: BLE001 - a file that does not fit this pipeline is the request's problem
            self._forget(name)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise WorkerError("bad_params", f"request.loras[{index}]: cannot load {Path(path).name} into "
                                            f"{type(self.pipe).__name__}: {first}") from None
        self.loads += 1
        return name

    def _forget(self, name: str) -> None:
        if self.states.pop(name, None) is not None:
            return
        try:
            self.pipe.delete_adapters([name])
        except Exception:  # noqa: BLE001 - a half-loaded adapter may not be registered everywhere
            pass

    def _evict_for(self, keep: set[str]) -> None:
        """Deletes least recently used adapters (not in `keep`) until one more fits."""
        while len(self.loaded) >= self.capacity:
            victim = next((p for p in self.loaded if p not in keep), None)
            if victim is None:
                return  # one request asks for more than the cap: hold them all for now
            self._forget(self.loaded.pop(victim))
            self.evictions += 1

    def activate(self, loras: list[dict[str, Any]]) -> list[str]:
        """Loads what is missing and makes the plan's adapters + these the active set; returns their names."""
        if not loras:
            return []
        keep = {lo["path"] for lo in loras}
        names: list[str] = []
        for i, lora in enumerate(loras):
            path = lora["path"]
            if path in self.loaded:
                self.loaded.move_to_end(path)
            else:
                self._evict_for(keep)
                self.loaded[path] = self._load(path, i)
            names.append(self.loaded[path])
        self.active = True
        from .lycoris import WeightPatches

        peft = [(n, lo["scale"]) for n, lo in zip(names, loras) if n not in self.states]
        try:
            if peft:
                if hasattr(self.pipe, "enable_lora"):
                    self.pipe.enable_lora()
                self.pipe.set_adapters([n for n, _ in self.base] + [n for n, _ in peft],
                                       adapter_weights=[s for _, s in self.base] + [s for _, s in peft])
            self.patches = WeightPatches(self.pipe)
            for n, lo in zip(names, loras):
                if n in self.states:
                    self.patches.apply(self.states[n], lo["scale"], Path(lo["path"]).name)
        except Exception:
            self.deactivate()
            raise
        return names

    def deactivate(self) -> None:
        """Back to the plan's own adapters (or no LoRA at all)."""
        if not self.active:
            return
        self.active = False
        if self.patches is not None:
            self.patches.restore()
            self.patches = None
        if self.base:
            self.pipe.set_adapters([n for n, _ in self.base], adapter_weights=[s for _, s in self.base])
        elif any(n not in self.states for n in self.loaded.values()):
            self.pipe.disable_lora()

    def stats(self) -> dict[str, Any]:
        return {"loaded": len(self.loaded), "capacity": self.capacity, "loads": self.loads, "evictions": self.evictions}


def cache_for(loaded: Any) -> AdapterCache:
    """The adapter cache of a Loaded pipeline (made on first use)."""
    cache = getattr(loaded, "adapters", None)
    if cache is None:
        plan = loaded.plan
        # The plan's weight-patched files are merged for good: no adapter of theirs to switch.
        base = [(str(lo.get("name") or f"l{i}"), float(lo.get("scale", 1.0))) for i, lo in enumerate(plan.get("loras") or [])
                if not lo.get("patched")]
        cache = AdapterCache(loaded.pipe, base, bool(plan.get("allow_pickle")), capacity_from_env())
        loaded.adapters = cache
    return cache


@contextmanager
def request_adapters(loaded: Any, request: Any) -> Iterator[list[str]]:
    """Around one generate: the request's `loras` active inside, the pipeline as before outside."""
    loras = normalize_loras(request.get("loras") if isinstance(request, dict) else None)
    if not loras or loaded is None:
        yield []
        return
    cache = cache_for(loaded)
    names = cache.activate(loras)
    try:
        yield names
    finally:
        cache.deactivate()
