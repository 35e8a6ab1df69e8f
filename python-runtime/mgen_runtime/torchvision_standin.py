"""Importing spandrel (the upscaler architecture loader, installed aside: requirements/aside.txt) without torchvision.

Why a stand-in: spandrel's registry imports every architecture it knows, and two of them import torchvision at module
import: LaMa (inpainting; `rotate`, `InterpolationMode`) and RestoreFormer (face restoration; `normalize`). Neither is
an upscaler, and PyPI's torchvision wheels do not import beside the CPU torch build, so spandrel is installed without
its torchvision dependency. While spandrel is imported, modules holding just those three names sit in sys.modules;
they are removed right after, so nothing else sees a torchvision (transformers, for one, checks whether torchvision is
available and would take the stand-in for the real thing). `normalize` works; `rotate` and `InterpolationMode` raise a
clear error if ever used. Where a real torchvision imports (an MGEN_PYTHON interpreter with one), it is used instead.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import types
from typing import Any

from . import aside
from .protocol import WorkerError

_MODULES = ("torchvision", "torchvision.transforms", "torchvision.transforms.functional")


class _Unavailable:
    """A torchvision name that spandrel imports but an upscaler never uses: any use is a clear error."""

    def __init__(self, name: str) -> None:
        self.__dict__["_name"] = name

    def _fail(self) -> RuntimeError:
        return RuntimeError(f"torchvision.transforms.functional.{self.__dict__['_name']} is not available: torchvision is not "
                            "installed beside the CPU torch build (only spandrel's LaMa and RestoreFormer use it)")

    def __getattr__(self, attr: str) -> Any:
        raise self._fail()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise self._fail()


def normalize(tensor: Any, mean: Any, std: Any, inplace: bool = False) -> Any:
    """torchvision.transforms.functional.normalize for a (..., C, H, W) tensor: (x - mean) / std per channel."""
    import torch

    if not inplace:
        tensor = tensor.clone()
    m = torch.as_tensor(mean, dtype=tensor.dtype, device=tensor.device).view(-1, 1, 1)
    s = torch.as_tensor(std, dtype=tensor.dtype, device=tensor.device).view(-1, 1, 1)
    return tensor.sub_(m).div_(s)


def _standin() -> dict[str, types.ModuleType]:
    mods = {}
    for name in _MODULES:
        mod = types.ModuleType(name, "mgen's stand-in while spandrel imports (mgen_runtime/torchvision_standin.py)")
        mod.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=name != _MODULES[-1])
        if name != _MODULES[-1]:
            mod.__path__ = []
        mods[name] = mod
    fn = mods["torchvision.transforms.functional"]
    fn.normalize = normalize  # type: ignore[attr-defined]
    fn.rotate = _Unavailable("rotate")  # type: ignore[attr-defined]
    fn.InterpolationMode = _Unavailable("InterpolationMode")  # type: ignore[attr-defined]
    mods["torchvision"].transforms = mods["torchvision.transforms"]  # type: ignore[attr-defined]
    mods["torchvision.transforms"].functional = fn  # type: ignore[attr-defined]
    return mods


def _real_torchvision() -> bool:
    """Whether a real torchvision imports here; a broken one is cleared out of sys.modules again."""
    if "torchvision" in sys.modules:
        return True
    if importlib.util.find_spec("torchvision") is None:
        return False
    try:
        importlib.import_module("torchvision.transforms.functional")
        return True
    except Exception:  # noqa: BLE001 - e.g. built for another torch: use the stand-in
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]
        return False


def import_spandrel() -> Any:
    """The spandrel package, imported once per process (aside folder enabled, torchvision stood in for meanwhile)."""
    if "spandrel" in sys.modules:
        return sys.modules["spandrel"]
    aside.enable()
    if importlib.util.find_spec("spandrel") is None:
        raise WorkerError("runtime_broken", "spandrel (the upscaler loader) is not installed in this Python runtime; run `mgen runtime install`")
    placed: dict[str, types.ModuleType] = {}
    if not _real_torchvision():
        placed = _standin()
        sys.modules.update(placed)
    try:
        return importlib.import_module("spandrel")
    except ImportError as e:
        raise WorkerError("runtime_broken", f"spandrel (the upscaler loader) cannot be imported: it needs {e.name or 'a missing module'}; "
                          "run `mgen runtime install`") from None
    finally:
        for name, mod in placed.items():
            if sys.modules.get(name) is mod:
                del sys.modules[name]
