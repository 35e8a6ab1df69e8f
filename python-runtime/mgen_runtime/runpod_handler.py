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
- MGEN_JOB_TIMEOUT: seconds a job may run (0 or unset: no limit; `input.timeout` sets it per job), MGEN_MAX_LORAS:
  how many per-request LoRAs stay loaded as adapters (default 8).
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

from .file_hash import sha256_file
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
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt", ".pth", ".gguf")
_PROGRESS_EVERY_S = 0.5


def merge_pipeline_params(request_schema: dict[str, Any], pipeline_schema: dict[str, Any], mapped: list[str] | None) -> dict[str, Any]:
    """The request schema plus the loaded pipeline's own __call__ parameters (top level and under `params`).

    `mgen serve --print-plan` does not load the model, so its schema has our fields only and lists the pipeline
    parameters our fields stand for (`mapped_params`); a schema without that list is used as it is."""
    if mapped is None:
        return request_schema
    skip = set(mapped)
    extras = {k: v for k, v in (pipeline_schema.get("properties") or {}).items() if k not in skip}
    schema = json.loads(json.dumps(request_schema))
    props = schema.setdefault("properties", {})
    for key, value in extras.items():
        props.setdefault(key, value)
    params = props.setdefault("params", {"type": "object", "additionalProperties": False, "properties": {}})
    params.setdefault("properties", {}).update(extras)
    defs = {**(pipeline_schema.get("$defs") or {}), **(pipeline_schema.get("definitions") or {})}
    if defs:
        schema["$defs"] = {**defs, **(schema.get("$defs") or {})}
    return schema


def main_weight_file(plan: dict[str, Any]) -> Path | None:
    """The checkpoint's main weight file: the file itself, or the largest weight file of the folder."""
    path = Path(plan["path"])
    if path.is_file():
        return path
    if not path.is_dir():
        return None
    files = [p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in _WEIGHT_SUFFIXES]
    return max(files, key=lambda p: p.stat().st_size) if files else None


class JobTimeout(Exception):
    """The job ran past its limit and was stopped at a denoising step."""


class Runner:
    """One loaded pipeline and what it needs to answer jobs."""

    def __init__(self, doc: dict[str, Any], env: dict[str, str] | None = None) -> None:
        from . import plans
        from .info import hello_info
        from .schema import call_schema

        self.env = dict(os.environ) if env is None else env
        self.model_id = doc["model_id"]
        self.plan = doc["plan"]
        self.family = doc.get("family")
        self.defaults = doc.get("defaults") or {"width": 512, "height": 512, "steps": 30, "guidance_scale": 7.5}
        started = time.perf_counter()
        self.loaded = plans.load(self.plan)
        self.loads = 1
        self.load_seconds = time.perf_counter() - started
        self.call_schema = call_schema(self.loaded.pipe)
        self.request_schema = merge_pipeline_params(doc["request_schema"], self.call_schema, doc.get("mapped_params"))
        self.runtime = {k: v for k, v in hello_info().items() if k in ("python", "torch", "diffusers", "transformers", "device")}
        self.lock = threading.Lock()
        self.job_timeout = float(self.env.get("MGEN_JOB_TIMEOUT") or 0)
        self.lora_paths: dict[str, str] = {}
        self._weights = main_weight_file(self.plan)
        self._hash: str | None = None
        # The model hash for the PNG text is read in the background (a large checkpoint takes seconds).
        self._hashing = threading.Thread(target=self._read_hash, daemon=True)
        self._hashing.start()

    def _read_hash(self) -> None:
        try:
            self._hash = sha256_file(self._weights) if self._weights else None
        except OSError:
            self._hash = None

    # -- per-request LoRAs ------------------------------------------------------------------------------
    def resolve_lora(self, name: str, index: int) -> str:
        """A LoRA MODEL_ID -> its local path, resolved, pulled and checked against the model by the CLI (cached)."""
        if name in self.lora_paths:
            return self.lora_paths[name]
        field = f"loras[{index}].name"
        # The CLI admits the name by serve's request-model policy (hub ids and the cache by default; URLs and local
        # paths only where the operator's MGEN_LOAD_FLAGS allow them), then resolves and checks it.
        cmd = [*mgen_cli(self.env), "serve", resolve_model_id(self.model_id, self.env), "--print-plan",
               "--request-lora", name, "--request-field", field, *shlex.split(self.env.get("MGEN_LOAD_FLAGS", ""))]
        try:
            proc = subprocess.run(cmd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=3600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise WorkerError("bad_request", f"{field}: cannot resolve {name}: {exc}") from None
        if proc.returncode != 0:
            lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
            why = next((ln for ln in reversed(lines) if ln.startswith("mgen: error:")), lines[-1] if lines else f"exit {proc.returncode}")
            why = why.removeprefix("mgen: error:").strip()
            raise WorkerError("bad_request", why if why.startswith(f"{field}:") else f"{field}: {why}")
        loras = json.loads(proc.stdout.strip().splitlines()[-1])["plan"]["loras"]
        path = loras[-1]["path"]
        self.lora_paths[name] = path
        return path

    def request_loras(self, job_input: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"id": lo["name"], "path": self.resolve_lora(lo["name"], i), "scale": float(lo.get("scale", 1.0))}
                for i, lo in enumerate(job_input.get("loras") or [])]

    # -- one job ----------------------------------------------------------------------------------------
    def png_text(self, request: dict[str, Any], loras: list[dict[str, Any]]) -> list[dict[str, str]]:
        """Per image: the A1111 `parameters` text and the `mgen` JSON, in the shape `mgen generate` writes."""
        from .a1111 import lora_short_hash, model_slug, parameters_text

        self._hashing.join()
        plan_loras = [{"path": lo["path"], "scale": lo.get("scale", 1.0)} for lo in self.plan.get("loras") or []]
        all_loras = plan_loras + [{"path": lo["path"], "scale": lo["scale"]} for lo in loras]
        scheduler = request.get("scheduler") or self.loaded.components.get("scheduler")
        out = []
        for n in range(request["num_images"]):
            seed = request["seed"] + n
            record = {k: request.get(k) for k in ("prompt", "negative_prompt", "width", "height", "steps", "guidance_scale")}
            record.update({"seed": seed, "scheduler": request.get("scheduler"), "strength": request.get("strength"),
                           "image": None, "mask": None, "control_image": None, "params": request["params"]})
            doc = {
                "schema": 1, "model": self.model_id, "base": None,
                "adapters": {"loras": [{"id": lo["id"], "scale": lo["scale"]} for lo in loras], "embeddings": [], "controlnet": None, "vae": None},
                "request": record,
                "plan": {"dtype": self.plan.get("dtype"), "task": self.plan.get("task"), "pipeline": self.plan.get("pipeline"),
                         "loras": all_loras, "embeddings": self.plan.get("embeddings") or [],
                         "controlnet": (self.plan.get("controlnet") or {}).get("path"), "vae": (self.plan.get("vae") or {}).get("path")},
                "files": {"model": str(self._weights) if self._weights else None, "model_sha256": self._hash},
                "runtime": self.runtime,
            }
            params = parameters_text(
                prompt=request["prompt"], negative_prompt=request.get("negative_prompt"), steps=request["steps"], scheduler=scheduler,
                guidance_scale=request["guidance_scale"], seed=seed, width=request.get("width"), height=request.get("height"),
                model_hash=self._hash[:10] if self._hash else None, model_name=model_slug(self.model_id),
                strength=request.get("strength"), loras=[(Path(lo["path"]).stem, lora_short_hash(lo["path"])) for lo in all_loras])
            out.append({"parameters": params, "mgen": json.dumps(doc)})
        return out

    def run(self, job_input: Any, cancel: threading.Event | None = None, progress: Any = None) -> dict[str, Any]:
        """One job; `cancel` stops it at the next denoising step, `progress(dict)` hears about each step."""
        from . import generate
        from .adapters import request_adapters

        cancel = cancel or threading.Event()
        if not isinstance(job_input, dict):
            raise WorkerError("bad_request", "input: must be an object")
        job_input = dict(job_input)
        timeout = job_input.pop("timeout", None)
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
            raise WorkerError("bad_request", "timeout: must be a number of seconds > 0")
        if problem := validate(job_input, self.request_schema, self.request_schema):
            raise WorkerError("bad_request", problem)
        if job_input.get("response_format", "b64_json") != "b64_json":
            raise WorkerError("bad_request", "response_format: only b64_json is available on RunPod")
        params = dict(job_input.get("params") or {})
        params.update({k: v for k, v in job_input.items() if k not in _OWN_FIELDS})
        seed = job_input.get("seed")
        if seed is None:
            seed = int.from_bytes(os.urandom(4), "big")
        limit = float(timeout) if timeout is not None else self.job_timeout
        started = time.perf_counter()
        work = Path(tempfile.mkdtemp(prefix="mgen-runpod-"))
        timed_out = threading.Event()
        timer = None
        if limit > 0:
            timer = threading.Timer(limit, lambda: (timed_out.set(), cancel.set()))
            timer.daemon = True
            timer.start()
        try:
            loras = self.request_loras(job_input)
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
            if loras:
                record["loras"] = [{"name": lo["id"], "scale": lo["scale"]} for lo in loras]
            request["png_text"] = self.png_text(request, loras)
            if loras:
                request["loras"] = [{"path": lo["path"], "scale": lo["scale"]} for lo in loras]
            last = {"at": 0.0}

            def on_step(step: int, steps: int, image: int) -> None:
                now = time.perf_counter()
                if progress is not None and (step in (1, steps) or now - last["at"] >= _PROGRESS_EVERY_S):
                    last["at"] = now
                    progress({"step": step, "steps": steps, "image": image, "images": request["num_images"]})

            with self.lock:
                try:
                    with request_adapters(self.loaded, request):
                        result = generate.run(self.loaded, request, self.call_schema, on_step, cancel)
                except WorkerError as err:
                    if err.type == "cancelled" and timed_out.is_set():
                        raise JobTimeout(f"timeout: the job ran past its {limit:g} s limit and was stopped") from None
                    if err.type == "bad_params" and err.message.startswith("request.loras["):
                        raise WorkerError("bad_request", err.message.removeprefix("request.").replace("]:", "].name:", 1)) from None
                    raise
            images = [{"b64_json": base64.b64encode(Path(im["path"]).read_bytes()).decode("ascii"),
                       "seed": im["seed"], "width": im["width"], "height": im["height"]} for im in result["images"]]
            return {
                "images": images,
                "metadata": {"model": self.model_id, "seed": seed, "seeds": [im["seed"] for im in images], "request": record,
                             "plan": {k: self.plan.get(k) for k in ("strategy", "pipeline", "task", "dtype", "device", "offload")},
                             **{k: v for k, v in result["metadata"].items() if k in ("pipeline", "scheduler")}},
                "timings": {"denoise_s": result["timings"]["denoise_s"], "worker_s": result["timings"]["total_s"],
                            "total_s": round(time.perf_counter() - started, 4), "steps": result["timings"]["steps"],
                            "model_loads": self.loads},
            }
        finally:
            if timer is not None:
                timer.cancel()
            shutil.rmtree(work, ignore_errors=True)

    def answer(self, job_input: Any, cancel: threading.Event | None = None, progress: Any = None) -> dict[str, Any]:
        """run() with failures as RunPod's {"error": ...} output."""
        try:
            return self.run(job_input, cancel, progress)
        except JobTimeout as exc:
            return {"error": str(exc)}
        except WorkerError as err:
            return {"error": f"{err.type}: {err.message}" if err.type not in ("bad_request", "bad_params") else err.message}


def make_handler(runner: Runner, progress_update: Any = None):
    """An async handler: the job runs in a thread, so the SDK can cancel the task (a stop signal, a timeout);
    the cancel flag then stops the pipeline at its next denoising step."""
    import asyncio

    async def handler(job: dict[str, Any]) -> dict[str, Any]:
        cancel = threading.Event()

        def progress(info: dict[str, Any]) -> None:
            if progress_update is not None:
                try:
                    progress_update(job, info)
                except Exception as exc:  # noqa: BLE001 - progress is best effort; the job goes on
                    print(f"mgen runpod handler: progress update failed: {exc}", file=sys.stderr)

        try:
            return await asyncio.to_thread(runner.answer, job.get("input"), cancel, progress)
        except asyncio.CancelledError:
            cancel.set()
            print(f"mgen runpod handler: job {job.get('id')} cancelled; stopping at the next step", file=sys.stderr, flush=True)
            raise

    return handler


def main() -> None:
    import runpod  # the `runpod` extra (python-runtime/requirements/runpod.txt)

    env = dict(os.environ)
    runner = Runner(plan_document(env), env)
    print(f"mgen runpod handler: {runner.model_id} loaded in {runner.load_seconds:.1f} s", file=sys.stderr, flush=True)
    runpod.serverless.start({"handler": make_handler(runner, runpod.serverless.progress_update)})


if __name__ == "__main__":
    main()
