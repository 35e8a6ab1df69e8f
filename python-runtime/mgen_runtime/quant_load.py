"""`--quantize` at load time and the memory plan's placement (`--memory`), decided by the CLI (memory-plan.ts).

--quantize (the denoiser only: it holds most of the weights and all of the per-step work)
  CUDA  nf4 / int8: bitsandbytes Linear4bit / Linear8bitLt in place of each nn.Linear; fp8: fp8 storage with
        diffusers' layer-wise casting.
  CPU   int8 / fp8: torchao weight-only configs (Int8WeightOnlyConfig, Float8WeightOnlyConfig), which run on torch
        2.13 CPU (optimum-quanto, the other maintained candidate, was measured slower and is archived); nf4 has no CPU
        backend, which the CLI says before loading (exit 2).
Memory plans: gpu (everything on the device), fp8-cast (fp8 storage, layer-wise casting), model (model CPU offload),
group (diffusers' group offloading, leaf level, with CUDA streams), sequential (sequential CPU offload).
"""

from __future__ import annotations

import os
from typing import Any

from .protocol import WorkerError

QUANTIZE = ("none", "nf4", "int8", "fp8")
MEMORY = ("gpu", "fp8-cast", "model", "group", "sequential")


def denoiser(pipe: Any) -> tuple[str, Any] | tuple[None, None]:
    for name in ("transformer", "unet", "prior", "decoder"):
        model = getattr(pipe, name, None)
        if model is not None:
            return name, model
    return None, None


def simulate_oom(where: str) -> None:
    """MGEN_TEST_OOM=load|generate raises torch's out-of-memory error there (tests of the OOM answer on CPU)."""
    if os.environ.get("MGEN_TEST_OOM") == where:
        import torch

        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated by MGEN_TEST_OOM)")


def with_next_plan(err: WorkerError, plan: dict[str, Any]) -> WorkerError:
    """An out-of-memory answer ends with the next plan to try (the CLI's `memory_next`), when there is one."""
    nxt = plan.get("memory_next")
    if err.type != "out_of_memory" or not nxt:
        return err
    return WorkerError(err.type, f"{err.message} (memory plan {plan.get('memory') or plan.get('offload')}); try {nxt}", err.detail)


def _linear_names(model: Any) -> list[str]:
    import torch

    return [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]


def _bnb_replace(model: Any, mode: str, dtype: Any) -> None:
    import bitsandbytes as bnb
    import torch

    for name in _linear_names(model):
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        old = getattr(parent, child)
        bias = old.bias is not None
        if mode == "nf4":
            new = bnb.nn.Linear4bit(old.in_features, old.out_features, bias=bias, compute_dtype=dtype, quant_type="nf4")
            new.weight = bnb.nn.Params4bit(old.weight.data.to(dtype), requires_grad=False, quant_type="nf4")
        else:
            new = bnb.nn.Linear8bitLt(old.in_features, old.out_features, bias=bias, has_fp16_weights=False)
            new.weight = bnb.nn.Int8Params(old.weight.data.to(torch.float16), requires_grad=False, has_fp16_weights=False)
        if bias:
            new.bias = torch.nn.Parameter(old.bias.data.to(dtype), requires_grad=False)
        setattr(parent, child, new)


def quantize(pipe: Any, mode: str, device: str, dtype: Any) -> str | None:
    """Quantizes the denoiser in place; returns the note for the plan (None for `none`)."""
    if mode == "none":
        return None
    name, model = denoiser(pipe)
    if model is None:
        raise WorkerError("bad_request", "--quantize: this pipeline has no transformer or UNet to quantize")
    dtype_name = str(dtype).replace("torch.", "")
    if device == "cuda" and mode in ("nf4", "int8"):
        try:
            _bnb_replace(model, mode, dtype)
        except ImportError as exc:
            raise WorkerError("bad_request", f"--quantize {mode} on CUDA needs bitsandbytes, which this runtime lacks (install the cuda profile)") from exc
        return f"{name} quantized to {mode} by bitsandbytes at load (compute in {dtype_name})"
    if device == "cuda" and mode == "fp8":
        import torch

        model.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=dtype)
        return f"{name} stored in float8_e4m3fn with layer-wise casting to {dtype_name}"
    if mode == "nf4":
        raise WorkerError("bad_request", f"--quantize nf4 needs bitsandbytes on a CUDA GPU; this worker runs on {device} (try --quantize int8)")
    from .aside import enable as enable_aside

    enable_aside()  # torchao is kept off sys.path until a load asks for it (aside.py)
    try:
        from torchao.quantization import Float8WeightOnlyConfig, Int8WeightOnlyConfig, quantize_
    except ImportError as exc:
        raise WorkerError("bad_request", f"--quantize {mode} on {device} needs torchao, which this runtime lacks") from exc
    quantize_(model, Int8WeightOnlyConfig() if mode == "int8" else Float8WeightOnlyConfig())
    return f"{name} quantized to {mode} weight-only by torchao at load (compute in {dtype_name})"


def place(pipe: Any, plan: dict[str, Any], device: str, dtype: Any) -> str:
    """Puts the pipeline on the device by the memory plan; returns the plan that applies ('cpu' on CPU)."""
    memory = plan.get("memory") or {"none": "gpu", "model": "model", "sequential": "sequential"}[plan["offload"]]
    vae = getattr(pipe, "vae", None)
    if plan.get("vae_tiling") and vae is not None and hasattr(vae, "enable_tiling"):
        vae.enable_tiling()
    if plan.get("vae_slicing") and vae is not None and hasattr(vae, "enable_slicing"):
        vae.enable_slicing()
    if device == "cpu":
        pipe.to(device)
        return "cpu"  # offloading moves weights to an accelerator per step; on CPU there is nothing to do
    if memory == "model":
        pipe.enable_model_cpu_offload(device=device)
    elif memory == "sequential":
        pipe.enable_sequential_cpu_offload(device=device)
    elif memory == "group":
        import torch

        pipe.enable_group_offload(onload_device=torch.device(device), offload_device=torch.device("cpu"),
                                  offload_type="leaf_level", use_stream=device == "cuda")
    else:
        if memory == "fp8-cast":
            import torch

            _, model = denoiser(pipe)
            if model is not None:
                model.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=dtype)
        pipe.to(device)
    return memory
