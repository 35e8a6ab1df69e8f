"""Library chatter off unless asked for: transformers' LOAD REPORT tables, tqdm bars, advisory warnings.

The worker reports progress itself (protocol events), so the libraries' own bars and notices on stderr only look
like failures on a passing run. `--verbose` (the CLI sets MGEN_WORKER_VERBOSE=1) or MGEN_DEBUG=1 keeps them all.
Environment switches are set before the libraries are imported (they read them at import); `libraries()` turns off
what only has a function switch (diffusers' bars) once they are imported.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

_ENV = {
    "TRANSFORMERS_VERBOSITY": "error",
    "DIFFUSERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
}

_QUIET_WARNINGS = (FutureWarning, UserWarning, DeprecationWarning)
_QUIET_LOGGERS = ("torchao", "torch.utils._pytree")


def verbose() -> bool:
    return any(os.environ.get(k, "").strip() not in ("", "0") for k in ("MGEN_WORKER_VERBOSE", "MGEN_DEBUG"))


def early() -> None:
    """Before torch/diffusers/transformers are imported: environment switches and warning filters (user's values win)."""
    if verbose():
        return
    for key, value in _ENV.items():
        os.environ.setdefault(key, value)
    for category in _QUIET_WARNINGS:
        warnings.filterwarnings("ignore", category=category)
    # torchao (pinned for --quantize on CPU) is imported by transformers' and diffusers' quantizers: it logs the CUDA-only
    # kernels it cannot load, and torch notes the Enum types it registers. Neither is a problem on a passing run.
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    # A filter can be pushed aside (unittest's runner sets "default" around the run): drop them where they are shown.
    if not getattr(warnings.showwarning, "_mgen_quiet", False):
        shown = warnings.showwarning

        def showwarning(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
            if not issubclass(category, _QUIET_WARNINGS):
                shown(message, category, filename, lineno, file, line)

        showwarning._mgen_quiet = True  # type: ignore[attr-defined]
        warnings.showwarning = showwarning
    libraries()


def libraries() -> None:
    """Quiet the libraries already imported (call again after importing diffusers/transformers)."""
    if verbose():
        return
    if "diffusers" in sys.modules:
        from diffusers.utils import logging as dlog

        dlog.set_verbosity_error()
        dlog.disable_progress_bar()
    if "transformers" in sys.modules:
        from transformers.utils import logging as tlog

        tlog.set_verbosity_error()
        tlog.disable_progress_bar()
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    for name in ("diffusers", "transformers", "huggingface_hub", "accelerate", "peft", *_QUIET_LOGGERS):
        logging.getLogger(name).setLevel(logging.ERROR)
