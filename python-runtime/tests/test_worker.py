"""The worker protocol over a real subprocess: JSON lines in, answers/events out, real diffusers on CPU."""

from __future__ import annotations

import json
import unittest
from pathlib import Path

from tests.support import WorkerClient, scratch_dir, sd_plan
from tests.support import pixel_digest as png_pixels


class LightWorkerTest(unittest.TestCase):
    """Protocol behaviour that needs no model (and so no torch import)."""

    def setUp(self) -> None:
        self.w = WorkerClient()
        self.addCleanup(self.w.kill)

    def test_ready_first_then_bad_lines_are_answered_and_the_worker_keeps_going(self) -> None:
        self.assertEqual(self.w.next_line(60), {"event": "ready", "protocol": 1})
        self.w.send_raw("{not json")
        bad = self.w.next_line()
        self.assertEqual((bad["id"], bad["ok"], bad["error"]["type"]), (None, False, "bad_request"))
        self.assertNotIn("\n", bad["error"]["message"])
        self.w.send_raw('{"verb": "hello"}')
        self.assertEqual(self.w.next_line()["error"]["type"], "bad_request")
        assert self.w.proc.stdin is not None
        self.w.proc.stdin.buffer.write(b'{"id": "\xff\xfe", "verb": 3}\n')  # not UTF-8, and a bad verb
        self.w.proc.stdin.flush()
        self.assertEqual(self.w.next_line()["error"]["type"], "bad_request")
        self.w.send_raw('["a list"]')
        self.assertEqual(self.w.next_line()["error"]["type"], "bad_request")
        unknown = self.w.call("paint")
        self.assertEqual(unknown["error"]["type"], "bad_request")
        self.assertIn("paint", unknown["error"]["message"])
        self.assertEqual(self.w.call("schema")["error"]["type"], "not_loaded")
        gen = self.w.call("generate", request={"prompt": "x", "out_dir": "/tmp"})
        self.assertEqual(gen["error"]["type"], "not_loaded")
        self.assertEqual(self.w.call("cancel", target="nothing-running")["result"], {"cancelled": False})
        self.assertEqual(self.w.call("shutdown")["result"], {})
        self.assertEqual(self.w.wait(), 0)

    def test_stdin_eof_ends_the_worker_with_status_0(self) -> None:
        self.assertEqual(self.w.next_line(60)["event"], "ready")
        self.w.close_stdin()
        self.assertEqual(self.w.wait(), 0)


class LoadedWorkerTest(unittest.TestCase):
    """One worker with the tiny sd1 model loaded, shared by the tests of this class."""

    w: WorkerClient

    @classmethod
    def setUpClass(cls) -> None:
        plan = sd_plan()  # builds tiny-sd in this process before the worker starts
        cls.w = WorkerClient()
        assert cls.w.next_line(60)["event"] == "ready"
        cls.hello = cls.w.call("hello")
        cls.load = cls.w.call("load", plan=plan)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.w.close_stdin()
        code = cls.w.wait(60)
        cls.w.kill()
        assert code == 0, f"worker exited {code} on stdin EOF"
        for line in cls.w.raw:  # stdout carried protocol lines only
            json.loads(line)

    def generate(self, **request) -> tuple[dict, list[dict]]:
        out = scratch_dir()
        req = {"prompt": "a cat", "steps": 2, "seed": 7, "num_images": 1, "out_dir": str(out), "file_stem": "img", **request}
        events: list[dict] = []
        return self.w.answer(self.w.send("generate", request=req), events=events), events

    def test_hello_reports_versions_and_device(self) -> None:
        result = self.hello["result"]
        self.assertEqual(result["protocol"], 1)
        for key in ("python", "torch", "diffusers", "transformers"):
            self.assertIsInstance(result[key], str, key)
        self.assertEqual(result["device"], "cpu")
        import torch

        self.assertEqual(result["threads"], torch.get_num_threads())  # this process and the worker share the env
        self.assertGreaterEqual(result["threads"], 1)

    def test_load_reports_the_pipeline_and_components(self) -> None:
        self.assertTrue(self.load["ok"], self.load)
        result = self.load["result"]
        self.assertEqual(result["pipeline"], "StableDiffusionPipeline")
        self.assertEqual((result["device"], result["dtype"], result["offload"]), ("cpu", "float32", "none"))
        self.assertEqual(result["components"]["unet"], "UNet2DConditionModel")
        self.assertEqual(result["components"]["text_encoder"], "CLIPTextModel")

    def test_schema_describes_call_parameters_without_tensors_or_callbacks(self) -> None:
        schema = self.w.call("schema")["result"]["schema"]
        self.assertEqual(schema["$schema"], "https://json-schema.org/draft/2020-12/schema")
        self.assertFalse(schema["additionalProperties"])
        props = schema["properties"]
        self.assertEqual(props["guidance_scale"]["type"], "number")
        self.assertEqual(props["num_inference_steps"]["default"], 50)
        self.assertIn({"type": "null"}, props["clip_skip"]["anyOf"])
        for gone in ("generator", "latents", "prompt_embeds", "callback_on_step_end", "output_type", "ip_adapter_image"):
            self.assertNotIn(gone, props)

    def test_generate_writes_pngs_with_text_chunks_and_reports_seeds(self) -> None:
        texts = [{"parameters": "a cat\nSteps: 2, Seed: 7", "mgen": json.dumps({"n": 0})}, {"parameters": "snow ☃ é", "mgen": "{}"}]
        answer, events = self.generate(num_images=2, png_text=texts)
        self.assertTrue(answer["ok"], answer)
        result = answer["result"]
        self.assertEqual([i["seed"] for i in result["images"]], [7, 8])
        from PIL import Image

        for n, item in enumerate(result["images"]):
            self.assertEqual(Path(item["path"]).name, f"img-{n}.png")
            with Image.open(item["path"]) as im:
                self.assertEqual(im.size, (64, 64))
                self.assertEqual((item["width"], item["height"]), im.size)
                self.assertEqual(im.text["parameters"], texts[n]["parameters"])
                self.assertEqual(im.text["mgen"], texts[n]["mgen"])
        self.assertEqual(sorted(p.name for p in Path(result["images"][0]["path"]).parent.iterdir()), ["img-0.png", "img-1.png"])
        progress = [e for e in events if e.get("event") == "progress"]
        # PNDM runs one extra PLMS warm-up iteration (2 requested steps are 3 loop iterations): progress still counts
        # the 2 steps asked for, per image, the last one at the end of the loop.
        self.assertEqual([(e["step"], e["steps"], e["image"]) for e in progress],
                         [(1, 2, 0), (2, 2, 0), (1, 2, 1), (2, 2, 1)])
        self.assertEqual(result["timings"]["steps"], 2)
        self.assertGreater(result["timings"]["total_s"], 0)
        # The per-phase breakdown adds up to no more than the total, and the pipeline calls take most of it.
        phases = result["timings"]["phases"]
        self.assertEqual(sorted(phases), ["decode_s", "pipeline_s", "png_s", "prepare_s"])
        self.assertLessEqual(phases["prepare_s"] + phases["pipeline_s"] + phases["png_s"], result["timings"]["total_s"] + 1e-3)
        self.assertGreater(phases["pipeline_s"], phases["png_s"])
        self.assertLessEqual(phases["decode_s"], phases["pipeline_s"])
        self.assertNotEqual(png_pixels(result["images"][0]["path"]), png_pixels(result["images"][1]["path"]))

    def test_same_seed_same_pixels_other_seed_other_pixels(self) -> None:
        a, _ = self.generate(seed=123)
        b, _ = self.generate(seed=123)
        c, _ = self.generate(seed=124)
        pa, pb, pc = (png_pixels(x["result"]["images"][0]["path"]) for x in (a, b, c))
        self.assertEqual(pa, pb)
        self.assertNotEqual(pa, pc)

    def test_second_image_of_a_batch_equals_a_single_image_with_its_seed(self) -> None:
        batch, _ = self.generate(seed=40, num_images=2)
        single, _ = self.generate(seed=41)
        self.assertEqual(png_pixels(batch["result"]["images"][1]["path"]), png_pixels(single["result"]["images"][0]["path"]))

    def test_scheduler_swap_by_class_name_changes_pixels_and_unknown_is_rejected(self) -> None:
        base, _ = self.generate(seed=3)
        euler, _ = self.generate(seed=3, scheduler="EulerDiscreteScheduler")
        self.assertTrue(euler["ok"], euler)
        self.assertEqual(euler["result"]["metadata"]["scheduler"], "EulerDiscreteScheduler")
        self.assertNotEqual(png_pixels(base["result"]["images"][0]["path"]), png_pixels(euler["result"]["images"][0]["path"]))
        again, _ = self.generate(seed=3)  # no scheduler named: back to the model's own
        self.assertEqual(png_pixels(base["result"]["images"][0]["path"]), png_pixels(again["result"]["images"][0]["path"]))
        bad, _ = self.generate(scheduler="NoSuchScheduler")
        self.assertEqual(bad["error"]["type"], "bad_params")

    def test_scheduler_config_overrides_change_pixels_are_reported_and_checked(self) -> None:
        plain, _ = self.generate(seed=5, scheduler="DPMSolverMultistepScheduler")
        karras, _ = self.generate(seed=5, scheduler="DPMSolverMultistepScheduler", scheduler_config={"use_karras_sigmas": True})
        self.assertTrue(karras["ok"], karras)
        self.assertEqual(karras["result"]["metadata"]["scheduler_config"], {"use_karras_sigmas": True})
        self.assertEqual(plain["result"]["metadata"]["scheduler_config"], {})
        again, _ = self.generate(seed=5, scheduler="DPMSolverMultistepScheduler", scheduler_config={"use_karras_sigmas": True})
        sde, _ = self.generate(seed=5, scheduler="DPMSolverMultistepScheduler", scheduler_config={"algorithm_type": "sde-dpmsolver++"})
        px = [png_pixels(x["result"]["images"][0]["path"]) for x in (plain, karras, again, sde)]
        self.assertNotEqual(px[0], px[1])
        self.assertEqual(px[1], px[2])
        self.assertNotEqual(px[0], px[3])
        back, _ = self.generate(seed=5, scheduler="DPMSolverMultistepScheduler")  # overrides do not stick
        self.assertEqual(px[0], png_pixels(back["result"]["images"][0]["path"]))
        unknown, _ = self.generate(scheduler="EulerDiscreteScheduler", scheduler_config={"beta_start": 0.5})
        self.assertEqual(unknown["error"]["type"], "bad_params")
        self.assertIn("beta_start", unknown["error"]["message"])
        unsupported, _ = self.generate(scheduler="LCMScheduler", scheduler_config={"use_karras_sigmas": True})
        self.assertEqual(unsupported["error"]["type"], "bad_params")
        self.assertIn("LCMScheduler", unsupported["error"]["message"])

    def test_unknown_param_is_rejected_listing_the_valid_ones(self) -> None:
        answer, _ = self.generate(params={"bogus_knob": 1})
        self.assertFalse(answer["ok"])
        self.assertEqual(answer["error"]["type"], "bad_params")
        self.assertIn("bogus_knob", answer["error"]["message"])
        self.assertIn("eta", answer["error"]["message"])
        self.assertIn("clip_skip", answer["error"]["message"])
        wrong_type, _ = self.generate(params={"eta": "high"})
        self.assertEqual(wrong_type["error"]["type"], "bad_params")
        dup, _ = self.generate(params={"num_inference_steps": 3})
        self.assertEqual(dup["error"]["type"], "bad_params")

    def test_known_param_reaches_the_pipeline(self) -> None:
        plain, _ = self.generate(seed=9)
        skipped, _ = self.generate(seed=9, params={"clip_skip": 1})
        self.assertTrue(skipped["ok"], skipped)
        self.assertNotEqual(png_pixels(plain["result"]["images"][0]["path"]), png_pixels(skipped["result"]["images"][0]["path"]))

    def test_pipeline_input_check_is_bad_params(self) -> None:
        answer, _ = self.generate(width=65, height=64)
        self.assertEqual(answer["error"]["type"], "bad_params", answer)
        self.assertTrue(answer["error"]["detail"].startswith("Traceback"))

    def test_cancel_mid_generation(self) -> None:
        out = scratch_dir()
        gid = self.w.send("generate", request={"prompt": "a cat", "steps": 500, "seed": 1, "out_dir": str(out), "file_stem": "c"})
        first = self.w.next_line()
        self.assertEqual((first.get("id"), first.get("event")), (gid, "progress"))
        cid = self.w.send("cancel", target=gid)
        events: list[dict] = []
        answer = self.w.answer(gid, events=events)
        self.assertFalse(answer["ok"])
        self.assertEqual(answer["error"]["type"], "cancelled")
        cancel_answers = [e for e in events if e.get("id") == cid]
        self.assertEqual(cancel_answers, [{"id": cid, "ok": True, "result": {"cancelled": True}}])
        steps = [e["step"] for e in events if e.get("event") == "progress"]
        self.assertLess(max(steps, default=1), 100)  # stopped within a few steps, not at 500
        self.assertEqual(list(out.iterdir()), [])  # nothing half-written
        after, _ = self.generate()  # the worker still serves
        self.assertTrue(after["ok"], after)

    def test_missing_input_image_is_bad_params(self) -> None:
        answer, _ = self.generate(image="/nonexistent/input.png")
        self.assertEqual(answer["error"]["type"], "bad_params")


if __name__ == "__main__":
    unittest.main()


class QuietWorkerTest(unittest.TestCase):
    """A passing load + generate leaves stderr clean (no LOAD REPORT tables, tqdm bars, warnings) unless debugging."""

    def run_worker(self, **extra_env: str) -> str:
        import os

        from mgen_runtime.quiet import _ENV

        plan = sd_plan()
        # The environment of a plain shell: none of the switches this test process may have set for itself.
        env = {k: v for k, v in os.environ.items() if k not in _ENV and k not in ("MGEN_DEBUG", "MGEN_WORKER_VERBOSE")}
        w = WorkerClient(env={**env, **extra_env})
        self.addCleanup(w.kill)
        self.assertEqual(w.next_line(60)["event"], "ready")
        self.assertTrue(w.call("load", plan=plan)["ok"])
        answer = w.call("generate", request={"prompt": "a cat", "steps": 2, "seed": 1, "out_dir": str(scratch_dir()), "file_stem": "q"})
        self.assertTrue(answer["ok"], answer)
        w.close_stdin()
        self.assertEqual(w.wait(60), 0)
        return "".join(w.stderr)

    def test_stderr_stays_empty_on_a_passing_run_and_mgen_debug_brings_the_chatter_back(self) -> None:
        self.assertEqual(self.run_worker(), "")
        chatty = self.run_worker(MGEN_DEBUG="1")
        self.assertRegex(chatty, r"LOAD REPORT|%\||Warning")


class PreloadTest(unittest.TestCase):
    """`hello` starts importing diffusers and transformers in the background; the verbs that need them wait for it."""

    def test_hello_starts_the_background_import_and_library_verbs_wait_for_it(self) -> None:
        import threading

        from mgen_runtime import worker as worker_mod

        class Writer:
            def progress(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
                pass

        w = worker_mod.Worker(Writer())  # type: ignore[arg-type]
        self.assertIsNone(w.preload)
        w.handle(worker_mod._Job("1", {"verb": "hello"}))
        self.assertIsInstance(w.preload, threading.Thread)
        self.assertEqual(w.preload.name, "mgen-preload")
        first = w.preload
        w.handle(worker_mod._Job("2", {"verb": "hello"}))
        self.assertIs(w.preload, first)  # once per worker
        # `schema` without a model still waits for the import before it answers not_loaded.
        with self.assertRaises(worker_mod.WorkerError):
            w.handle(worker_mod._Job("3", {"verb": "schema"}))
        self.assertFalse(first.is_alive())
        import sys

        for name in worker_mod.PRELOAD:
            self.assertIn(name, sys.modules)
        # upscale too: spandrel imports beside a stand-in torchvision that the background import must not see.
        self.assertEqual(worker_mod._NEEDS_LIBRARIES, {"load", "schema", "generate", "upscale"})
