#!/usr/bin/env bash
# Here (with PyPI): the wheels the GPU machine lacks, into .whl/ (gitignored; pass it to the device run as carry).
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .whl
# regex comes with transformers there; these are pure-Python wheels.
python3 -m pip download --no-deps --only-binary=:all: -d .whl diffusers==0.42.1 importlib-metadata zipp
ls -la .whl
