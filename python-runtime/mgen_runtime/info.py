"""What the worker runs on: interpreter and library versions, device, GPU memory (`hello`, `runtime doctor`)."""

from __future__ import annotations

import json
import os
import platform
import sys
from typing import Any

from . import PROTOCOL_VERSION, __version__


def _version(module: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:  # noqa: BLE001 - not installed as a distribution (e.g. a source tree on PYTHONPATH)
        pass
    try:
        import importlib

        return str(importlib.import_module(module).__version__)
    except Exception:  # noqa: BLE001 - a missing package is reported as null
        return None


def pick_device(requested: str = "auto") -> str:
    import torch

    if requested in ("cpu", "cuda", "mps"):
        return requested
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def hello_info() -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        "protocol": PROTOCOL_VERSION,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "diffusers": _version("diffusers"),
        "transformers": _version("transformers"),
        "device": pick_device(),
        "mgen_runtime": __version__,
        # torch's intra-op thread count and OpenMP's wait policy (the CLI starts the worker with passive waiting and
        # one thread per usable core unless the user set OMP_NUM_THREADS / MKL_NUM_THREADS / OMP_WAIT_POLICY).
        "threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY") or None,
    }
    if info["device"] == "cuda":
        info["gpu_name"] = torch.cuda.get_device_name(0)
        free, total = torch.cuda.mem_get_info(0)
        info["free_memory_bytes"], info["total_memory_bytes"] = int(free), int(total)
        info["cuda"] = torch.version.cuda
    else:
        try:
            import psutil

            vm = psutil.virtual_memory()
            info["free_memory_bytes"], info["total_memory_bytes"] = int(vm.available), int(vm.total)
        except ImportError:
            pass
    for extra in ("accelerate", "safetensors", "peft", "huggingface_hub"):
        info.setdefault("packages", {})[extra] = _version(extra)
    return info


if __name__ == "__main__":
    json.dump(hello_info(), sys.stdout)
    sys.stdout.write("\n")
