"""The JSON-lines wire format of docs/worker-protocol.md: typed errors, answers, and a stdout kept for protocol lines only."""

from __future__ import annotations

import json
import os
import sys
import threading
import traceback
from typing import Any, TextIO

ERROR_TYPES = frozenset({
    "bad_request", "bad_params", "not_loaded", "load_failed", "unsafe_model", "out_of_memory", "cancelled",
    "generation_failed", "invalid_model", "runtime_broken",
})


class WorkerError(Exception):
    """An error the worker answers with: a protocol error type, a one-line message, and optional detail."""

    def __init__(self, type_: str, message: str, detail: str = "") -> None:
        if type_ not in ERROR_TYPES:
            raise ValueError(f"unknown worker error type {type_!r}")
        super().__init__(message)
        self.type = type_
        self.message = one_line(message)
        self.detail = detail

    def to_json(self) -> dict[str, str]:
        return {"type": self.type, "message": self.message, "detail": self.detail}


def one_line(text: str, limit: int = 500) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def from_exception(exc: BaseException, type_: str, prefix: str = "") -> WorkerError:
    """Wrap an unexpected exception: its class and message on one line, the traceback as detail."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return WorkerError(type_, f"{prefix}{text}", detail)


class ProtocolWriter:
    """Writes one JSON object per line to the protocol stream; safe to call from several threads."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, obj: dict[str, Any]) -> None:
        line = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()

    def ok(self, id_: Any, result: dict[str, Any]) -> None:
        self.send({"id": id_, "ok": True, "result": result})

    def error(self, id_: Any, err: WorkerError) -> None:
        self.send({"id": id_, "ok": False, "error": err.to_json()})

    def progress(self, id_: Any, step: int, steps: int, **extra: Any) -> None:
        self.send({"id": id_, "event": "progress", "step": step, "steps": steps, **extra})


def claim_stdout() -> TextIO:
    """Take file descriptor 1 for the protocol and point everything else that writes to stdout at stderr.

    Python-level prints (sys.stdout) and native code writing to fd 1 both end up on stderr afterwards, so a
    library's chatter can never corrupt the JSON stream.
    """
    sys.stdout.flush()
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(protocol_fd, "w", encoding="utf-8", buffering=1, newline="\n")


def parse_request(line: str) -> tuple[Any, dict[str, Any]]:
    """Parse one request line into (id, request). Raises WorkerError(bad_request) with the id when known."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise _BadLine(None, f"request is not valid JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(obj, dict):
        raise _BadLine(None, "request must be a JSON object")
    id_ = obj.get("id")
    if not isinstance(id_, str) or not id_:
        raise _BadLine(id_ if isinstance(id_, (str, int)) else None, "request needs a non-empty string `id`")
    if not isinstance(obj.get("verb"), str):
        raise _BadLine(id_, "request needs a string `verb`")
    return id_, obj


class _BadLine(WorkerError):
    def __init__(self, id_: Any, message: str) -> None:
        super().__init__("bad_request", message)
        self.id = id_


BadLine = _BadLine
