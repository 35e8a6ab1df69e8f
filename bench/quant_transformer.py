"""One measurement for bench/quant.mjs: a small random FLUX transformer (FLUX.1's structure, narrower) loaded
either from its 16-bit safetensors folder or from a GGUF file of it (through mgen's loader, quant_files.py), then
`steps` forward passes at a 256x256-image token count on CPU. Prints one JSON line: load and per-step seconds, peak
RSS. Run each variant in its own process (peak RSS is per process).

  python bench/quant_transformer.py make OUT_DIR            (writes OUT_DIR/transformer/ and OUT_DIR/q8_0.gguf)
  python bench/quant_transformer.py run bf16|gguf OUT_DIR STEPS
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python-runtime"))
CONFIG = dict(in_channels=64, num_layers=2, num_single_layers=4, attention_head_dim=64, num_attention_heads=4,
              joint_attention_dim=512, pooled_projection_dim=256, axes_dims_rope=[8, 28, 28])


def make(out: Path) -> None:
    from diffusers import FluxTransformer2DModel

    from mgen_runtime import quant_tiny

    torch.manual_seed(0)
    model = FluxTransformer2DModel(**CONFIG).to(torch.bfloat16)
    model.save_pretrained(out / "transformer", safe_serialization=True)
    quant_tiny.write_gguf(quant_tiny.original_state(out / "transformer"), out / "q8_0.gguf", "Q8_0")


def run(kind: str, out: Path, steps: int) -> None:
    from diffusers import FluxTransformer2DModel

    t0 = time.perf_counter()
    if kind == "bf16":
        model = FluxTransformer2DModel.from_pretrained(out / "transformer", torch_dtype=torch.float32)
    else:
        from mgen_runtime.quant_files import load_denoiser

        model, _ = load_denoiser(FluxTransformer2DModel, out / "q8_0.gguf", "gguf", "cpu", torch.float32,
                                 {"config": str(out / "transformer"), "local_files_only": True})
    load = time.perf_counter() - t0
    g = torch.Generator().manual_seed(0)
    tokens = (256 // 16) ** 2  # 256x256 image: 32x32 latents packed 2x2
    hidden = torch.randn(1, tokens, 64, generator=g)
    text = torch.randn(1, 64, CONFIG["joint_attention_dim"], generator=g)
    pooled = torch.randn(1, CONFIG["pooled_projection_dim"], generator=g)
    img_ids = torch.zeros(tokens, 3)
    txt_ids = torch.zeros(64, 3)
    with torch.inference_mode():
        model(hidden_states=hidden, encoder_hidden_states=text, pooled_projections=pooled, timestep=torch.tensor([0.5]),
              img_ids=img_ids, txt_ids=txt_ids)  # warm-up
        t1 = time.perf_counter()
        for _ in range(steps):
            model(hidden_states=hidden, encoder_hidden_states=text, pooled_projections=pooled, timestep=torch.tensor([0.5]),
                  img_ids=img_ids, txt_ids=txt_ids)
        per_step = (time.perf_counter() - t1) / steps
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"kind": kind, "load_s": load, "step_s": per_step, "peak_rss_bytes": rss}))


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(Path(sys.argv[2]))
    else:
        run(sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]))
