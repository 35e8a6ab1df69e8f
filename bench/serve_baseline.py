"""Baseline for bench/serve.mjs and bench/gpu/serve_gpu.sh: the same pipeline calls in a plain Python loop in one
process (what a user would write with diffusers), timed per call. Prints one JSON line.
Same work as a serve request: same prompt, size, steps and guidance, one PNG per call with an A1111-style
`parameters` text chunk (mgen's PNGs carry that and an `mgen` chunk). The OpenMP settings come from the environment
(bench/serve.mjs runs it once as a user would, and once with the settings mgen's worker gets).

usage: python bench/serve_baseline.py PLAN_JSON N WIDTH HEIGHT STEPS [--blocks]
  --blocks: after loading, read a count K per stdin line and answer each block of K calls with one JSON line.
"""

import json
import sys
import time

sys.path.insert(0, __import__("os").path.join(__import__("os").path.dirname(__file__), "..", "python-runtime"))


def main() -> None:
    plan_file, n, width, height, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    import torch
    from PIL.PngImagePlugin import PngInfo
    from mgen_runtime import plans

    doc = json.load(open(plan_file, encoding="utf-8"))
    loaded = plans.load(doc["plan"])
    pipe = loaded.pipe
    pipe.set_progress_bar_config(disable=True)
    kw = dict(prompt="a red cube on a table", width=width, height=height, num_inference_steps=steps, guidance_scale=5.0)
    for i in range(2):  # warm-up, as serve gets
        pipe(**kw, generator=torch.Generator("cpu").manual_seed(i))
    if torch.cuda.is_available():
        torch.cuda.synchronize()

    def calls(count: int, first: int) -> dict:
        per = []
        t0 = time.perf_counter()
        for i in range(first, first + count):
            t = time.perf_counter()
            image = pipe(**kw, generator=torch.Generator("cpu").manual_seed(1000 + i)).images[0]
            info = PngInfo()
            info.add_text("parameters", f"{kw['prompt']}\nSteps: {steps}, CFG scale: 5.0, Seed: {1000 + i}, Size: {width}x{height}")
            image.save(f"/tmp/mgen-bench-baseline-{i % 4}.png", pnginfo=info)  # serve writes PNGs with text chunks too
            per.append(time.perf_counter() - t)
        return {"n": count, "total_s": time.perf_counter() - t0, "per_call_s": per}

    if "--blocks" not in sys.argv:
        print(json.dumps(calls(n, 0)))
        return
    # Block mode (bench/serve.mjs interleaves blocks of this loop with blocks of requests to the server, so both
    # see the same machine state): one line "K" on stdin runs K more calls and answers one JSON line.
    print(json.dumps({"ready": True}), flush=True)
    done = 0
    for line in sys.stdin:
        if not line.strip():
            continue
        k = int(line)
        print(json.dumps(calls(k, done)), flush=True)
        done += k


if __name__ == "__main__":
    main()
