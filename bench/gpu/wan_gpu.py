"""GPU benchmark (a lent H100/H200, no network there): Wan 2.1 T2V 1.3B-sized random weights, 832x480, 33 frames,
bf16, through `mgen generate` (whole process and the worker's own denoise/decode/encode) vs a plain diffusers
script writing the same MP4 (bench/video_baseline.py), in the same run: seconds per video and peak VRAM
(nvidia-smi polled for mgen's worker, torch.cuda.max_memory_reserved for the script).

The transformer has the published 1.3B config (30 layers, 12 heads x 128, ffn 8960, text_dim 4096) and the VAE
AutoencoderKLWan's defaults; the UMT5 text encoder is cut to 2 layers (its width, 4096, kept): the 5B encoder runs
once per video and would only add load time. Built from code, saved as a diffusers folder under --work.

  python bench/gpu/wan_gpu.py [--work /tmp/mgen-wan] [--steps 20] [--runs 2]
  python bench/gpu/wan_gpu.py --smoke     # CPU, toy sizes: checks the script itself, numbers meaningless
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python-runtime"))


def build(folder: Path, smoke: bool) -> None:
    import torch
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanPipeline, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    from mgen_runtime.tiny import _t5_tokenizer

    if (folder / "model_index.json").exists():
        return
    torch.manual_seed(0)
    if smoke:
        transformer = WanTransformer3DModel(num_attention_heads=2, attention_head_dim=12, in_channels=16, out_channels=16,
                                            text_dim=4096, ffn_dim=32, num_layers=1, rope_max_seq_len=32)
        vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True])
    else:
        transformer = WanTransformer3DModel(num_attention_heads=12, attention_head_dim=128, in_channels=16, out_channels=16,
                                            text_dim=4096, freq_dim=256, ffn_dim=8960, num_layers=30, cross_attn_norm=True,
                                            qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024)
        vae = AutoencoderKLWan()
    tok = _t5_tokenizer()
    te = UMT5EncoderModel(UMT5Config(vocab_size=len(tok.get_vocab()), d_model=4096, d_kv=64, d_ff=10240, num_layers=2,
                                     num_heads=64, relative_attention_num_buckets=32)).eval()
    pipe = WanPipeline(transformer=transformer, vae=vae, text_encoder=te, tokenizer=tok, scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0))
    pipe.to(torch.bfloat16 if not smoke else torch.float32).save_pretrained(folder, safe_serialization=True)


class PeakVram:
    """Highest `memory.used` nvidia-smi reports while a block runs (MiB), polled every 0.2 s."""

    def __enter__(self):
        self.peak, self.stop = 0, threading.Event()
        self.t = threading.Thread(target=self._poll, daemon=True)
        self.t.start()
        return self

    def _poll(self):
        while not self.stop.is_set():
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"], capture_output=True, text=True).stdout
                self.peak = max(self.peak, int(out.split()[0]))
            except (OSError, ValueError, IndexError):
                pass
            self.stop.wait(0.2)

    def __exit__(self, *exc):
        self.stop.set()
        self.t.join()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/tmp/mgen-wan")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--smoke", action="store_true")
    a = ap.parse_args()
    w, h, frames = (64, 64, 9) if a.smoke else (832, 480, 33)
    work = Path(a.work)
    folder = work / ("wan-toy" if a.smoke else "wan-1.3b-random")
    t = time.perf_counter()
    build(folder, a.smoke)
    print(f"model ready in {time.perf_counter() - t:.1f} s: {folder}", file=sys.stderr)
    env = {**os.environ, "MGEN_PYTHON": sys.executable, "NO_COLOR": "1"}
    rows = []
    for i in range(a.runs):
        with PeakVram() as vm:
            t = time.perf_counter()
            r = subprocess.run([str(ROOT / "bin" / "mgen"), "generate", str(folder), "--prompt", "a red cube", "--width", str(w), "--height", str(h),
                                "--frames", str(frames), "--steps", str(a.steps), "--seed", "1", "--out", str(work / f"mgen-{i}.mp4"),
                                "--json", "--no-reuse"], env=env, capture_output=True, text=True)
            mg_wall = time.perf_counter() - t
        if r.returncode != 0:
            print(r.stderr[-3000:], file=sys.stderr)
            return 1
        mg = json.loads(r.stdout)["timings"]
        t = time.perf_counter()
        b = subprocess.run([sys.executable, str(ROOT / "bench" / "video_baseline.py"), str(folder), str(work / f"py-{i}.mp4"), str(w), str(h),
                            str(frames), str(a.steps), "16", "1"], env={**env, "MGEN_BENCH_CUDA": "1"}, capture_output=True, text=True)
        py_wall = time.perf_counter() - t
        if b.returncode != 0:
            print(b.stderr[-3000:], file=sys.stderr)
            return 1
        py = json.loads(b.stdout.strip().splitlines()[-1])
        rows.append({"mgen_wall": mg_wall, "mgen_total_s": mg["total_s"], "mgen_encode_s": mg.get("encode_s"), "mgen_peak_mib": vm.peak,
                     "py_wall": py_wall, "py_generate_s": py["denoise"] + py["encode"], "py_peak_mib": py.get("peak_mib")})
    last = rows[-1]
    print(f"Wan 2.1 1.3B-sized random weights, {w}x{h}, {frames} frames, {a.steps} steps, bf16 (run {a.runs} of {a.runs}, warm cache)")
    print(f"{'':24}{'mgen':>10}{'diffusers':>12}")
    print(f"{'whole process (s)':24}{last['mgen_wall']:>10.1f}{last['py_wall']:>12.1f}")
    print(f"{'one video (s)':24}{last['mgen_total_s']:>10.1f}{last['py_generate_s']:>12.1f}")
    print(f"{'peak VRAM (MiB)':24}{last['mgen_peak_mib']:>10}{str(last['py_peak_mib']):>12}")
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
