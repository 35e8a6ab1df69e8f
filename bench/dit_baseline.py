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
last_step = [t_load]


def on_step_end(_pipe, _i, _t, kwargs):
    last_step[0] = time.perf_counter()
    return kwargs


# `denoise` is measured as mgen's worker measures it: from the call to the end of the last step (prompt encoding
# included, the VAE decode after it not).
image = pipe("a red cube", width=int(width), height=int(height), num_inference_steps=int(steps), guidance_scale=float(guidance),
             generator=torch.Generator("cpu").manual_seed(int(seed)), callback_on_step_end=on_step_end).images[0]
t_call = time.perf_counter()
image.save(out)
t_save = time.perf_counter()
print(json.dumps({"imports": t_import - t0, "load": t_load - t_import, "denoise": last_step[0] - t_load, "decode": t_call - last_step[0],
                  "save": t_save - t_call, "in_python": t_save - t0}))
