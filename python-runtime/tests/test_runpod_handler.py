"""The RunPod handler as an adapter without the SDK or a model: a loopback stand-in for `mgen serve`'s job routes
(POST /run, the job's event stream, DELETE) checks what the handler forwards, that serve's errors come back word
for word, that an SDK cancel (task.cancel()) and a job's timeout become a DELETE, and that progress is relayed."""

from __future__ import annotations

import asyncio
import json
import threading
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from mgen_runtime.runpod_handler import JobFailed, Serve, job_output, make_handler, run_job


class FakeServe:
    """Jobs: a prompt 'bad' is refused (400); 'hang' runs until DELETE; anything else reports 2 steps and completes."""

    def __init__(self) -> None:
        self.posted: list[dict] = []
        self.deleted: list[str] = []
        self.cancelled: dict[str, threading.Event] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args) -> None:  # noqa: D401 - quiet
                pass

            def answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                fake.posted.append(body)
                job_id = f"j{len(fake.posted)}"
                if body["input"].get("prompt") == "bad":
                    return self.answer(200, {"id": job_id, "status": "FAILED", "error": "width: must be multiple of 8"})
                if body["input"].get("prompt") == "full":
                    return self.answer(429, {"error": {"message": "the queue is full (32 waiting)", "type": "queue_full", "param": None}})
                fake.cancelled[job_id] = threading.Event()
                self.answer(200, {"id": job_id, "status": "IN_QUEUE"})

            def do_DELETE(self) -> None:
                job_id = self.path.split("/")[-1]
                fake.deleted.append(job_id)
                fake.cancelled[job_id].set()
                self.answer(200, {"id": job_id, "status": "cancelled"})

            def do_GET(self) -> None:
                job_id = self.path.split("/")[3]
                prompt = fake.posted[int(job_id[1:]) - 1]["input"]["prompt"]
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.end_headers()
                send = lambda i, ev, data: self.wfile.write(f"id: {i}\nevent: {ev}\ndata: {json.dumps(data)}\n\n".encode())  # noqa: E731
                self.wfile.write(b"retry: 3000\n\n: keep-alive\n\n")
                send(1, "status", {"id": job_id, "status": "running"})
                if prompt == "hang":
                    fake.cancelled[job_id].wait(30)
                    send(2, "done", {"id": job_id, "status": "cancelled", "error": {"message": "job cancelled"}})
                    return
                send(2, "progress", {"step": 1, "steps": 2})
                send(3, "progress", {"step": 2, "steps": 2})
                send(4, "done", {"id": job_id, "status": "completed", "output": {"images": [{"b64_json": "AA==", "seed": 3}]}})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.serve = Serve(f"http://127.0.0.1:{self.server.server_address[1]}")

    def close(self) -> None:
        self.server.shutdown()


class AdapterTest(unittest.TestCase):
    fake: FakeServe

    @classmethod
    def setUpClass(cls) -> None:
        cls.fake = FakeServe()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.fake.close()

    def test_forwards_the_input_and_returns_serves_output(self) -> None:
        seen: list[dict] = []
        out = run_job(self.fake.serve, {"prompt": "ok", "width": 64}, progress=seen.append)
        self.assertEqual(out, {"images": [{"b64_json": "AA==", "seed": 3}]})
        self.assertEqual(self.fake.posted[-1], {"input": {"prompt": "ok", "width": 64}})
        self.assertEqual(seen, [{"step": 1, "steps": 2}, {"step": 2, "steps": 2}])

    def test_fails_with_serves_own_message(self) -> None:
        with self.assertRaisesRegex(JobFailed, r"^width: must be multiple of 8$"):
            run_job(self.fake.serve, {"prompt": "bad"})
        out = asyncio.run(make_handler(self.fake.serve, env={})({"id": "x", "input": {"prompt": "bad"}}))
        self.assertEqual(out, {"error": "width: must be multiple of 8"})
        with self.assertRaisesRegex(JobFailed, r"^the queue is full \(32 waiting\)$"):
            run_job(self.fake.serve, {"prompt": "full"})

    def test_handles_its_own_fields_before_serve(self) -> None:
        for job_input, message in [("x", "input: must be an object"), ({"prompt": "x", "timeout": -1}, "timeout: must be a number"),
                                   ({"prompt": "x", "response_format": "url"}, "response_format: only b64_json")]:
            with self.assertRaisesRegex(JobFailed, f"^{message}"):
                run_job(self.fake.serve, job_input)

    def test_a_job_over_its_timeout_is_stopped_in_serve(self) -> None:
        with self.assertRaisesRegex(JobFailed, r"^timeout: the job ran past its 0\.2 s limit and was stopped$"):
            run_job(self.fake.serve, {"prompt": "hang", "timeout": 0.2})
        self.assertEqual(self.fake.deleted[-1], f"j{len(self.fake.posted)}")

    def test_an_sdk_cancel_deletes_the_job_in_serve(self) -> None:
        handler = make_handler(self.fake.serve, env={})

        async def scenario() -> None:
            n = len(self.fake.posted)
            task = asyncio.ensure_future(handler({"id": "j", "input": {"prompt": "hang"}}))
            while len(self.fake.posted) == n:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)
            task.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await task

        asyncio.run(scenario())
        for _ in range(300):
            if self.fake.deleted and self.fake.deleted[-1] == f"j{len(self.fake.posted)}":
                break
            threading.Event().wait(0.01)
        self.assertEqual(self.fake.deleted[-1], f"j{len(self.fake.posted)}")

    def test_without_a_bucket_the_output_is_serves_and_a_half_set_bucket_fails_the_job(self) -> None:
        out = asyncio.run(make_handler(self.fake.serve, env={})({"id": "x", "input": {"prompt": "ok"}}))
        self.assertEqual(out["images"], [{"b64_json": "AA==", "seed": 3}])
        env = {"BUCKET_ENDPOINT_URL": "http://127.0.0.1:9", "BUCKET_ACCESS_KEY_ID": "AKID"}
        out = asyncio.run(make_handler(self.fake.serve, env=env)({"id": "x", "input": {"prompt": "ok"}}))
        self.assertEqual(out, {"error": "bucket: BUCKET_ENDPOINT_URL is set but BUCKET_SECRET_ACCESS_KEY is not"})
        with self.assertRaisesRegex(JobFailed, r"^bucket: BUCKET_ENDPOINT_URL is set but BUCKET_ACCESS_KEY_ID and BUCKET_SECRET_ACCESS_KEY are not$"):
            job_output({"images": []}, "x", {"BUCKET_ENDPOINT_URL": "http://127.0.0.1:9"})


if __name__ == "__main__":
    unittest.main()
