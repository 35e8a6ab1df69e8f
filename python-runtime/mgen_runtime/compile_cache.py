"""With --compile: how this process's compiled graphs were served, from torch's own counters. Inductor looks each
graph up in its FX-graph cache and AOT autograd in its own (both under MGEN_HOME/compile-cache, the CLI's
TORCHINDUCTOR_CACHE_DIR): a hit loads kernels an earlier process compiled, a miss compiles them here, a bypass means
the graph could not be cached at all. Totals since the worker started, so a serve reports every load and request."""

from __future__ import annotations

import sys

_COUNTERS = {
    "fxgraph_hit": ("inductor", "fxgraph_cache_hit"), "fxgraph_miss": ("inductor", "fxgraph_cache_miss"),
    "fxgraph_bypass": ("inductor", "fxgraph_cache_bypass"),
    "autograd_hit": ("aot_autograd", "autograd_cache_hit"), "autograd_miss": ("aot_autograd", "autograd_cache_miss"),
    "autograd_bypass": ("aot_autograd", "autograd_cache_bypass"),
}


def counters() -> dict[str, int]:
    """The cache counters; all zero before anything was compiled (torch._dynamo not even imported)."""
    if "torch._dynamo.utils" not in sys.modules:
        return {k: 0 for k in _COUNTERS}
    from torch._dynamo.utils import counters as torch_counters

    return {k: int(torch_counters[group][name]) for k, (group, name) in _COUNTERS.items()}
