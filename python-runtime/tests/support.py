"""Shared test helpers: tiny models built once per test process, and a client for a real worker subprocess."""

from __future__ import annotations

import atexit
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

RUNTIME_ROOT = Path(__file__).resolve().parents[1]
if str(RUNTIME_ROOT) not in sys.path:
    sys.path.insert(0, str(RUNTIME_ROOT))

_ROOT: Path | None = None
_BUILT: dict[str, Path] = {}


def _root() -> Path:
    global _ROOT
    if _ROOT is None:
        _ROOT = Path(tempfile.mkdtemp(prefix="mgen-tiny-"))
        atexit.register(shutil.rmtree, _ROOT, True)
    return _ROOT


def tiny(name: str) -> Path:
    """The folder of a tiny model, built on first use (in this process)."""
    if name not in _BUILT:
        from mgen_runtime.tiny import build

        build(name, _root() / name)
        _BUILT[name] = _root() / name
    return _BUILT[name]


def scratch_dir(prefix: str = "mgen-test-") -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=_root()))
    return path


def sd_plan(**overrides: Any) -> dict[str, Any]:
    plan = {"strategy": "diffusers-folder", "path": str(tiny("tiny-sd")), "pipeline": "StableDiffusionPipeline",
            "task": "text-to-image", "dtype": "float32", "device": "cpu"}
    plan.update(overrides)
    return plan


def png_pixels(path: str | Path) -> bytes:
    from PIL import Image

    with Image.open(path) as im:
        return im.convert("RGB").tobytes()


def pixel_digest(path: str | Path) -> str:
    """sha256 of the decoded RGB pixels (short to print when two images are compared)."""
    import hashlib

    return hashlib.sha256(png_pixels(path)).hexdigest()


class WorkerClient:
    """Starts `python -u -m mgen_runtime.worker` and talks JSON lines to it."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        base = os.environ if env is None else env
        env = {**base, "PYTHONPATH": str(RUNTIME_ROOT) + os.pathsep + base.get("PYTHONPATH", "")}
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "mgen_runtime.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, encoding="utf-8", env=env, bufsize=1,
        )
        self.lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.raw: list[str] = []
        self.stderr: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        self._n = 0

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        try:
            for line in self.proc.stdout:
                self.raw.append(line)
                try:
                    self.lines.put(json.loads(line))
                except json.JSONDecodeError:
                    self.lines.put({"__not_json__": line})
        except ValueError:  # closed by kill()
            pass
        self.lines.put(None)

    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        try:
            for line in self.proc.stderr:
                self.stderr.append(line)
        except ValueError:  # closed by kill()
            pass

    def next_line(self, timeout: float = 120) -> dict[str, Any]:
        msg = self.lines.get(timeout=timeout)
        if msg is None:
            raise AssertionError("worker stdout closed; stderr tail:\n" + "".join(self.stderr[-20:]))
        if "__not_json__" in msg:
            raise AssertionError(f"worker wrote a non-protocol line to stdout: {msg['__not_json__']!r}")
        return msg

    def send_raw(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def send(self, verb: str, **params: Any) -> str:
        self._n += 1
        id_ = f"r{self._n}"
        self.send_raw(json.dumps({"id": id_, "verb": verb, **params}))
        return id_

    def answer(self, id_: str, timeout: float = 180, events: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            msg = self.next_line(max(0.1, deadline - time.monotonic()))
            if msg.get("id") == id_ and "ok" in msg:
                return msg
            if events is not None:
                events.append(msg)

    def call(self, verb: str, timeout: float = 180, **params: Any) -> dict[str, Any]:
        return self.answer(self.send(verb, **params), timeout)

    def close_stdin(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    def wait(self, timeout: float = 30) -> int:
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                if stream is not None:
                    stream.close()
            except (OSError, ValueError):
                pass
