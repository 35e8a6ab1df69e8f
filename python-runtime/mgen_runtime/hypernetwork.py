"""A1111 hypernetworks (`.pt`): small MLP pairs that rewrite the attention context before the keys and values.

On disk (A1111's modules/hypernetworks/hypernetwork.py `save`): a dict whose integer keys are context widths, each
holding a pair (k, v) of `HypernetworkModule` state dicts (`linear.N.weight/bias`), plus `layer_structure`,
`activation_func`, `is_layer_norm`, `use_dropout`, `last_layer_dropout`, `dropout_structure`, `activate_output`,
`weight_initialization`, `name`, `step`, `sd_checkpoint(_name)`. It is a pickle: read with torch's weights-only
loader only (plain tensors, numbers, strings, lists, dicts).

Semantics (A1111): in every attention layer of the UNet whose context width has a pair, the keys see
`context + k_mlp(context) * strength` and the values `context + v_mlp(context) * strength`; several hypernetworks
chain, each on the previous one's output. Here that is a forward pre-hook on each attention's `to_k` / `to_v`.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .protocol import WorkerError


def _activations() -> dict[str, Any]:
    import torch

    table = {"linear": torch.nn.Identity, "relu": torch.nn.ReLU, "leakyrelu": torch.nn.LeakyReLU, "elu": torch.nn.ELU,
             "swish": torch.nn.Hardswish, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid}
    for name, cls in inspect.getmembers(torch.nn.modules.activation, inspect.isclass):
        if cls.__module__ == "torch.nn.modules.activation":
            table.setdefault(name.lower(), cls)
    return table


def dropout_structure(layers: list[float], use_dropout: bool, last_layer_dropout: bool) -> list[float]:
    """A1111's parse_dropout_structure: which layers a dropout follows, for files without `dropout_structure`."""
    if not use_dropout:
        return [0.0] * len(layers)
    return [0.0] + [0.3] * (len(layers) - 3) + [0.3 if last_layer_dropout else 0.0] + [0.0]


def build_module(dim: int, settings: dict[str, Any]) -> Any:
    """The MLP of one HypernetworkModule, layer for layer as A1111 builds it (so the state-dict indices match)."""
    import torch

    layers = [float(x) for x in settings["layer_structure"]]
    if len(layers) < 2 or layers[0] != 1 or layers[-1] != 1:
        raise ValueError(f"layer_structure {layers} must start and end with 1")
    act = settings["activation_func"]
    table = _activations()
    if act not in (None, "linear") and act not in table:
        raise ValueError(f"unsupported activation function {act!r}")
    drop = settings["dropout_structure"]
    mods: list[Any] = []
    for i in range(len(layers) - 1):
        mods.append(torch.nn.Linear(int(dim * layers[i]), int(dim * layers[i + 1])))
        if not (act in (None, "linear") or (i >= len(layers) - 2 and not settings["activate_output"])):
            mods.append(table[act]())
        if settings["is_layer_norm"]:
            mods.append(torch.nn.LayerNorm(int(dim * layers[i + 1])))
        if drop is not None and i + 1 < len(drop) and drop[i + 1] > 0:
            mods.append(torch.nn.Dropout(p=float(drop[i + 1])))
    seq = torch.nn.Sequential(*mods)
    holder = torch.nn.Module()
    holder.linear = seq
    return holder


def _fix_old(state: dict[str, Any]) -> dict[str, Any]:
    renames = {"linear1.bias": "linear.0.bias", "linear1.weight": "linear.0.weight", "linear2.bias": "linear.1.bias", "linear2.weight": "linear.1.weight"}
    return {renames.get(k, k): v for k, v in state.items()}


@dataclass
class Hypernetwork:
    name: str
    # context width -> (k module, v module)
    layers: dict[int, tuple[Any, Any]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)


def settings_of(raw: dict[Any, Any]) -> dict[str, Any]:
    layers = raw.get("layer_structure") or [1, 2, 1]
    use_dropout = bool(raw.get("use_dropout", False))
    last = bool(raw.get("last_layer_dropout", False))
    drop = raw.get("dropout_structure")
    return {"layer_structure": list(layers), "activation_func": raw.get("activation_func"), "is_layer_norm": bool(raw.get("is_layer_norm", False)),
            "activate_output": bool(raw.get("activate_output", True)),
            "dropout_structure": list(drop) if drop is not None else dropout_structure(list(layers), use_dropout, last)}


def load(path: str | Path) -> Hypernetwork:
    """A hypernetwork file, read with torch's weights-only loader; anything else in the pickle is refused."""
    import torch

    p = Path(path)
    try:
        raw = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - the weights-only loader's refusal, or a broken file
        from .plans import weights_only_refusal

        reason = weights_only_refusal(exc)
        if reason is not None:
            raise WorkerError("unsafe_model", f"{p.name}: torch's weights-only loader refused it: {reason}") from None
        raise WorkerError("load_failed", f"{p.name} is not a readable hypernetwork file") from None
    if not isinstance(raw, dict) or not any(isinstance(k, int) for k in raw):
        raise WorkerError("load_failed", f"{p.name} is not an A1111 hypernetwork (no context-width entries)")
    settings = settings_of(raw)
    hn = Hypernetwork(name=str(raw.get("name") or p.stem), settings=settings)
    for width, pair in raw.items():
        if not isinstance(width, int):
            continue
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise WorkerError("load_failed", f"{p.name}: entry {width} is not a (k, v) pair of layer stacks")
        mods = []
        for state in pair:
            try:
                mod = build_module(width, settings)
                mod.load_state_dict(_fix_old(dict(state)))
            except (RuntimeError, ValueError, TypeError) as exc:
                raise WorkerError("load_failed", f"{p.name}: the {width}-wide layers do not match its settings "
                                                 f"({str(exc).splitlines()[0]})") from None
            mods.append(mod.eval().requires_grad_(False))
        hn.layers[width] = (mods[0], mods[1])
    return hn


def _attention_modules(pipe: Any) -> list[Any]:
    denoiser = getattr(pipe, "unet", None)
    if denoiser is None:
        return []
    return [m for _, m in denoiser.named_modules() if hasattr(m, "to_k") and hasattr(m, "to_v") and hasattr(m, "to_q")]


class Attached:
    """Hypernetworks hooked into a pipeline; `detach()` removes the hooks (the weights were never touched)."""

    def __init__(self, handles: list[Any]) -> None:
        self.handles = handles

    def detach(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []


def attach(pipe: Any, networks: list[tuple[Hypernetwork, float]]) -> Attached:
    """Hooks the hypernetworks (with their strengths) into every attention layer's key and value projections."""
    import torch

    networks = [(hn, s) for hn, s in networks if hn.layers]
    if not networks:
        return Attached([])
    if getattr(pipe, "unet", None) is None:
        raise WorkerError("bad_params", f"hypernetworks apply to UNet models (SD1/SD2/SDXL), not {type(pipe).__name__}")
    def hook(index: int):
        def pre(_module: Any, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
            ctx = args[0]
            width = int(ctx.shape[-1])
            x = ctx.to(torch.float32)
            changed = False
            for hn, strength in networks:
                pair = hn.layers.get(width)
                if pair is None:
                    continue
                mlp = pair[index].linear
                if mlp[0].weight.device != x.device:
                    mlp.to(x.device)  # the pipeline moved (placed after load, or offloaded)
                x = x + mlp(x) * strength
                changed = True
            return (x.to(ctx.dtype), *args[1:]) if changed else None
        return pre

    handles = []
    for attn in _attention_modules(pipe):
        handles.append(attn.to_k.register_forward_pre_hook(hook(0)))
        handles.append(attn.to_v.register_forward_pre_hook(hook(1)))
    return Attached(handles)
