"""Packages installed beside the venv's site-packages, in <venv>/aside (requirements/aside.txt).

They stay off sys.path until the code that needs one calls `enable()`: torchao, once importable, is imported by
transformers on every model load (its quantizer table), a second and more of each cold start that only
`--quantize` on CPU uses; spandrel declares a torchvision dependency that the CPU torch build cannot satisfy, so it
is installed without dependencies. An interpreter given with MGEN_PYTHON has no aside folder: its own site-packages
then decide what imports.
"""

from __future__ import annotations

import importlib
import os
import sys


def aside_dir() -> str:
    return os.path.join(sys.prefix, "aside")


def enable() -> bool:
    """Puts the aside folder at the end of sys.path (site-packages still wins); says whether there is one."""
    d = aside_dir()
    if not os.path.isdir(d):
        return False
    if d not in sys.path:
        sys.path.append(d)
        importlib.invalidate_caches()
    return True
