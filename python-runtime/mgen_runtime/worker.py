"""`python -u -m mgen_runtime.worker`: the JSON-lines worker loop of docs/worker-protocol.md.

A reader thread takes stdin lines: it answers malformed lines and `cancel` itself (so a cancel lands while
a generate runs) and queues everything else; the main thread handles the queue one request at a time.
stdin EOF cancels whatever runs and ends the process with status 0, so a dead CLI never leaves a worker.
"""

from __future__ import annotations

import io
import logging
import queue
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

from . import PROTOCOL_VERSION
from .protocol import BadLine, ProtocolWriter, WorkerError, claim_stdout, from_exception, parse_request

_EOF = object()
# Imported in the background once `hello` is answered (see Worker.preload).
PRELOAD = ("diffusers", "transformers")
# The verbs that import these libraries themselves: they wait for the background import first, so that two threads never
# import at once (interleaved imports of one package from two threads can deadlock on its module locks). `upscale`
# imports spandrel, with a torchvision stand-in in sys.modules meanwhile that transformers' import must not see.
_NEEDS_LIBRARIES = frozenset({"load", "schema", "generate", "upscale"})


def _import_quietly(names: tuple[str, ...]) -> None:
    import importlib

    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - `load` imports it again and reports the failure as a typed answer
            return


@dataclass
class _Job:
    id: str
    request: dict[str, Any]
    cancel: threading.Event = field(default_factory=threading.Event)


class Worker:
    def __init__(self, writer: ProtocolWriter) -> None:
        self.out = writer
        self.jobs: queue.Queue[Any] = queue.Queue()
        self.lock = threading.Lock()
        self.pending: dict[str, _Job] = {}  # queued or running jobs, by id (for cancel)
        self.loaded: Any = None
        self.schema: dict[str, Any] | None = None
        self.preload: threading.Thread | None = None

    # reader thread --------------------------------------------------------
    def read_loop(self, stream) -> None:
        try:
            for line in stream:
                if not line.strip():
                    continue
                try:
                    id_, req = parse_request(line)
                except BadLine as err:
                    self.out.error(err.id, err)
                    continue
                if req["verb"] == "cancel":
                    self._cancel(id_, req.get("target"))
                    continue
                job = _Job(id_, req)
                with self.lock:
                    self.pending[id_] = job
                self.jobs.put(job)
        except (BrokenPipeError, OSError, ValueError) as exc:  # stdout or stdin gone: the CLI is gone
            print(f"mgen worker: stopping, {type(exc).__name__}: {exc}", file=sys.stderr)
        finally:
            # stdin EOF (or a dead pipe): stop whatever runs, then let the main loop end the process.
            with self.lock:
                for job in self.pending.values():
                    job.cancel.set()
            self.jobs.put(_EOF)

    def _cancel(self, id_: str, target: Any) -> None:
        with self.lock:
            job = self.pending.get(target) if isinstance(target, str) else None
            found = job is not None and job.request.get("verb") == "generate"
        # Answer before raising the flag, so the cancel's answer always precedes the generate's `cancelled` one.
        self.out.ok(id_, {"cancelled": found})
        if found and job is not None:
            job.cancel.set()

    # main thread ----------------------------------------------------------
    def serve(self) -> int:
        while True:
            job = self.jobs.get()
            if job is _EOF:
                return 0
            try:
                result = self.handle(job)
            except WorkerError as err:
                self.out.error(job.id, err)
            except Exception as exc:  # noqa: BLE001 - never die on one request
                fallback = {"load": "load_failed", "generate": "generation_failed"}.get(job.request["verb"], "bad_request")
                self.out.error(job.id, from_exception(exc, fallback))
            else:
                self.out.ok(job.id, result)
                if job.request["verb"] == "shutdown":
                    return 0
            finally:
                with self.lock:
                    self.pending.pop(job.id, None)

    def handle(self, job: _Job) -> dict[str, Any]:
        verb = job.request["verb"]
        if verb == "hello":
            from .info import hello_info

            info = hello_info()
            self._start_preload()
            return info
        if verb in _NEEDS_LIBRARIES and self.preload is not None:
            self.preload.join()
        if verb == "load":
            from . import plans

            from . import quiet

            self._unload()
            quiet.libraries()
            self.loaded = plans.load(job.request.get("plan"))
            return self.loaded.result()
        if verb == "schema":
            return {"schema": self._schema()}
        if verb == "generate":
            from . import generate

            if job.cancel.is_set():
                raise WorkerError("cancelled", "generation cancelled before it started")
            from .adapters import request_adapters

            schema = self._schema()
            with request_adapters(self.loaded, job.request.get("request")):  # per-request LoRAs, off again after
                return generate.run(self.loaded, job.request.get("request"), schema,
                                    lambda step, steps, image, **extra: self.out.progress(job.id, step, steps, image=image, **extra), job.cancel)
        if verb == "upscale":
            from . import upscale

            return upscale.run(job.request.get("params") or {})
        if verb == "unload":
            self._unload()
            return {}
        if verb == "shutdown":
            return {}
        raise WorkerError("bad_request", f"unknown verb {verb!r}; known: hello, load, schema, generate, upscale, cancel, unload, shutdown")

    def _start_preload(self) -> None:
        """After `hello` (torch is imported by then) import diffusers and transformers while the CLI is still resolving
        the model: `hello` goes out as soon as the worker starts, and a pull or a base fetch can keep `load` away for
        seconds to minutes, which the imports (seconds of CPU) would otherwise follow instead of overlap."""
        if self.preload is None:
            self.preload = threading.Thread(target=_import_quietly, args=(PRELOAD,), name="mgen-preload", daemon=True)
            self.preload.start()

    def _schema(self) -> dict[str, Any]:
        if self.loaded is None:
            raise WorkerError("not_loaded", "no model is loaded; send `load` first")
        if self.schema is None:
            from .schema import call_schema

            self.schema = call_schema(self.loaded.pipe)
        return self.schema

    def _unload(self) -> None:
        if self.loaded is None:
            return
        self.loaded = None
        self.schema = None
        import gc

        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass


def main() -> int:
    from . import quiet

    quiet.early()  # before any library import: no LOAD REPORT tables, tqdm bars or advisory warnings on stderr
    protocol_stream = claim_stdout()
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    writer = ProtocolWriter(protocol_stream)
    worker = Worker(writer)
    writer.send({"event": "ready", "protocol": PROTOCOL_VERSION})
    # Undecodable bytes become U+FFFD (and then a bad_request for that line), never a dead reader.
    stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
    reader = threading.Thread(target=worker.read_loop, args=(stdin,), name="mgen-stdin", daemon=True)
    reader.start()
    try:
        return worker.serve()
    except BrokenPipeError:
        return 0  # nobody reads the answers any more: the CLI is gone
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    # Library threads (tokenizers, torch pools) must not keep a finished worker alive.
    import os

    os._exit(code)
