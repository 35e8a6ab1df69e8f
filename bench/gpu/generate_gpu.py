"""GPU benchmark for a lent H100/H200 (no network there): denoising it/s of random-weight SD1.5 (512x512) and
SDXL (1024x1024), fp16, 30 steps, through the mgen worker (JSON lines, the same process `mgen generate` drives)
vs a plain diffusers script in the same run, plus the worker's `compile` plan flag after a warm-up image.

Models are built from their published configs in code with random weights (no download), saved as diffusers
folders under a work dir, then loaded by both sides the same way. Prints a table and one JSON line.

  python bench/gpu/generate_gpu.py [--work /tmp/mgen-gpu] [--models sd15,sdxl] [--compile sd15] [--steps 30]
  python bench/gpu/generate_gpu.py --smoke        # CPU, tiny sizes: checks the script itself, numbers meaningless
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "python-runtime"
sys.path.insert(0, str(RUNTIME))


def build_pipeline(kind: str, folder: Path, smoke: bool, device: str) -> None:
    """Random-weight pipeline at the real architecture (or a toy one with --smoke), saved in fp16."""
    import torch
    from diffusers import (AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, StableDiffusionXLPipeline,
                           UNet2DConditionModel)
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    from mgen_runtime.tiny import write_clip_tokenizer

    if (folder / "model_index.json").exists():
        return
    torch.manual_seed(0)
    write_clip_tokenizer(folder / ".tok")
    tok = CLIPTokenizer(vocab=str(folder / ".tok" / "vocab.json"), merges=str(folder / ".tok" / "merges.txt"), model_max_length=77)
    vocab = len(tok.get_vocab())
    small = dict(block_out_channels=(32, 64), layers_per_block=1, norm_num_groups=32)

    def text(hidden: int, layers: int, heads: int, inter: int, proj: int | None = None):
        cfg = CLIPTextConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                             intermediate_size=inter, max_position_embeddings=77, projection_dim=proj or hidden,
                             hidden_act="quick_gelu" if proj is None else "gelu")
        return (CLIPTextModelWithProjection if proj else CLIPTextModel)(cfg)

    vae_cfg = dict(in_channels=3, out_channels=3, latent_channels=4,
                   down_block_types=("DownEncoderBlock2D",) * (2 if smoke else 4), up_block_types=("UpDecoderBlock2D",) * (2 if smoke else 4),
                   block_out_channels=(32, 64) if smoke else (128, 256, 512, 512), layers_per_block=1 if smoke else 2,
                   norm_num_groups=32, sample_size=64 if smoke else (512 if kind == "sd15" else 1024))
    sched = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1, timestep_spacing="leading")
    with torch.device(device):
        if kind == "sd15":
            te_w = 32 if smoke else 768
            unet = UNet2DConditionModel(
                sample_size=64, cross_attention_dim=te_w, attention_head_dim=2 if smoke else 8,
                down_block_types=("CrossAttnDownBlock2D", "DownBlock2D") if smoke else ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D") if smoke else ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
                **(small if smoke else dict(block_out_channels=(320, 640, 1280, 1280), layers_per_block=2)))
            te = text(te_w, 2 if smoke else 12, 2 if smoke else 12, 64 if smoke else 3072)
            pipe = StableDiffusionPipeline(vae=AutoencoderKL(**vae_cfg), text_encoder=te, tokenizer=tok, unet=unet, scheduler=sched,
                                           safety_checker=None, feature_extractor=None, requires_safety_checker=False)
        else:
            w1, w2 = (32, 32) if smoke else (768, 1280)
            unet = UNet2DConditionModel(
                sample_size=32 if smoke else 128, cross_attention_dim=w1 + w2, use_linear_projection=True,
                addition_embed_type="text_time", addition_time_embed_dim=8 if smoke else 256,
                projection_class_embeddings_input_dim=(8 if smoke else 256) * 6 + w2,
                attention_head_dim=(2, 4) if smoke else (5, 10, 20),
                transformer_layers_per_block=(1, 2) if smoke else (1, 2, 10),
                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D") if smoke else ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D") if smoke else ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
                **(small if smoke else dict(block_out_channels=(320, 640, 1280), layers_per_block=2)))
            te1 = text(w1, 2 if smoke else 12, 2 if smoke else 12, 64 if smoke else 3072)
            te2 = text(w2, 2 if smoke else 32, 2 if smoke else 20, 64 if smoke else 5120, proj=w2)
            pipe = StableDiffusionXLPipeline(vae=AutoencoderKL(**vae_cfg), text_encoder=te1, text_encoder_2=te2, tokenizer=tok,
                                             tokenizer_2=tok, unet=unet, scheduler=sched)
    pipe.to(torch.float16)
    pipe.save_pretrained(folder, safe_serialization=True)
    import shutil

    shutil.rmtree(folder / ".tok", ignore_errors=True)


def plain_diffusers(kind: str, folder: Path, size: int, steps: int, device: str, dtype: str) -> dict:
    """What a user would write: load with diffusers, one warm-up image, then one timed image."""
    import torch
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    cls = StableDiffusionPipeline if kind == "sd15" else StableDiffusionXLPipeline
    t0 = time.perf_counter()
    pipe = cls.from_pretrained(folder, torch_dtype=getattr(torch, dtype)).to(device)
    pipe.set_progress_bar_config(disable=True)
    load = time.perf_counter() - t0
    stamps: list[float] = []

    def cb(p, i, t, kw):
        if device == "cuda":
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())
        return kw

    args = dict(prompt="a red cube", width=size, height=size, guidance_scale=7.0)
    pipe(**args, num_inference_steps=3, generator=torch.Generator("cpu").manual_seed(0))  # warm-up
    t1 = time.perf_counter()
    pipe(**args, num_inference_steps=steps, generator=torch.Generator("cpu").manual_seed(1), callback_on_step_end=cb)
    total = time.perf_counter() - t1
    del pipe
    if device == "cuda":
        torch.cuda.empty_cache()
    return {"load_s": load, "image_s": total, "it_s": (len(stamps) - 1) / (stamps[-1] - stamps[0])}


class Worker:
    """Drives `python -u -m mgen_runtime.worker` over JSON lines, as the CLI does."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(RUNTIME) + os.pathsep + os.environ.get("PYTHONPATH", ""), "PYTHONUNBUFFERED": "1"}
        self.p = subprocess.Popen([sys.executable, "-u", "-m", "mgen_runtime.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  env=env, text=True, bufsize=1)
        assert json.loads(self.p.stdout.readline())["event"] == "ready"
        self.n = 0

    def call(self, verb: str, **params) -> tuple[dict, list[float]]:
        self.n += 1
        rid = f"b{self.n}"
        self.p.stdin.write(json.dumps({"id": rid, "verb": verb, **params}) + "\n")
        self.p.stdin.flush()
        stamps: list[float] = []
        while True:
            msg = json.loads(self.p.stdout.readline())
            if msg.get("event") == "progress":
                stamps.append(time.perf_counter())
                continue
            if msg.get("id") == rid:
                if not msg["ok"]:
                    raise RuntimeError(f"{verb}: {msg['error']}")
                return msg["result"], stamps

    def close(self) -> None:
        try:
            self.call("shutdown")
        except Exception:  # noqa: BLE001
            pass
        self.p.wait(timeout=60)


def via_worker(kind: str, folder: Path, size: int, steps: int, device: str, dtype: str, compile_: bool, out: Path) -> dict:
    w = Worker()
    try:
        w.call("hello")
        plan = {"strategy": "diffusers-folder", "path": str(folder), "pipeline": "StableDiffusionPipeline" if kind == "sd15" else "StableDiffusionXLPipeline",
                "task": "text-to-image", "dtype": dtype, "device": device, "offload": "none", "compile": compile_}
        t0 = time.perf_counter()
        w.call("load", plan=plan)
        load = time.perf_counter() - t0
        req = {"prompt": "a red cube", "width": size, "height": size, "guidance_scale": 7.0, "out_dir": str(out), "file_stem": f"{kind}-w"}
        t1 = time.perf_counter()
        w.call("generate", request={**req, "steps": 3, "seed": 0})  # warm-up (compiles when compile is on)
        warm = time.perf_counter() - t1
        t2 = time.perf_counter()
        res, stamps = w.call("generate", request={**req, "steps": steps, "seed": 1})
        total = time.perf_counter() - t2
        return {"load_s": load, "warmup_s": warm, "image_s": total, "denoise_s": res["timings"]["denoise_s"],
                "it_s": (len(stamps) - 1) / (stamps[-1] - stamps[0])}
    finally:
        w.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/tmp/mgen-gpu")
    ap.add_argument("--models", default="sd15,sdxl")
    ap.add_argument("--compile", default="sd15", help="models to also run with the compile plan flag ('' for none)")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--smoke", action="store_true", help="CPU, toy sizes: checks the script only")
    a = ap.parse_args()
    import torch

    device = "cpu" if a.smoke else "cuda"
    dtype = "float32" if a.smoke else "float16"
    work = Path(a.work)
    out = work / "out"
    out.mkdir(parents=True, exist_ok=True)
    info = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu"}
    import diffusers

    info["diffusers"] = diffusers.__version__
    rows = []
    for kind in [m for m in a.models.split(",") if m]:
        size = 64 if a.smoke else (512 if kind == "sd15" else 1024)
        steps = 4 if a.smoke else a.steps
        folder = work / kind
        t = time.perf_counter()
        build_pipeline(kind, folder, a.smoke, device)
        print(f"[{kind}] built in {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)
        plain = plain_diffusers(kind, folder, size, steps, device, dtype)
        print(f"[{kind}] plain diffusers: {plain}", file=sys.stderr, flush=True)
        worker = via_worker(kind, folder, size, steps, device, dtype, False, out)
        print(f"[{kind}] mgen worker: {worker}", file=sys.stderr, flush=True)
        row = {"model": kind, "size": size, "steps": steps, "plain": plain, "worker": worker, "ratio_it_s": worker["it_s"] / plain["it_s"]}
        if kind in a.compile.split(","):
            comp = via_worker(kind, folder, size, steps, device, dtype, True, out)
            print(f"[{kind}] mgen worker + compile: {comp}", file=sys.stderr, flush=True)
            row["compiled"] = comp
            row["compile_speedup"] = comp["it_s"] / worker["it_s"]
        rows.append(row)
    print(f"generate (GPU): {info['device']}, torch {info['torch']}, diffusers {info['diffusers']}, {dtype}, random weights")
    print(f"{'model':6} {'size':>5} {'steps':>5} {'diffusers it/s':>15} {'mgen it/s':>10} {'ratio':>6} {'compiled it/s':>14} {'speedup':>8} {'warm-up (compile)':>18}")
    for r in rows:
        c = r.get("compiled")
        print(f"{r['model']:6} {r['size']:>5} {r['steps']:>5} {r['plain']['it_s']:>15.2f} {r['worker']['it_s']:>10.2f} {r['ratio_it_s']:>6.3f} "
              f"{(c['it_s'] if c else float('nan')):>14.2f} {r.get('compile_speedup', float('nan')):>8.3f} {(c['warmup_s'] if c else float('nan')):>17.1f}s")
    print(json.dumps({"info": info, "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
