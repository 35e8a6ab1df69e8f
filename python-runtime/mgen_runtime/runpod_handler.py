"""RunPod Serverless handler: the model loaded once per worker, jobs in the shape of `POST /v1/generate`.

Start: `python -m mgen_runtime.runpod_handler` (RunPod), or locally with the SDK's API server:
`python -m mgen_runtime.runpod_handler --rp_serve_api --rp_api_host 127.0.0.1 --rp_api_port 8000`.

Environment:
- MODEL_ID: a local path, a `builtin:` id, or a HuggingFace repo id. A repo is read from RunPod's cached-models
  folder (HF cache layout, $RUNPOD_HF_CACHE, default /runpod-volume/huggingface-cache/hub) or $HF_HUB_CACHE when
  it is there, else pulled at start with `mgen pull`.
- MGEN_PLAN: a JSON file made by `mgen serve MODEL_ID --print-plan` (baked into an image at build time); without
  it the handler runs that command at start. The load plan and the request schema come from the CLI, which owns
  those decisions; this module only runs them with the runtime's own plans/schema/generate modules.
- MGEN_CLI: how to run mgen (default `mgen`), MGEN_LOAD_FLAGS: extra flags for it (e.g. `--dtype float16`).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from .protocol import WorkerError
from .schema import JSON_TYPE_CHECKS

RUNPOD_CACHE = "/runpod-volume/huggingface-cache/hub"
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


# -- model resolution -----------------------------------------------------------------------------------
def cached_snapshot(repo_id: str, caches: list[str]) -> str | None:
    """The snapshot folder of `repo_id` in the first HF-layout cache that has one (refs/main first)."""
    name = "models--" + repo_id.replace("/", "--")
    for cache in caches:
        root = Path(cache) / name
        snaps = root / "snapshots"
        if not snaps.is_dir():
            continue
        ref = root / "refs" / "main"
        if ref.is_file():
            commit = ref.read_text(encoding="utf-8").strip()
            if (snaps / commit).is_dir():
                return str(snaps / commit)
        found = sorted((p for p in snaps.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
        if found:
            return str(found[0])
    return None


def hf_caches(env: dict[str, str]) -> list[str]:
    caches = [env.get("RUNPOD_HF_CACHE", RUNPOD_CACHE)]
    if env.get("HF_HUB_CACHE"):
        caches.append(env["HF_HUB_CACHE"])
    elif env.get("HF_HOME"):
        caches.append(str(Path(env["HF_HOME"]) / "hub"))
    else:
        caches.append(str(Path.home() / ".cache" / "huggingface" / "hub"))
    return caches


def mgen_cli(env: dict[str, str]) -> list[str]:
    return shlex.split(env.get("MGEN_CLI", "mgen"))


def resolve_model_id(model_id: str, env: dict[str, str]) -> str:
    """MODEL_ID -> what to hand the CLI: builtin ids and local paths as they are, repos as cached snapshot paths."""
    if model_id.startswith("builtin:") or Path(model_id).expanduser().exists():
        return model_id
    repo = model_id.split(":", 1)[1] if model_id.startswith(("hf:", "huggingface:")) else model_id
    if _REPO_ID.match(repo):
        found = cached_snapshot(repo, hf_caches(env))
        if found:
            return found
        subprocess.run([*mgen_cli(env), "pull", model_id], check=True, env=env, stdout=sys.stderr)
        found = cached_snapshot(repo, hf_caches(env))
        if found:
            return found
    return model_id


def plan_document(env: dict[str, str]) -> dict[str, Any]:
    """{model_id, plan, defaults, request_schema}: from $MGEN_PLAN, else from `mgen serve --print-plan`."""
    if env.get("MGEN_PLAN"):
        return json.loads(Path(env["MGEN_PLAN"]).read_text(encoding="utf-8"))
    model_id = env.get("MODEL_ID", "").strip()
    if not model_id:
        raise SystemExit("mgen runpod handler: set MODEL_ID (or MGEN_PLAN)")
    cmd = [*mgen_cli(env), "serve", resolve_model_id(model_id, env), "--print-plan", *shlex.split(env.get("MGEN_LOAD_FLAGS", ""))]
    out = subprocess.run(cmd, check=True, env=env, stdout=subprocess.PIPE, text=True).stdout
    doc = json.loads(out.strip().splitlines()[-1])
    doc["model_id"] = model_id
    return doc


# -- request validation (the JSON Schema subset the request schema uses) ---------------------------------
_TYPES = JSON_TYPE_CHECKS


def validate(value: Any, schema: dict[str, Any], root: dict[str, Any], where: str = "") -> str | None:
    """First problem as "field: what is wrong", or None."""
    label = where or "(body)"
    if "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/$defs/"):
            return None
        return validate(value, root.get("$defs", {}).get(ref[len("#/$defs/"):], {}), root, where)
    if "anyOf" in schema:
        if any(validate(value, s, root, where) is None for s in schema["anyOf"]):
            return None
        return f"{label}: does not match any allowed type"
    if "enum" in schema and value not in schema["enum"]:
        return f"{label}: must be one of {json.dumps(schema['enum'])}"
    kinds = schema.get("type")
    if kinds is not None:
        kinds = kinds if isinstance(kinds, list) else [kinds]
        if not any(_TYPES.get(k, lambda v: True)(value) for k in kinds):
            return f"{label}: must be {' or '.join(kinds)}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            return f"{label}: must be >= {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            return f"{label}: must be <= {schema['maximum']}"
        if "multipleOf" in schema and value % schema["multipleOf"] != 0:
            return f"{label}: must be multiple of {schema['multipleOf']}"
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            return f"{label}: must NOT have fewer than {schema['minLength']} characters"
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return f"{label}: must NOT have more than {schema['maxLength']} characters"
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return f"{label}: must match pattern \"{schema['pattern']}\""
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                return f"{where + '.' if where else ''}{key}: required"
        for key, v in value.items():
            sub = f"{where}.{key}" if where else key
            if key in props:
                if problem := validate(v, props[key], root, sub):
                    return problem
            elif schema.get("additionalProperties") is False:
                return f"{sub}: unknown field"
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            return f"{label}: must NOT have more than {schema['maxItems']} items"
        items = schema.get("prefixItems")
        if items is not None:
            for i, (v, s) in enumerate(zip(value, items)):
                if problem := validate(v, s, root, f"{where}[{i}]"):
                    return problem
        elif "items" in schema:
            for i, v in enumerate(value):
                if problem := validate(v, schema["items"], root, f"{where}[{i}]"):
                    return problem
    return None


# -- inline images -----------------------------------------------------------------------------------------
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpg"), (b"GIF8", "gif"), (b"BM", "bmp"))


def decode_inline_image(value: Any, field: str) -> tuple[bytes, str]:
    if not isinstance(value, str) or not value:
        raise WorkerError("bad_request", f"{field}: expected a base64 string or a data: URL")
    v = value.strip()
    if re.match(r"^[a-z][a-z0-9+.-]*://", v, re.I) or v.startswith("//"):
        raise WorkerError("bad_request", f"{field}: images are accepted inline only (base64 or a data: URL); URLs are not fetched")
    if v.startswith("data:"):
        head, _, v = v.partition(",")
        if ";base64" not in head:
            raise WorkerError("bad_request", f"{field}: data: URL must be base64-encoded")
    elif v.startswith(("/", "./", "~")):
        raise WorkerError("bad_request", f"{field}: images are accepted inline only (base64 or a data: URL); server paths are not read")
    try:
        data = base64.b64decode(re.sub(r"\s+", "", v), validate=True)
    except (binascii.Error, ValueError):
        raise WorkerError("bad_request", f"{field}: not valid base64") from None
    for magic, ext in _MAGIC:
        if data.startswith(magic):
            return data, ext
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return data, "webp"
    raise WorkerError("bad_request", f"{field}: not a PNG, JPEG, WebP, GIF or BMP image")


# -- the handler -------------------------------------------------------------------------------------------
_OWN_FIELDS = {"prompt", "negative_prompt", "width", "height", "steps", "guidance_scale", "seed", "num_images", "scheduler",
               "strength", "image", "mask", "control_image", "loras", "response_format", "params"}


class Runner:
    """One loaded pipeline and what it needs to answer jobs."""

    def __init__(self, doc: dict[str, Any]) -> None:
        from . import plans
        from .schema import call_schema

        self.model_id = doc["model_id"]
        self.plan = doc["plan"]
        self.defaults = doc.get("defaults") or {"width": 512, "height": 512, "steps": 30, "guidance_scale": 7.5}
        self.request_schema = doc["request_schema"]
        started = time.perf_counter()
        self.loaded = plans.load(self.plan)
        self.load_seconds = time.perf_counter() - started
        self.call_schema = call_schema(self.loaded.pipe)
        self.lock = threading.Lock()

    def run(self, job_input: Any) -> dict[str, Any]:
        from . import generate

        if not isinstance(job_input, dict):
            raise WorkerError("bad_request", "input: must be an object")
        if problem := validate(job_input, self.request_schema, self.request_schema):
            raise WorkerError("bad_request", problem)
        if job_input.get("response_format", "b64_json") != "b64_json":
            raise WorkerError("bad_request", "response_format: only b64_json is available on RunPod")
        params = dict(job_input.get("params") or {})
        params.update({k: v for k, v in job_input.items() if k not in _OWN_FIELDS})
        seed = job_input.get("seed")
        if seed is None:
            seed = int.from_bytes(os.urandom(4), "big")
        work = Path(tempfile.mkdtemp(prefix="mgen-runpod-"))
        try:
            request: dict[str, Any] = {
                "prompt": job_input["prompt"], "negative_prompt": job_input.get("negative_prompt"),
                "width": job_input.get("width", self.defaults["width"]), "height": job_input.get("height", self.defaults["height"]),
                "steps": job_input.get("steps", self.defaults["steps"]),
                "guidance_scale": job_input.get("guidance_scale", self.defaults["guidance_scale"]),
                "seed": seed, "num_images": job_input.get("num_images", 1), "scheduler": job_input.get("scheduler"),
                "strength": job_input.get("strength"), "params": params, "out_dir": str(work), "file_stem": "img",
            }
            for field in ("image", "mask", "control_image"):
                if job_input.get(field) is not None:
                    data, ext = decode_inline_image(job_input[field], field)
                    path = work / f"in-{field}.{ext}"
                    path.write_bytes(data)
                    request[field] = str(path)
            record = {k: v for k, v in request.items() if k not in ("out_dir", "file_stem", "image", "mask", "control_image")}
            request["png_text"] = [{"mgen": json.dumps({"schema": 1, "model": self.model_id, "request": {**record, "seed": seed + n}})}
                                   for n in range(request["num_images"])]
            with self.lock:
                result = generate.run(self.loaded, request, self.call_schema, lambda *_: None, threading.Event())
            images = [{"b64_json": base64.b64encode(Path(im["path"]).read_bytes()).decode("ascii"),
                       "seed": im["seed"], "width": im["width"], "height": im["height"]} for im in result["images"]]
            return {
                "images": images,
                "metadata": {"model": self.model_id, "seed": seed, "seeds": [im["seed"] for im in images], "request": record,
                             "plan": {k: self.plan.get(k) for k in ("strategy", "pipeline", "task", "dtype", "device", "offload")},
                             **{k: v for k, v in result["metadata"].items() if k in ("pipeline", "scheduler")}},
                "timings": {"denoise_s": result["timings"]["denoise_s"], "worker_s": result["timings"]["total_s"],
                            "steps": result["timings"]["steps"]},
            }
        finally:
            shutil.rmtree(work, ignore_errors=True)


def make_handler(runner: Runner):
    def handler(job: dict[str, Any]) -> dict[str, Any]:
        try:
            return runner.run(job.get("input"))
        except WorkerError as err:
            return {"error": f"{err.type}: {err.message}" if err.type not in ("bad_request", "bad_params") else err.message}

    return handler


def main() -> None:
    import runpod  # the `runpod` extra (python-runtime/requirements/runpod.txt)

    env = dict(os.environ)
    runner = Runner(plan_document(env))
    print(f"mgen runpod handler: {runner.model_id} loaded in {runner.load_seconds:.1f} s", file=sys.stderr, flush=True)
    runpod.serverless.start({"handler": make_handler(runner)})


if __name__ == "__main__":
    main()
