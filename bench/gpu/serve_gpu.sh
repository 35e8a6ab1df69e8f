#!/usr/bin/env bash
# GPU part of the serve benchmark: `mgen serve` vs a plain diffusers loop on random-weight SD 1.5 at 512x512,
# fp16 on CUDA, same run (bench/serve.mjs does the measuring). Needs `npm run build` and a CUDA runtime
# (MGEN_PYTHON or `mgen runtime install --profile cuda`). Bounded: 20 requests, 4 clients, 3 generate calls each way.
#   bench/gpu/serve_gpu.sh [N] [STEPS]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
N="${1:-20}"
STEPS="${2:-20}"
PY="${MGEN_PYTHON:-$(node "$ROOT/bin/mgen" runtime which)}"
MODEL="${MGEN_BENCH_SD15:-${TMPDIR:-/tmp}/mgen-bench-sd15-random}"
if [[ ! -f "$MODEL/model_index.json" ]]; then
  "$PY" "$ROOT/bench/gpu/make_sd15_random.py" "$MODEL" >&2
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader >&2 || true
exec node "$ROOT/bench/serve.mjs" --model "$MODEL" --n "$N" --clients 4 --size 512 --steps "$STEPS" --gen 3 \
  --flags "--device cuda --dtype float16" --budget 540
