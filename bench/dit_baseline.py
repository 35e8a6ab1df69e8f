"""Baseline for bench/dit.mjs: a plain diffusers script that imports, loads a diffusers folder (FLUX or SD3: the
class from its model_index.json), makes one image and saves it. Prints its own breakdown as one JSON line."""

import json
import sys
import time

t0 = time.perf_counter()
import torch  # noqa: E402
from diffusers import DiffusionPipeline  # noqa: E402

t_import = time.perf_counter()
path, out, width, height, steps, seed, guidance = sys.argv[1:8]
pipe = DiffusionPipeline.from_pretrained(path, torch_dtype=torch.float32)
pipe.set_progress_bar_config(disable=True)
t_load = time.perf_counter()
image = pipe("a red cube", width=int(width), height=int(height), num_inference_steps=int(steps), guidance_scale=float(guidance),
             generator=torch.Generator("cpu").manual_seed(int(seed))).images[0]
t_denoise = time.perf_counter()
image.save(out)
t_save = time.perf_counter()
print(json.dumps({"imports": t_import - t0, "load": t_load - t_import, "denoise": t_denoise - t_load, "save": t_save - t_denoise,
                  "in_python": t_save - t0}))
