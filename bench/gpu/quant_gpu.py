"""GPU benchmark (issue 11): a FLUX.1-dev-sized transformer with random weights (FluxTransformer2DModel's default
config: 19 double + 38 single blocks, width 3072, guidance embeds, 11.9B parameters) at 1024x1024 (4096 image
tokens, 512 T5 tokens), as bf16, GGUF Q4_K and NF4: seconds per image (N denoising steps) and peak VRAM, each
loaded by mgen's loaders (mgen_runtime.quant_files / quant_load) and by plain diffusers' documented API
(from_single_file + GGUFQuantizationConfig; BitsAndBytesConfig), one variant per process.

  python bench/gpu/quant_gpu.py make DIR               writes DIR/transformer (bf16), DIR/q4_k.gguf, DIR/nf4.safetensors
  python bench/gpu/quant_gpu.py run DIR VARIANT STEPS  VARIANT: bf16-mgen bf16-plain gguf-mgen gguf-plain nf4-mgen nf4-plain
  python bench/gpu/quant_gpu.py all DIR [STEPS=28]     make (if needed) + every variant in a subprocess, a table

Needs CUDA, ~90 GB of host RAM for `make` (the random weights are written once), diffusers 0.42, gguf and
bitsandbytes (the cuda profile's pins).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python-runtime"))
STEPS = 28
TOKENS, TEXT = (1024 // 16) ** 2, 512


def make(d: Path) -> None:
    from diffusers import FluxTransformer2DModel

    from mgen_runtime import quant_tiny

    d.mkdir(parents=True, exist_ok=True)
    if not (d / "transformer").is_dir():
        torch.manual_seed(0)
        with torch.device("cpu"):
            model = FluxTransformer2DModel(guidance_embeds=True).to(torch.bfloat16)
        model.save_pretrained(d / "transformer", safe_serialization=True, max_shard_size="10GB")
        del model
    state = None
    if not (d / "q4_k.gguf").exists():
        state = quant_tiny.original_state(d / "transformer")
        quant_tiny.write_gguf(state, d / "q4_k.gguf", "Q4_K")
    if not (d / "nf4.safetensors").exists():
        state = state or quant_tiny.original_state(d / "transformer")
        quant_tiny.write_bnb4(state, d / "nf4.safetensors", "nf4")


def load(variant: str, d: Path):
    from diffusers import BitsAndBytesConfig, FluxTransformer2DModel, GGUFQuantizationConfig

    kind, who = variant.split("-")
    cfg = {"config": str(d / "transformer"), "local_files_only": True}
    if kind == "bf16":
        return FluxTransformer2DModel.from_pretrained(d / "transformer", torch_dtype=torch.bfloat16).to("cuda")
    if who == "mgen":
        from mgen_runtime.quant_files import load_denoiser

        path = d / ("q4_k.gguf" if kind == "gguf" else "nf4.safetensors")
        model, note = load_denoiser(FluxTransformer2DModel, path, "gguf" if kind == "gguf" else "bnb-nf4", "cuda", torch.bfloat16,
                                    {**cfg, "dtype": torch.bfloat16})
        print(note, file=sys.stderr)
        return model.to("cuda") if kind == "gguf" else model
    if kind == "gguf":
        return FluxTransformer2DModel.from_single_file(str(d / "q4_k.gguf"), quantization_config=GGUFQuantizationConfig(compute_dtype=torch.bfloat16),
                                                       torch_dtype=torch.bfloat16, **cfg).to("cuda")
    # Plain diffusers has no loader for Forge's NF4 files: what a user does instead is quantize the bf16 weights on load.
    q = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16)
    return FluxTransformer2DModel.from_pretrained(d / "transformer", quantization_config=q, torch_dtype=torch.bfloat16)


def run(variant: str, d: Path, steps: int) -> dict:
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    model = load(variant, d)
    torch.cuda.synchronize()
    load_s = time.perf_counter() - t0
    g = torch.Generator("cuda").manual_seed(0)
    args = dict(hidden_states=torch.randn(1, TOKENS, 64, generator=g, device="cuda", dtype=torch.bfloat16),
                encoder_hidden_states=torch.randn(1, TEXT, 4096, generator=g, device="cuda", dtype=torch.bfloat16),
                pooled_projections=torch.randn(1, 768, generator=g, device="cuda", dtype=torch.bfloat16),
                img_ids=torch.zeros(TOKENS, 3, device="cuda"), txt_ids=torch.zeros(TEXT, 3, device="cuda"),
                guidance=torch.full((1,), 3.5, device="cuda"))
    with torch.inference_mode():
        model(timestep=torch.tensor([1.0], device="cuda"), **args)  # warm-up (kernels, allocator)
        torch.cuda.synchronize()
        t1 = time.perf_counter()
        for i in range(steps):
            model(timestep=torch.tensor([1.0 - i / steps], device="cuda"), **args)
        torch.cuda.synchronize()
    return {"variant": variant, "load_s": load_s, "s_per_image": time.perf_counter() - t1, "steps": steps,
            "peak_vram_bytes": torch.cuda.max_memory_allocated()}


def main() -> None:
    what, d = sys.argv[1], Path(sys.argv[2] if len(sys.argv) > 2 else "/tmp/mgen-flux-random")
    if what == "make":
        make(d)
    elif what == "run":
        print(json.dumps(run(sys.argv[3], d, int(sys.argv[4]) if len(sys.argv) > 4 else STEPS)))
    else:
        steps = int(sys.argv[3]) if len(sys.argv) > 3 else STEPS
        make(d)
        rows = []
        for v in ("bf16-plain", "bf16-mgen", "gguf-plain", "gguf-mgen", "nf4-plain", "nf4-mgen"):
            r = subprocess.run([sys.executable, __file__, "run", str(d), v, str(steps)], capture_output=True, text=True)
            rows.append(json.loads(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 else {"variant": v, "error": r.stderr[-300:]})
        print(f"{'variant':12} {'load s':>8} {'s/image':>8} {'peak VRAM GiB':>14}")
        for r in rows:
            if "error" in r:
                print(f"{r['variant']:12} failed: {r['error']}")
            else:
                print(f"{r['variant']:12} {r['load_s']:8.1f} {r['s_per_image']:8.2f} {r['peak_vram_bytes'] / 2**30:14.2f}")
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
