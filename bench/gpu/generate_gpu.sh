#!/usr/bin/env bash
# For a lent GPU machine (one short call, no network there): installs the carried wheels in .whl/ (diffusers and
# whatever else the machine lacks; fetch them here with bench/gpu/fetch_wheels.sh, carry `.whl`), then runs
# bench/gpu/generate_gpu.py. Everything else (torch, transformers, safetensors, accelerate, peft) is the machine's.
#   ./bench/gpu/generate_gpu.sh [generate_gpu.py args...]
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
if ! "$PY" -c 'import diffusers' 2>/dev/null; then
  "$PY" -m pip install --quiet --no-index --no-deps --target /tmp/mgen-gpu-site .whl/*.whl
  export PYTHONPATH=/tmp/mgen-gpu-site${PYTHONPATH:+:$PYTHONPATH}
fi
"$PY" -c 'import torch, diffusers; print("torch", torch.__version__, "cuda", torch.cuda.is_available(), "diffusers", diffusers.__version__)'
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader || true
exec "$PY" bench/gpu/generate_gpu.py "$@"
