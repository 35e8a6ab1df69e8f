"""Baseline for bench/video.mjs: a plain diffusers script that imports, loads a video pipeline folder, makes one
clip and writes it as H.264 MP4 (diffusers' export_to_video needs imageio; PyAV is what a user has here, and what
mgen encodes with). Prints its own breakdown as one JSON line."""

import json
import sys
import time

t0 = time.perf_counter()
import av  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from diffusers import DiffusionPipeline  # noqa: E402

t_import = time.perf_counter()
path, out, width, height, frames, steps, fps, seed = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:9])
cuda = torch.cuda.is_available()
pipe = DiffusionPipeline.from_pretrained(path, torch_dtype=torch.bfloat16 if cuda else torch.float32)
if cuda:
    pipe.to("cuda")
pipe.set_progress_bar_config(disable=True)
t_load = time.perf_counter()
video = pipe("a red cube", width=width, height=height, num_frames=frames, num_inference_steps=steps, output_type="np",
             generator=torch.Generator("cpu").manual_seed(seed)).frames[0]
t_denoise = time.perf_counter()
video = (np.clip(video, 0, 1) * 255).round().astype(np.uint8)
with av.open(out, "w") as c:
    s = c.add_stream("libx264", rate=fps)
    s.width, s.height, s.pix_fmt = width, height, "yuv420p"
    for f in video:
        for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
            c.mux(p)
    for p in s.encode():
        c.mux(p)
t_save = time.perf_counter()
print(json.dumps({"imports": t_import - t0, "load": t_load - t_import, "denoise": t_denoise - t_load,
                  "encode": t_save - t_denoise, "in_python": t_save - t0,
                  "peak_mib": torch.cuda.max_memory_reserved() // 2**20 if cuda else None}))
