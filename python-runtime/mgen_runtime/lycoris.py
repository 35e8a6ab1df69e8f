"""LyCORIS and friends as weight patches: LoHa, LoKr, OFT/BOFT, (IA)^3, full diffs, DoRA, and LoRA/LoCon in the
same files, on SD1/SD2/SDXL/FLUX pipelines.

diffusers 0.42.1's `load_lora_weights` (PEFT underneath) reads kohya/PEFT LoRA and LoCon, PEFT DoRA
(`lora_magnitude_vector`), and PEFT-format LoKr only for Flux2/Z-Image; it drops kohya/LyCORIS `dora_scale` with a
warning (the plain LoRA is applied) and does not read kohya LoHa, LoKr, OFT/BOFT, (IA)^3 or full diffs. Those are
applied here the way ComfyUI and A1111's Lora extension do: each module's weight delta is computed from the factors
and added to the module weight (times the strength). The original tensors are kept, so `restore()` puts back the
very same bits.

Key layouts: kohya (`lora_unet_…`, `lora_te_…`, `lora_te1_/te2_/te3_…`, `lora_transformer_…`, `lycoris_…`, with
diffusers module names or SGM/LDM UNet names such as `input_blocks_4_1_…`, and FLUX's BFL names
`double_blocks_N_img_attn_qkv` whose fused weights are split over diffusers' q/k/v), and dotted names
(`unet.`, `transformer.`, `text_encoder.`, `diffusion_model.`, `base_model.model.`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .protocol import WorkerError

# Suffixes of one module's tensors, longest first (so `lokr_w1_a` wins over `lokr_w1`).
SUFFIXES = (
    "hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b", "hada_t1", "hada_t2",
    "lokr_w1_a", "lokr_w1_b", "lokr_w2_a", "lokr_w2_b", "lokr_w1", "lokr_w2", "lokr_t2",
    "oft_blocks", "oft_diag", "rescale",
    "lora_down.weight", "lora_up.weight", "lora_mid.weight", "lora_A.weight", "lora_B.weight",
    "lora_magnitude_vector", "dora_scale", "alpha", "diff_b", "diff", "on_input", "weight",
)
# Keys only LyCORIS-style files have: a file with any of them is patched here rather than by diffusers.
_PATCH_ONLY = re.compile(r"\.(hada_w[12]_[ab]|hada_t[12]|lokr_w[12](_[ab])?|lokr_t2|oft_blocks|oft_diag|diff|diff_b|on_input|lora_mid\.weight)$")

_DOTTED = (("model.diffusion_model.", "denoiser"), ("diffusion_model.", "denoiser"), ("base_model.model.", "denoiser"),
           ("unet.", "unet"), ("transformer.", "transformer"), ("text_encoder_2.", "text_encoder_2"),
           ("text_encoder.", "text_encoder"))
_KOHYA = (("lora_unet_", "denoiser"), ("lycoris_", "denoiser"), ("lora_transformer_", "transformer"), ("lora_te1_", "text_encoder"),
          ("lora_te2_", "text_encoder_2"), ("lora_te3_", "te3"), ("lora_te_", "text_encoder"))


# -- the math (pure functions of tensors) ------------------------------------------------------------------------

def _f(t: Any) -> Any:
    import torch

    return t.to(torch.float32)


def tucker(t: Any, wa: Any, wb: Any) -> Any:
    """A CP/Tucker-decomposed conv factor: core t [r, r, k, k], wa [r, out], wb [r, in] -> [out, in, k, k]."""
    import torch

    return torch.einsum("i j k l, j r, i p -> p r k l", _f(t), _f(wb).flatten(1), _f(wa).flatten(1))


def lora_weight(up: Any, down: Any, mid: Any | None, shape: tuple[int, ...]) -> Any:
    """up @ down (LoRA/LoCon), through the CP core `mid` when there is one, shaped like the module weight."""
    import torch

    up, down = _f(up).flatten(1), _f(down).flatten(1)
    if mid is not None:
        # down [r, in], mid [r, r, k, k], up [out, r]
        return torch.einsum("i j k l, p i, j r -> p r k l", _f(mid), up, down).reshape(shape)
    # LoCon's k x k down conv flattens to [r, in*k*k]: the product reshapes to the conv weight.
    return (up @ down).reshape(shape)


def loha_weight(t: dict[str, Any], shape: tuple[int, ...]) -> Any:
    """LoHa: (w1a @ w1b) * (w2a @ w2b), elementwise; with hada_t1/t2 the CP forms of both factors."""
    if "hada_t1" in t and "hada_t2" in t:
        w1 = tucker(t["hada_t1"], t["hada_w1_a"], t["hada_w1_b"])
        w2 = tucker(t["hada_t2"], t["hada_w2_a"], t["hada_w2_b"])
    else:
        w1 = _f(t["hada_w1_a"]) @ _f(t["hada_w1_b"])
        w2 = _f(t["hada_w2_a"]) @ _f(t["hada_w2_b"])
    return (w1 * w2).reshape(shape)


def lokr_weight(t: dict[str, Any], shape: tuple[int, ...]) -> Any:
    """LoKr: kron(w1, w2), each factor full (`lokr_w1`) or low-rank (`_a @ _b`), w2 optionally CP (`lokr_t2`)."""
    import torch

    w1 = _f(t["lokr_w1"]) if "lokr_w1" in t else _f(t["lokr_w1_a"]) @ _f(t["lokr_w1_b"])
    if "lokr_w2" in t:
        w2 = _f(t["lokr_w2"])
    elif "lokr_t2" in t:
        w2 = tucker(t["lokr_t2"], t["lokr_w2_a"], t["lokr_w2_b"])
    else:
        w2 = _f(t["lokr_w2_a"]) @ _f(t["lokr_w2_b"])
    if w2.dim() == 4 and w1.dim() == 2:
        w1 = w1[:, :, None, None]
    return torch.kron(w1.contiguous(), w2.contiguous()).reshape(shape)


def lokr_rank(t: dict[str, Any]) -> int | None:
    """The rank `alpha` divides by: that of the low-rank factor (none when both are full matrices)."""
    if "lokr_w1_b" in t:
        return int(t["lokr_w1_b"].shape[0])
    if "lokr_w2_b" in t:
        return int(t["lokr_w2_b"].shape[0])
    return None


def _cayley(blocks: Any, constraint: float) -> Any:
    """Orthogonal blocks from skew-symmetric parameters: R = (I + Q)(I - Q)^-1, Q's norm clamped to `constraint`."""
    import torch

    blocks = _f(blocks)
    eye = torch.eye(blocks.shape[-1], dtype=blocks.dtype)
    q = blocks - blocks.transpose(-1, -2)
    if constraint > 0:
        norm = torch.norm(q) + 1e-8
        if norm > constraint:
            q = q * constraint / norm
    return (eye + q) @ torch.linalg.inv(eye - q)


def oft_rotated(weight: Any, blocks: Any, constraint: float, rescale: Any | None = None) -> Any:
    """OFT (3-D `oft_blocks` [n, b, b]): the weight's output rows in blocks of b, each block turned by R^T."""
    import torch

    r = _cayley(blocks, constraint)
    n, b, _ = r.shape
    w = _f(weight)
    out = torch.einsum("k n m, k n ... -> k m ...", r, w.reshape(n, b, *w.shape[1:])).reshape(w.shape)
    return out * _f(rescale) if rescale is not None else out


def boft_rotated(weight: Any, blocks: Any, constraint: float, rescale: Any | None = None) -> Any:
    """BOFT (4-D `oft_blocks` [m, n, b, b]): m butterfly stages of block rotations over the output rows."""
    import torch

    r = _cayley(blocks, constraint)
    m, _, b, _ = r.shape
    x = _f(weight)
    half = b // 2
    for i in range(m):
        k = 2**i * half
        x = x.unflatten(0, (-1, 2, k)).transpose(1, 2).flatten(0, 2).unflatten(0, (-1, b))
        x = torch.einsum("b i j, b j ... -> b i ...", r[i], x)
        x = x.flatten(0, 1).unflatten(0, (-1, k, 2)).transpose(1, 2).flatten(0, 2)
    return x * _f(rescale) if rescale is not None else x


def ia3_delta(weight: Any, w: Any, on_input: bool) -> Any:
    """(IA)^3: the weight scaled per output row (or per input column with on_input) by the learned vector."""
    w = _f(w).flatten()
    weight = _f(weight)
    shape = [1] * weight.dim()
    if on_input:
        shape[1] = -1
    else:
        shape[0] = -1
    return weight * w.reshape(shape)


def dora_weight(weight: Any, diff: Any, dora_scale: Any) -> Any:
    """DoRA: W + diff renormalised to the learned magnitude. A per-output scale ([out] / [out, 1, ...]) normalises each
    output row (PEFT, LyCORIS wd_on_out); otherwise each input column (kohya/LyCORIS default, as ComfyUI does)."""
    w = _f(weight) + _f(diff)
    s = _f(dora_scale)
    dims = w.dim()
    if s.numel() == w.shape[0] and (s.dim() == 1 or s.shape[0] == w.shape[0]):
        norm = w.reshape(w.shape[0], -1).norm(dim=1).reshape(w.shape[0], *[1] * (dims - 1))
        return w * (s.reshape(norm.shape) / norm)
    norm = w.transpose(0, 1).reshape(w.shape[1], -1).norm(dim=1, keepdim=True).reshape(w.shape[1], *[1] * (dims - 1)).transpose(0, 1)
    return w * (s.reshape(norm.shape) / norm)


def module_delta(t: dict[str, Any], weight: Any) -> Any:
    """The full-strength change of one module's weight from its adapter tensors (float32, weight-shaped)."""
    shape = tuple(weight.shape)
    alpha = float(t["alpha"]) if "alpha" in t else None
    if "oft_blocks" in t or "oft_diag" in t:
        blocks = t.get("oft_blocks", t.get("oft_diag"))
        constraint = alpha or 0.0
        rotate = boft_rotated if blocks.dim() == 4 else oft_rotated
        diff = rotate(weight, blocks, constraint, t.get("rescale")) - _f(weight)
        alpha = None  # alpha is OFT's norm constraint, not a scale
    elif "hada_w1_a" in t:
        diff = loha_weight(t, shape)
        rank = int(t["hada_w1_b"].shape[0])
        diff = diff * (alpha / rank) if alpha else diff
    elif any(k.startswith("lokr_") for k in t):
        diff = lokr_weight(t, shape)
        rank = lokr_rank(t)
        diff = diff * (alpha / rank) if alpha and rank else diff
    elif "lora_down.weight" in t or "lora_A.weight" in t:
        down = t.get("lora_down.weight", t.get("lora_A.weight"))
        up = t.get("lora_up.weight", t.get("lora_B.weight"))
        diff = lora_weight(up, down, t.get("lora_mid.weight"), shape)
        rank = int(down.shape[0])
        diff = diff * (alpha / rank) if alpha else diff
    elif "diff" in t:
        diff = _f(t["diff"]).reshape(shape)
    elif "weight" in t and "on_input" in t:
        return ia3_delta(weight, t["weight"], bool(t["on_input"].flatten()[0].item()))
    else:
        raise ValueError("no adapter factors")
    magnitude = t.get("dora_scale", t.get("lora_magnitude_vector"))
    if magnitude is not None:
        return dora_weight(weight, diff, magnitude) - _f(weight)
    return diff


# -- which module each key means ---------------------------------------------------------------------------------

def split_key(key: str) -> tuple[str, str] | None:
    """`module.suffix` -> (module, suffix), or None when the key is no adapter tensor."""
    for s in SUFFIXES:
        if key.endswith("." + s):
            return key[: -len(s) - 1], s
    return None


def group(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for key, value in state.items():
        parts = split_key(key)
        if parts is None:
            continue
        out.setdefault(parts[0], {})[parts[1]] = value
    # A bare `.weight` is (IA)^3 only beside `on_input`.
    for t in out.values():
        if "weight" in t and "on_input" not in t:
            del t["weight"]
    return {m: t for m, t in out.items() if set(t) - {"alpha"}}


def needs_patch(keys: Iterable[str], pipe: Any) -> bool:
    """Whether a file is applied here (True) or by diffusers' LoRA loader (False)."""
    keys = list(keys)
    if any(_PATCH_ONLY.search(k) for k in keys):
        return True
    # diffusers 0.42.1 drops kohya/LyCORIS `dora_scale` (it warns and applies the plain LoRA): DoRA is patched here.
    return any(k.endswith(".dora_scale") for k in keys)


def _sgm_to_diffusers(name: str, layers_per_block: int, up_attn: set[int]) -> str:
    """SGM/LDM UNet module names (`input_blocks_4_1_…`) in diffusers' terms (`down_blocks_1_attentions_0_…`)."""
    L = layers_per_block
    resnet = (("in_layers_0", "norm1"), ("in_layers_2", "conv1"), ("out_layers_0", "norm2"), ("out_layers_3", "conv2"),
              ("emb_layers_1", "time_emb_proj"), ("skip_connection", "conv_shortcut"))

    def res(rest: str) -> str:
        for a, b in resnet:
            if rest.startswith(a):
                return b + rest[len(a):]
        return rest

    m = re.match(r"input_blocks_(\d+)_(\d+)_(.*)$", name)
    if m and int(m.group(1)) > 0:
        i, j, rest = int(m.group(1)), int(m.group(2)), m.group(3)
        block, idx = (i - 1) // (L + 1), (i - 1) % (L + 1)
        if idx == L:
            return f"down_blocks_{block}_downsamplers_0_{rest.replace('op', 'conv', 1)}"
        return f"down_blocks_{block}_{'attentions' if j == 1 else 'resnets'}_{idx}_{res(rest) if j == 0 else rest}"
    m = re.match(r"middle_block_(\d+)_(.*)$", name)
    if m:
        j, rest = int(m.group(1)), m.group(2)
        return f"mid_block_attentions_0_{rest}" if j == 1 else f"mid_block_resnets_{j // 2}_{res(rest)}"
    m = re.match(r"output_blocks_(\d+)_(\d+)_(.*)$", name)
    if m:
        i, j, rest = int(m.group(1)), int(m.group(2)), m.group(3)
        block, idx = i // (L + 1), i % (L + 1)
        if j == 0:
            return f"up_blocks_{block}_resnets_{idx}_{res(rest)}"
        if j == 1 and block in up_attn:
            return f"up_blocks_{block}_attentions_{idx}_{rest}"
        return f"up_blocks_{block}_upsamplers_0_{rest}"
    return name


# FLUX BFL names (kohya `lora_unet_double_blocks_0_img_attn_qkv`, ai-toolkit `diffusion_model.double_blocks.0.…`):
# each maps to the diffusers modules whose weights, stacked by rows, make the fused BFL weight.
_FLUX_DOUBLE = {
    "img_attn_qkv": ("attn.to_q", "attn.to_k", "attn.to_v"), "txt_attn_qkv": ("attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj"),
    "img_attn_proj": ("attn.to_out.0",), "txt_attn_proj": ("attn.to_add_out",), "img_mlp_0": ("ff.net.0.proj",),
    "img_mlp_2": ("ff.net.2",), "txt_mlp_0": ("ff_context.net.0.proj",), "txt_mlp_2": ("ff_context.net.2",),
    "img_mod_lin": ("norm1.linear",), "txt_mod_lin": ("norm1_context.linear",),
}
_FLUX_SINGLE = {"linear1": ("attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp"), "linear2": ("proj_out",), "modulation_lin": ("norm.linear",)}


def _flux_bfl(name: str) -> list[str] | None:
    m = re.match(r"(double|single)_blocks_(\d+)_(.*)$", name)
    if not m:
        return None
    table, prefix = (_FLUX_DOUBLE, "transformer_blocks") if m.group(1) == "double" else (_FLUX_SINGLE, "single_transformer_blocks")
    targets = table.get(m.group(3))
    return [f"{prefix}.{m.group(2)}.{t}" for t in targets] if targets else None


@dataclass
class Target:
    """One adapter module: the model modules it changes (several when a fused BFL weight is split)."""
    key: str
    modules: list[Any]
    tensors: dict[str, Any] = field(default_factory=dict)


def _flat_modules(model: Any) -> dict[str, Any]:
    """Modules with a weight, by flattened name (`a.b.0.c` -> `a_b_0_c`). A PEFT-wrapped layer is found under its
    own name (its `weight` is the base layer's)."""
    out: dict[str, Any] = {}
    for name, mod in model.named_modules():
        if re.search(r"(^|\.)(lora_\w+|base_layer)(\.|$)", name):
            continue
        if hasattr(getattr(mod, "weight", None), "shape"):
            out[name.replace(".", "_")] = mod
    return out


def _component(pipe: Any, role: str) -> str | None:
    if role == "denoiser":
        return "unet" if getattr(pipe, "unet", None) is not None else "transformer"
    if role == "te3":
        return "text_encoder_3" if getattr(pipe, "text_encoder_3", None) is not None else "text_encoder_2"
    return role


def resolve(pipe: Any, modules: dict[str, dict[str, Any]]) -> tuple[list[Target], list[str]]:
    """The pipeline modules each adapter module means; returns (targets, adapter modules that matched nothing)."""
    flats: dict[str, dict[str, Any]] = {}
    targets: list[Target] = []
    missing: list[str] = []
    for key, tensors in modules.items():
        role, rest = None, key
        for prefix, r in _KOHYA + _DOTTED:
            if key.startswith(prefix):
                role, rest = r, key[len(prefix):]
                break
        comp = _component(pipe, role or "denoiser")
        model = getattr(pipe, comp, None) if comp else None
        if model is None:
            missing.append(key)
            continue
        if comp not in flats:
            flats[comp] = _flat_modules(model)
        flat = flats[comp]
        rest = rest.replace(".", "_")
        names: list[str] = [rest]
        if comp == "unet" and re.match(r"(input_blocks|middle_block|output_blocks)_", rest):
            cfg = model.config
            lpb = cfg.layers_per_block if isinstance(cfg.layers_per_block, int) else cfg.layers_per_block[0]
            up_attn = {i for i, t in enumerate(cfg.up_block_types) if "CrossAttn" in t}
            names = [_sgm_to_diffusers(rest, int(lpb), up_attn)]
        elif comp == "transformer" and (bfl := _flux_bfl(rest)):
            names = [n.replace(".", "_") for n in bfl]
        elif comp.startswith("text_encoder") and rest not in flat and "text_model_" + rest in flat:
            names = ["text_model_" + rest]
        if not all(n in flat for n in names):
            missing.append(key)
            continue
        found = [flat[n] for n in names]
        targets.append(Target(key, found, tensors))
    return targets, missing


# -- applying and undoing ----------------------------------------------------------------------------------------

def read_tensors(path: str | Path, allow_pickle: bool) -> dict[str, Any]:
    p = Path(path)
    if p.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(p))
    if not allow_pickle:
        raise WorkerError("unsafe_model", f"{p.name} is a pickle file; refusing it without allow_pickle")
    import torch

    state = torch.load(str(p), map_location="cpu", weights_only=True)
    return state.get("state_dict", state) if isinstance(state, dict) else state


def file_keys(path: str | Path) -> list[str] | None:
    """A safetensors file's tensor names (header only); None for other files."""
    p = Path(path)
    if p.suffix.lower() != ".safetensors" or not p.is_file():
        return None
    from safetensors import safe_open

    with safe_open(str(p), framework="pt") as fh:
        return list(fh.keys())


def resolve_or_raise(pipe: Any, state: dict[str, Any], name: str) -> list[Target]:
    """The targets of a file; a file none of whose modules matches the pipeline is a bad_params naming it."""
    modules = group(state)
    targets, _missing = resolve(pipe, modules)
    if not targets:
        raise WorkerError("bad_params", f"{name}: none of its {len(modules)} modules matches {type(pipe).__name__}"
                                        " (an adapter for another model?)")
    return targets


class WeightPatches:
    """Weight patches on one pipeline; `restore()` puts every touched weight back bit for bit."""

    def __init__(self, pipe: Any) -> None:
        self.pipe = pipe
        self.originals: dict[int, tuple[Any, Any]] = {}  # id(param) -> (param, original tensor)

    def apply(self, state: dict[str, Any], strength: float, name: str = "adapter", keep: bool = True) -> int:
        """Adds `strength` x each module's delta to its weight; returns how many modules changed.

        keep=False (the load plan's own adapters) keeps no copy: the change is permanent for the pipeline."""
        import torch

        targets = resolve_or_raise(self.pipe, state, name)
        with torch.no_grad():
            for tgt in targets:
                params = [m.weight for m in tgt.modules]
                fused = params[0].data if len(params) == 1 else torch.cat([p.data for p in params], 0)
                try:
                    delta = module_delta(tgt.tensors, fused.to(torch.float32).cpu())
                except (RuntimeError, ValueError, KeyError) as exc:
                    raise WorkerError("bad_params", f"{name}: module {tgt.key} does not fit {type(self.pipe).__name__} "
                                                    f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
                rows = 0
                for p in params:
                    part = delta[rows: rows + p.shape[0]]
                    rows += p.shape[0]
                    if part.numel() != p.numel():
                        raise WorkerError("bad_params", f"{name}: module {tgt.key} has {tuple(delta.shape)} weights; the model's are {tuple(fused.shape)}")
                    if keep and id(p) not in self.originals:
                        self.originals[id(p)] = (p, p.data.clone())
                    p.data.copy_((p.data.to(torch.float32) + strength * part.reshape(p.shape).to(p.device)).to(p.dtype))
        return len(targets)

    def restore(self) -> None:
        import torch

        with torch.no_grad():
            for param, original in self.originals.values():
                param.data.copy_(original)
        self.originals.clear()


def apply_plan_lora(pipe: Any, lora: dict[str, Any], allow_pickle: bool) -> bool:
    """A load plan's `--lora`: merged here for good (and marked `patched`) when it is a file diffusers does not load;
    False leaves it to diffusers."""
    path = Path(lora["path"])
    keys = file_keys(path)
    state = None
    if keys is None and path.is_file():
        state = read_tensors(path, allow_pickle)
        keys = list(state) if isinstance(state, dict) else []
    if keys is None or not needs_patch(keys, pipe):
        return False
    WeightPatches(pipe).apply(state if state is not None else read_tensors(path, allow_pickle), float(lora.get("scale", 1.0)), path.name, keep=False)
    lora["patched"] = True
    return True
