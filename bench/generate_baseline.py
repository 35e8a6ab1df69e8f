"""Baseline for bench/generate.mjs: what a user would otherwise run - a plain diffusers script that imports,
loads a diffusers folder, makes one image and saves it. Prints its own breakdown as one JSON line."""

import json
import sys
import time

t0 = time.perf_counter()
import torch  # noqa: E402
from diffusers import StableDiffusionPipeline  # noqa: E402

t_import = time.perf_counter()
path, out, width, height, steps, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
pipe = StableDiffusionPipeline.from_pretrained(path, torch_dtype=torch.float32)
pipe.set_progress_bar_config(disable=True)
t_load = time.perf_counter()
image = pipe("a red cube", width=width, height=height, num_inference_steps=steps, guidance_scale=7.5,
             generator=torch.Generator("cpu").manual_seed(seed)).images[0]
t_denoise = time.perf_counter()
image.save(out)
t_save = time.perf_counter()
print(json.dumps({"imports": t_import - t0, "load": t_load - t_import, "denoise": t_denoise - t_load, "save": t_save - t_denoise,
                  "in_python": t_save - t0}))
