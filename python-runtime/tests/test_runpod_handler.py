"""The RunPod handler's job side without the SDK: a real Runner on the tiny model, the async handler cancelled
the way the SDK stops a job (task.cancel()), progress and timeouts, the pipeline-parameter merge."""

from __future__ import annotations

import asyncio
import threading
import time
import unittest

from tests.support import sd_plan

from mgen_runtime.a1111 import lora_short_hash, model_slug, parameters_text
from mgen_runtime.runpod_handler import Runner, make_handler, merge_pipeline_params

SCHEMA = {"type": "object", "required": ["prompt"], "properties": {"prompt": {"type": "string"}}}


class MergeTest(unittest.TestCase):
    def test_pipeline_params_join_at_the_top_and_under_params_except_the_mapped_ones(self) -> None:
        pipe = {"properties": {"eta": {"type": "number"}, "prompt": {"type": "integer"}, "width": {"type": "integer"}}, "$defs": {"X": {}}}
        ours = {"type": "object", "properties": {"prompt": {"type": "string"}, "params": {"type": "object", "additionalProperties": False, "properties": {}}}}
        merged = merge_pipeline_params(ours, pipe, ["prompt", "width"])
        self.assertEqual(merged["properties"]["eta"], {"type": "number"})
        self.assertEqual(merged["properties"]["prompt"], {"type": "string"})
        self.assertNotIn("width", merged["properties"])
        self.assertEqual(merged["properties"]["params"]["properties"], {"eta": {"type": "number"}})
        self.assertEqual(merged["$defs"], {"X": {}})
        self.assertEqual(ours["properties"]["params"]["properties"], {})  # the input is not changed
        self.assertIs(merge_pipeline_params(ours, pipe, None), ours)  # a complete (baked) schema stays as it is


class A1111Test(unittest.TestCase):
    def test_the_parameters_text_matches_the_cli_writer(self) -> None:
        text = parameters_text(prompt="a cat", negative_prompt="dog", steps=20, scheduler="EulerDiscreteScheduler", guidance_scale=7.0,
                               seed=5, width=512, height=768, model_hash="0123456789", model_name="my model",
                               strength=None, loras=[("a", "0123456789ab")])
        self.assertEqual(text, 'a cat\nNegative prompt: dog\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 5, Size: 512x768, '
                               'Model hash: 0123456789, Model: my model, Lora hashes: "a: 0123456789ab", Version: mgen')
        self.assertEqual(model_slug("org/repo/sd_xl.safetensors"), "sd_xl")

    def test_lora_tags_and_ti_hashes_match_the_cli_writer(self) -> None:
        from mgen_runtime.a1111 import lora_tag_name

        text = parameters_text(prompt="a cat, tinytok", negative_prompt=None, steps=4, scheduler=None, guidance_scale=7, seed=1,
                               width=64, height=64, loras=[("lora", "0123456789ab"), ("style", "ba9876543210")],
                               lora_tags=[("builtin:tiny-sd-lora-kohya", 0.8), ("style", 1.0)], ti_hashes=[("tinytok", "aabbccddeeff")])
        self.assertEqual(text, 'a cat, tinytok <lora:builtin:tiny-sd-lora-kohya:0.8> <lora:style:1>\nSteps: 4, Sampler: Default, CFG scale: 7, '
                               'Seed: 1, Size: 64x64, TI hashes: "tinytok: aabbccddeeff", Lora hashes: "lora: 0123456789ab, style: ba9876543210", '
                               'Version: mgen')
        self.assertEqual(lora_tag_name("civitai:12@34"), "civitai:12@34")
        self.assertEqual(lora_tag_name("org/detail"), "org/detail")
        self.assertEqual(lora_tag_name("/srv/models/detail.safetensors"), "detail")

    def test_lora_short_hash_covers_the_tensors_not_the_header(self) -> None:
        import hashlib
        import json
        import struct
        import tempfile
        from pathlib import Path

        def write(path: Path, meta: dict, data: bytes) -> None:
            header = json.dumps({"__metadata__": meta, "w": {"dtype": "U8", "shape": [len(data)], "data_offsets": [0, len(data)]}}).encode()
            path.write_bytes(struct.pack("<Q", len(header)) + header + data)

        with tempfile.TemporaryDirectory() as d:
            a, b, c = Path(d, "a.safetensors"), Path(d, "b.safetensors"), Path(d, "c.safetensors")
            write(a, {"name": "one"}, b"\x01\x02\x03\x04")
            write(b, {"name": "another name"}, b"\x01\x02\x03\x04")
            write(c, {"name": "one"}, b"\x01\x02\x03\x05")
            self.assertEqual(lora_short_hash(a), hashlib.sha256(b"\x01\x02\x03\x04").hexdigest()[:12])
            self.assertEqual(lora_short_hash(a), lora_short_hash(b))  # metadata edits keep the hash
            self.assertNotEqual(lora_short_hash(a), lora_short_hash(c))
            pt = Path(d, "x.pt")
            pt.write_bytes(b"whole file")
            self.assertEqual(lora_short_hash(pt), hashlib.sha256(b"whole file").hexdigest()[:12])
        self.assertEqual(model_slug("builtin:tiny-sd"), "tiny-sd")


class RunnerTest(unittest.TestCase):
    runner: Runner

    @classmethod
    def setUpClass(cls) -> None:
        cls.runner = Runner({"model_id": "builtin:tiny-sd", "plan": sd_plan(), "request_schema": SCHEMA}, env={})

    def test_an_sdk_cancel_stops_the_pipeline_at_the_next_step(self) -> None:
        steps: list[int] = []
        first = threading.Event()

        def progress_update(_job, info) -> None:
            steps.append(info["step"])
            first.set()

        handler = make_handler(self.runner, progress_update)

        async def scenario() -> None:
            task = asyncio.ensure_future(handler({"id": "j1", "input": {"prompt": "x", "steps": 150, "width": 128, "height": 128, "seed": 1}}))
            while not first.is_set():
                await asyncio.sleep(0.01)
            task.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await task

        asyncio.run(scenario())
        # The generation thread stops at its next step and lets go of the pipeline.
        self.assertTrue(self.runner.lock.acquire(timeout=60))
        self.runner.lock.release()
        time.sleep(0.2)
        self.assertLess(max(steps), 150)

    def test_a_job_over_its_timeout_ends_with_a_clean_error(self) -> None:
        out = self.runner.answer({"prompt": "x", "steps": 150, "width": 128, "height": 128, "timeout": 0.2})
        self.assertRegex(out["error"], r"^timeout: the job ran past its 0\.2 s limit")
        self.assertIn("images", self.runner.answer({"prompt": "x", "steps": 1, "width": 64, "height": 64}))

    def test_progress_reports_first_and_last_step(self) -> None:
        seen: list[dict] = []
        out = self.runner.run({"prompt": "x", "steps": 3, "width": 64, "height": 64, "seed": 2}, progress=seen.append)
        self.assertEqual(out["timings"]["model_loads"], 1)
        # PNDM runs one loop iteration more than the steps asked for (PLMS warm-up): the loop's count is reported.
        total = seen[0]["steps"]
        self.assertGreaterEqual(total, 3)
        self.assertEqual(seen[0], {"step": 1, "steps": total, "image": 0, "images": 1})
        self.assertEqual(seen[-1], {"step": total, "steps": total, "image": 0, "images": 1})


if __name__ == "__main__":
    unittest.main()
