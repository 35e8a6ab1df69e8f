"""RunPod Serverless handler: a thin adapter over `mgen serve`, the one request path.

At start it runs `mgen serve MODEL_ID` on loopback inside the worker (as RunPod's ComfyUI worker runs ComfyUI) and
waits until the model is loaded; each job is then forwarded to it (`POST /run`, progress from the job's event
stream, `DELETE /v1/jobs/{id}` when RunPod cancels the job). Validation, model resolution, LoRAs, hashing and the
PNG text all happen in serve, so the handler and serve cannot disagree: a job fails with serve's own message.

Start: `python -m mgen_runtime.runpod_handler` (RunPod), or locally with the SDK's API server:
`python -m mgen_runtime.runpod_handler --rp_serve_api --rp_api_host 127.0.0.1 --rp_api_port 8000`.

Environment:
- MODEL_ID: any MODEL_ID `mgen serve` takes. A HuggingFace repo that RunPod's cached-models volume holds
  ($RUNPOD_HF_CACHE, default /runpod-volume/huggingface-cache/hub, HF cache layout) is served from there.
- MGEN_CLI: how to run mgen (default `mgen`); MGEN_LOAD_FLAGS: extra flags for `mgen serve` (`--dtype float16`,
  `--model-dir DIR` for request LoRAs by path, ...).
- MGEN_JOB_TIMEOUT: seconds a job may run (0 or unset: no limit; `input.timeout` sets it per job).
- MGEN_SERVE_URL: forward to a `mgen serve` that is already running (a sidecar) instead of starting one; with
  MGEN_API_TOKEN when it wants a bearer token.
- BUCKET_ENDPOINT_URL, BUCKET_ACCESS_KEY_ID, BUCKET_SECRET_ACCESS_KEY (as RunPod's own workers read them): each output
  file is uploaded with the SDK's rp_upload and the output carries its presigned URL instead of base64.
"""

from __future__ import annotations

import base64
import http.client
import json
import mimetypes
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

RUNPOD_CACHE = "/runpod-volume/huggingface-cache/hub"
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_PROGRESS_EVERY_S = 0.5


class JobFailed(Exception):
    """A job serve refused or could not run; the message is serve's own."""


# -- where the model is ------------------------------------------------------------------------------------
def runpod_cached_snapshot(model_id: str, env: dict[str, str]) -> str | None:
    """The snapshot folder of a repo in RunPod's cached-models volume (refs/main first), or None."""
    repo = model_id.split(":", 1)[1] if model_id.startswith(("hf:", "huggingface:")) else model_id
    if not _REPO_ID.match(repo):
        return None
    root = Path(env.get("RUNPOD_HF_CACHE", RUNPOD_CACHE)) / ("models--" + repo.replace("/", "--"))
    snaps = root / "snapshots"
    if not snaps.is_dir():
        return None
    ref = root / "refs" / "main"
    if ref.is_file() and (snaps / ref.read_text(encoding="utf-8").strip()).is_dir():
        return str(snaps / ref.read_text(encoding="utf-8").strip())
    found = sorted((p for p in snaps.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    return str(found[0]) if found else None


def serve_command(env: dict[str, str]) -> list[str]:
    model_id = env.get("MODEL_ID", "").strip()
    if not model_id:
        raise SystemExit("mgen runpod handler: set MODEL_ID")
    model = runpod_cached_snapshot(model_id, env) or model_id
    return [*shlex.split(env.get("MGEN_CLI", "mgen")), "serve", model, "--host", "127.0.0.1", "--port", "0", "--json", "--no-state",
            "--timeout", "0", *shlex.split(env.get("MGEN_LOAD_FLAGS", ""))]


def _die_with_parent() -> None:
    """Linux: serve gets SIGTERM when the handler's process goes, even by SIGKILL."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


# -- serve, on loopback -----------------------------------------------------------------------------------
class Serve:
    """A `mgen serve` the handler talks to (started here, or one already running at `url`)."""

    def __init__(self, url: str, proc: subprocess.Popen[str] | None = None, token: str | None = None) -> None:
        parts = urlsplit(url)
        self.url = url
        self.auth = {"authorization": f"Bearer {token}"} if token else {}
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.proc = proc

    @classmethod
    def start(cls, env: dict[str, str]) -> "Serve":
        cmd = serve_command(env)
        # A token in the environment is for a sidecar serve; this one is loopback-only and needs none.
        env = {k: v for k, v in env.items() if k != "MGEN_API_TOKEN"}
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
        assert proc.stdout is not None
        # serve prints one JSON line ({url, model, pid}) once the model is loaded; its log goes to our stderr.
        for line in proc.stdout:
            if line.startswith("{"):
                url = json.loads(line)["url"]
                threading.Thread(target=proc.stdout.read, daemon=True).start()
                return cls(url, proc)
        raise SystemExit(f"mgen runpod handler: `mgen serve` exited ({proc.wait()}) before it was ready")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def call(self, method: str, path: str, body: Any = None, timeout: float = 60) -> tuple[int, Any]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            data = None if body is None else json.dumps(body)
            conn.request(method, path, body=data, headers={**self.auth, **({"content-type": "application/json"} if data is not None else {})})
            res = conn.getresponse()
            text = res.read().decode("utf-8")
            return res.status, (json.loads(text) if text else None)
        finally:
            conn.close()

    def events(self, job_id: str, last_id: str | None) -> Any:
        """Yields (id, event, data) from the job's event stream from after `last_id`; ends with the stream."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=None)
        try:
            conn.request("GET", f"/v1/jobs/{job_id}/events", headers={**self.auth, **({"last-event-id": last_id} if last_id else {})})
            res = conn.getresponse()
            if res.status != 200:
                res.read()
                return
            eid, event, data = None, "message", []
            for raw in res:
                line = raw.decode("utf-8").rstrip("\r\n")
                if not line:
                    if data:
                        yield eid, event, json.loads("\n".join(data))
                    eid, event, data = None, "message", []
                elif line.startswith("id:"):
                    eid = line[3:].strip()
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
        finally:
            conn.close()


# -- one job --------------------------------------------------------------------------------------------
def run_job(serve: Serve, job_input: Any, cancel: threading.Event | None = None, progress: Callable[[dict[str, Any]], None] | None = None,
            default_timeout: float = 0) -> dict[str, Any]:
    """Forwards one job to serve and returns its output ({images, metadata, timings}); raises JobFailed."""
    cancel = cancel or threading.Event()
    if not isinstance(job_input, dict):
        raise JobFailed("input: must be an object")
    job_input = dict(job_input)
    timeout = job_input.pop("timeout", None)
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
        raise JobFailed("timeout: must be a number of seconds > 0")
    if job_input.get("response_format", "b64_json") != "b64_json":
        raise JobFailed("response_format: only b64_json is available on RunPod")
    # serve's RunPod route: a request it refuses is a FAILED job with serve's own words (the fields named as in input).
    status, body = serve.call("POST", "/run", {"input": job_input})
    if status >= 300:
        raise JobFailed(((body or {}).get("error") or {}).get("message") or f"serve answered HTTP {status}")
    if body.get("status") == "FAILED":
        raise JobFailed(body.get("error") or "FAILED")
    job_id = body["id"]
    limit = float(timeout) if timeout is not None else default_timeout
    timed_out = threading.Event()
    finished = threading.Event()

    def stop_when_asked() -> None:
        # RunPod's cancel (the SDK cancels the job's task) or the job's own limit: serve stops it at the next step.
        if not cancel.wait(limit if limit > 0 else None):
            timed_out.set()
        if not finished.is_set():
            serve.call("DELETE", f"/v1/jobs/{job_id}")

    watcher = threading.Thread(target=stop_when_asked, daemon=True)
    watcher.start()
    last = {"at": 0.0}
    last_id: str | None = None
    view: dict[str, Any] | None = None
    try:
        # A stream cut short is picked up again after the last event seen (serve replays from its event log).
        for _ in range(20):
            for eid, event, data in serve.events(job_id, last_id):
                last_id = eid or last_id
                if event == "progress" and progress is not None:
                    now = time.monotonic()
                    if data.get("step") in (1, data.get("steps")) or now - last["at"] >= _PROGRESS_EVERY_S:
                        last["at"] = now
                        progress({"step": data["step"], "steps": data["steps"]})
                elif event == "done":
                    view = data
            if view is not None:
                break
            time.sleep(0.2)
    finally:
        finished.set()
        cancel.set()
    if view is None:
        status, view = serve.call("GET", f"/v1/jobs/{job_id}")
        if status != 200:
            raise JobFailed(f"serve lost job {job_id}")
    if view.get("status") == "completed":
        return view["output"]
    if timed_out.is_set() and view.get("status") == "cancelled":
        raise JobFailed(f"timeout: the job ran past its {limit:g} s limit and was stopped")
    raise JobFailed((view.get("error") or {}).get("message") or f"job {view.get('status')}")


# -- the job's output -----------------------------------------------------------------------------------
_EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp", "image/gif": ".gif", "video/mp4": ".mp4",
               "video/webm": ".webm", "audio/wav": ".wav", "audio/flac": ".flac"}


def job_output(output: dict[str, Any], job_id: str | None, env: dict[str, str]) -> dict[str, Any]:
    """serve's output -> the job's, the one place that does it. Without a bucket: as serve made it (each file as
    b64_json with its media_type). With BUCKET_ENDPOINT_URL set (RunPod's convention): each file is uploaded with the
    SDK's own rp_upload.upload_file_to_bucket (bucket `%m-%y`, key JOB_ID/INDEX.EXT, its media type as ContentType)
    and carried as the presigned URL the SDK returns, in place of b64_json; raises JobFailed naming the bucket problem."""
    endpoint = env.get("BUCKET_ENDPOINT_URL")
    if not endpoint:
        return output
    missing = [k for k in ("BUCKET_ACCESS_KEY_ID", "BUCKET_SECRET_ACCESS_KEY") if not env.get(k)]
    if missing:
        raise JobFailed(f"bucket: BUCKET_ENDPOINT_URL is set but {' and '.join(missing)} {'are' if len(missing) > 1 else 'is'} not")
    try:
        import boto3  # noqa: F401 - without it rp_upload would quietly write the files to a local folder instead
        from runpod.serverless.utils import rp_upload
    except ImportError:
        raise JobFailed("bucket: BUCKET_ENDPOINT_URL is set but boto3 / the runpod SDK is not installed (the runpod extra)") from None
    parts = urlsplit(endpoint)
    where = parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else "BUCKET_ENDPOINT_URL"
    bucket = time.strftime("%m-%y")  # the SDK's default bucket, as RunPod's workers use it
    prefix = job_id or os.urandom(8).hex()
    # The credentials from the same env the handler was made with (the SDK would read os.environ itself).
    creds = {"endpointUrl": endpoint, "accessId": env["BUCKET_ACCESS_KEY_ID"], "accessSecret": env["BUCKET_SECRET_ACCESS_KEY"]}
    files = []
    with tempfile.TemporaryDirectory(prefix="mgen-runpod-") as tmp:
        for i, f in enumerate(output.get("images") or []):
            if "b64_json" not in f:
                files.append(f)
                continue
            media_type = f.get("media_type") or "image/png"
            name = f"{i}{_EXTENSIONS.get(media_type) or mimetypes.guess_extension(media_type) or '.bin'}"
            path = os.path.join(tmp, name)
            with open(path, "wb") as fh:
                fh.write(base64.b64decode(f["b64_json"]))
            try:
                url = rp_upload.upload_file_to_bucket(name, path, bucket_creds=creds, bucket_name=bucket, prefix=prefix, extra_args={"ContentType": media_type})
            except Exception as exc:  # noqa: BLE001 - boto3/botocore errors, told in one line without paths or keys
                raise JobFailed(_bucket_problem(exc, where, bucket)) from None
            files.append({"url": url, **{k: v for k, v in f.items() if k != "b64_json"}})
    return {**output, "images": files}


def _bucket_problem(exc: BaseException, where: str, bucket: str) -> str:
    seen: BaseException | None = exc
    for _ in range(5):  # boto3 wraps the ClientError of a refused upload in an S3UploadFailedError
        response = getattr(seen, "response", None)
        if isinstance(response, dict) and "Error" in response:
            code = str(response["Error"].get("Code") or "error")[:64]
            status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
            return f"bucket: {where} refused the upload to bucket {bucket} ({code}{f', HTTP {status}' if status else ''})"
        seen = seen.__cause__ or seen.__context__ if seen is not None else None
    name = type(exc).__name__
    if "Connect" in name or "Endpoint" in name or isinstance(exc, OSError):
        return f"bucket: could not reach {where} to upload to bucket {bucket} ({name})"
    return f"bucket: the upload to bucket {bucket} at {where} failed ({name})"


def make_handler(serve: Serve, progress_update: Any = None, env: dict[str, str] | None = None):
    """An async handler: the job is forwarded from a thread, so the SDK can cancel the task (a stop signal, a
    timeout); the cancel flag then asks serve to stop the job at its next denoising step."""
    import asyncio

    env = dict(env if env is not None else os.environ)
    default_timeout = float(env.get("MGEN_JOB_TIMEOUT") or 0)

    async def handler(job: dict[str, Any]) -> dict[str, Any]:
        cancel = threading.Event()

        def progress(info: dict[str, Any]) -> None:
            if progress_update is not None:
                try:
                    progress_update(job, info)
                except Exception as exc:  # noqa: BLE001 - progress is best effort; the job goes on
                    print(f"mgen runpod handler: progress update failed: {exc}", file=sys.stderr)

        try:
            return await asyncio.to_thread(lambda: job_output(run_job(serve, job.get("input"), cancel, progress, default_timeout), job.get("id"), env))
        except JobFailed as exc:
            return {"error": str(exc)}
        except asyncio.CancelledError:
            cancel.set()
            print(f"mgen runpod handler: job {job.get('id')} cancelled; stopping at the next step", file=sys.stderr, flush=True)
            raise

    return handler


def main() -> None:
    import atexit

    import runpod  # the `runpod` extra (python-runtime/requirements/runpod.txt)

    env = dict(os.environ)
    started = time.monotonic()
    if env.get("MGEN_SERVE_URL"):
        serve = Serve(env["MGEN_SERVE_URL"].rstrip("/"), token=env.get("MGEN_API_TOKEN") or None)
    else:
        serve = Serve.start(env)
        atexit.register(serve.stop)
    print(f"mgen runpod handler: serving {env.get('MODEL_ID')} through {serve.url}, ready in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    runpod.serverless.start({"handler": make_handler(serve, runpod.serverless.progress_update, env)})


if __name__ == "__main__":
    main()
