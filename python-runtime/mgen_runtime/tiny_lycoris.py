"""Tiny LyCORIS-family files (LoHa, LoKr, OFT/BOFT, (IA)^3, LoCon, DoRA, full diff) for the tiny builtins, with the
key layouts real trainers write: kohya `lora_unet_…`/`lora_te…_` names (SGM block names for SDXL, BFL names for
FLUX) and the LyCORIS tensor suffixes. For tests and the README: they make noise, not pictures.

    python -m mgen_runtime.tiny_lycoris BASE OUT_FOLDER   # BASE: a tiny-sd / tiny-sdxl / tiny-flux folder, or that name
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable

import torch

Tensors = dict[str, torch.Tensor]


def _attn_linears(model: Any) -> list[tuple[str, torch.nn.Linear]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)
            and (n.rsplit(".", 1)[-1] in ("to_q", "to_k", "to_v", "q_proj", "k_proj", "v_proj", "out_proj") or n.endswith("to_out.0"))]


def _convs(model: Any) -> list[tuple[str, torch.nn.Conv2d]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3) and "resnets" in n]


def _split(n: int) -> tuple[int, int]:
    """n = a * b with a the smallest of 4, 2 that divides it (LoKr's factorisation of a dimension)."""
    for a in (4, 2):
        if n % a == 0:
            return a, n // a
    return 1, n


class Writer:
    def __init__(self, seed: int) -> None:
        self.gen = torch.Generator().manual_seed(seed)

    def r(self, *shape: int, scale: float = 0.5) -> torch.Tensor:
        return torch.randn(*shape, generator=self.gen) * scale

    # One module's tensors per format (keyed by suffix), given the module's weight shape.
    def loha(self, shape: tuple[int, ...], rank: int = 2) -> Tensors:
        out, inn = shape[0], int(torch.tensor(shape[1:]).prod())
        return {"hada_w1_a": self.r(out, rank), "hada_w1_b": self.r(rank, inn), "hada_w2_a": self.r(out, rank),
                "hada_w2_b": self.r(rank, inn), "alpha": torch.tensor(float(rank))}

    def loha_cp(self, shape: tuple[int, ...], rank: int = 2) -> Tensors:
        out, inn, k, l = shape
        return {"hada_t1": self.r(rank, rank, k, l), "hada_w1_a": self.r(rank, out), "hada_w1_b": self.r(rank, inn),
                "hada_t2": self.r(rank, rank, k, l), "hada_w2_a": self.r(rank, out), "hada_w2_b": self.r(rank, inn),
                "alpha": torch.tensor(1.0)}

    def lokr(self, shape: tuple[int, ...], rank: int = 2) -> Tensors:
        (a, c), (b, d) = _split(shape[0]), _split(shape[1])
        return {"lokr_w1": self.r(a, b), "lokr_w2_a": self.r(c, rank), "lokr_w2_b": self.r(rank, d), "alpha": torch.tensor(float(rank))}

    def lokr_full(self, shape: tuple[int, ...]) -> Tensors:
        (a, c), (b, d) = _split(shape[0]), _split(shape[1])
        return {"lokr_w1": self.r(a, b), "lokr_w2": self.r(c, d, scale=0.3)}

    def lokr_cp(self, shape: tuple[int, ...], rank: int = 2) -> Tensors:
        out, inn, k, l = shape
        (a, c), (b, d) = _split(out), _split(inn)
        return {"lokr_w1_a": self.r(a, rank), "lokr_w1_b": self.r(rank, b), "lokr_t2": self.r(rank, rank, k, l),
                "lokr_w2_a": self.r(rank, c), "lokr_w2_b": self.r(rank, d), "alpha": torch.tensor(float(rank))}

    def locon(self, shape: tuple[int, ...], rank: int = 4) -> Tensors:
        if len(shape) == 4:
            return {"lora_down.weight": self.r(rank, shape[1], shape[2], shape[3], scale=0.2),
                    "lora_up.weight": self.r(shape[0], rank, 1, 1, scale=0.2), "alpha": torch.tensor(float(rank))}
        return {"lora_down.weight": self.r(rank, shape[1]), "lora_up.weight": self.r(shape[0], rank), "alpha": torch.tensor(float(rank))}

    def dora(self, shape: tuple[int, ...], rank: int = 4) -> Tensors:
        t = self.locon(shape, rank)
        # LyCORIS/kohya DoRA magnitude: one per input column ([1, in]), learned around the weight's own norms.
        t["dora_scale"] = (self.r(1, shape[1], scale=0.3) + 1.5)
        return t

    def oft(self, shape: tuple[int, ...], block: int = 8) -> Tensors:
        return {"oft_blocks": self.r(shape[0] // block, block, block, scale=0.3), "alpha": torch.tensor(0.0)}

    def boft(self, shape: tuple[int, ...], block: int = 4, stages: int = 2) -> Tensors:
        return {"oft_blocks": self.r(stages, shape[0] // block, block, block, scale=0.3), "alpha": torch.tensor(0.0)}

    def ia3(self, shape: tuple[int, ...], on_input: bool = False) -> Tensors:
        return {"weight": self.r(shape[1] if on_input else shape[0], scale=1.0), "on_input": torch.tensor(on_input)}

    def full(self, shape: tuple[int, ...]) -> Tensors:
        return {"diff": self.r(*shape, scale=0.1)}


def _save(path: Path, modules: dict[str, Tensors], meta: dict[str, str]) -> str:
    from safetensors.torch import save_file

    state = {f"{key}.{suffix}": t.contiguous() for key, ts in modules.items() for suffix, t in ts.items()}
    save_file(state, str(path), metadata=meta)
    return path.name


def _kohya(prefix: str, name: str) -> str:
    return prefix + name.replace(".", "_")


def write_sd(pipe: Any, out: Path, sd_version: str = "sd_v1") -> list[str]:
    """Every format over the tiny SD1 (or SD2) UNet attention, its resnet convs and the text encoder's attention."""
    w = Writer(11)
    unet_lin, unet_conv, te_lin = _attn_linears(pipe.unet), _convs(pipe.unet), _attn_linears(pipe.text_encoder)
    meta = {"ss_base_model_version": sd_version, "ss_network_module": "lycoris.kohya"}
    written: list[str] = []

    def make(fname: str, algo: str, lin: Callable[[tuple[int, ...]], Tensors] | None,
             conv: Callable[[tuple[int, ...]], Tensors] | None = None, te: bool = True) -> None:
        mods: dict[str, Tensors] = {}
        if lin is not None:
            for n, m in unet_lin:
                mods[_kohya("lora_unet_", n)] = lin(tuple(m.weight.shape))
            if te:
                for n, m in te_lin:
                    mods[_kohya("lora_te_", n)] = lin(tuple(m.weight.shape))
        if conv is not None:
            for n, m in unet_conv:
                mods[_kohya("lora_unet_", n)] = conv(tuple(m.weight.shape))
        written.append(_save(out / fname, mods, {**meta, "ss_network_args": json.dumps({"algo": algo})}))

    make("loha.safetensors", "loha", w.loha)
    make("loha-cp.safetensors", "loha", None, w.loha_cp)
    make("lokr.safetensors", "lokr", w.lokr)
    make("lokr-full.safetensors", "lokr", w.lokr_full, te=False)
    make("lokr-cp.safetensors", "lokr", None, w.lokr_cp)
    make("locon.safetensors", "locon", w.locon, w.locon)
    make("dora.safetensors", "lora", w.dora, te=False)
    make("oft.safetensors", "diag-oft", w.oft, te=False)
    make("boft.safetensors", "boft", w.boft, te=False)
    make("ia3.safetensors", "ia3", lambda s: w.ia3(s, on_input=False), te=False)
    make("full.safetensors", "full", w.full, te=False)
    return written


def _sgm_name(name: str, layers_per_block: int) -> str:
    """diffusers UNet attention names in SGM terms (`down_blocks.1.attentions.0.` -> `input_blocks.3.1.`)."""
    import re

    L = layers_per_block
    m = re.match(r"down_blocks\.(\d+)\.attentions\.(\d+)\.(.*)$", name)
    if m:
        return f"input_blocks.{1 + int(m.group(1)) * (L + 1) + int(m.group(2))}.1.{m.group(3)}"
    m = re.match(r"up_blocks\.(\d+)\.attentions\.(\d+)\.(.*)$", name)
    if m:
        return f"output_blocks.{int(m.group(1)) * (L + 1) + int(m.group(2))}.1.{m.group(3)}"
    m = re.match(r"mid_block\.attentions\.0\.(.*)$", name)
    if m:
        return f"middle_block.1.{m.group(1)}"
    return name


def write_sdxl(pipe: Any, out: Path) -> list[str]:
    """A LoHa over the tiny SDXL UNet (SGM block names, as kohya's SDXL trainer writes them) and both text encoders."""
    w = Writer(12)
    mods: dict[str, Tensors] = {}
    lpb = pipe.unet.config.layers_per_block
    for n, m in _attn_linears(pipe.unet):
        mods[_kohya("lora_unet_", _sgm_name(n, lpb))] = w.loha(tuple(m.weight.shape))
    for prefix, te in (("lora_te1_", pipe.text_encoder), ("lora_te2_", pipe.text_encoder_2)):
        for n, m in _attn_linears(te):
            mods[_kohya(prefix, n)] = w.loha(tuple(m.weight.shape))
    meta = {"ss_base_model_version": "sdxl_base_v1-0", "ss_network_module": "lycoris.kohya", "ss_network_args": json.dumps({"algo": "loha"})}
    return [_save(out / "sdxl-loha.safetensors", mods, meta)]


def write_flux(pipe: Any, out: Path) -> list[str]:
    """A LoKr in kohya's FLUX layout (BFL names: fused qkv / linear1 weights) and a DoRA in OneTrainer's
    (`lora_transformer_…` + `dora_scale`)."""
    w = Writer(13)
    tr = pipe.transformer
    d = tr.config.num_attention_heads * tr.config.attention_head_dim
    mlp = tr.single_transformer_blocks[0].proj_mlp.out_features
    lokr: dict[str, Tensors] = {}
    for i in range(len(tr.transformer_blocks)):
        for name, shape in (("img_attn_qkv", (3 * d, d)), ("txt_attn_qkv", (3 * d, d)), ("img_attn_proj", (d, d)),
                            ("img_mlp_0", (4 * d, d)), ("txt_mlp_2", (d, 4 * d))):
            lokr[f"lora_unet_double_blocks_{i}_{name}"] = w.lokr(shape)
    for i in range(len(tr.single_transformer_blocks)):
        lokr[f"lora_unet_single_blocks_{i}_linear1"] = w.lokr((3 * d + mlp, d))
        lokr[f"lora_unet_single_blocks_{i}_linear2"] = w.lokr((d, d + mlp))
    meta = {"ss_base_model_version": "flux1", "ss_network_module": "lycoris.kohya", "ss_network_args": json.dumps({"algo": "lokr"})}
    files = [_save(out / "flux-lokr.safetensors", lokr, meta)]
    dora: dict[str, Tensors] = {}
    for n, m in _attn_linears(tr):
        dora[_kohya("lora_transformer_", n)] = w.dora(tuple(m.weight.shape))
    files.append(_save(out / "flux-dora.safetensors", dora, {"ss_base_model_version": "flux1", "ss_network_module": "networks.lora_flux"}))
    return files


def write_for(base: Path, out: Path) -> list[str]:
    import diffusers

    index = json.loads((base / "model_index.json").read_text(encoding="utf-8"))
    pipe = getattr(diffusers, index["_class_name"]).from_pretrained(str(base), dtype=torch.float32, local_files_only=True)
    out.mkdir(parents=True, exist_ok=True)
    if getattr(pipe, "transformer", None) is not None:
        return write_flux(pipe, out)
    if getattr(pipe, "text_encoder_2", None) is not None:
        return write_sdxl(pipe, out)
    return write_sd(pipe, out)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m mgen_runtime.tiny_lycoris BASE OUT_FOLDER  (BASE: tiny-sd, tiny-sdxl, tiny-flux or its folder)", file=sys.stderr)
        return 2
    base, out = Path(argv[0]), Path(argv[1])
    if not base.is_dir() and argv[0] in ("tiny-sd", "tiny-sdxl", "tiny-flux"):
        import tempfile

        from .tiny import build

        with tempfile.TemporaryDirectory() as tmp:
            build(argv[0], Path(tmp) / argv[0])
            print(json.dumps(write_for(Path(tmp) / argv[0], out)))
        return 0
    print(json.dumps(write_for(base, out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
