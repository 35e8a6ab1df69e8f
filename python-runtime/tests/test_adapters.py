"""The per-request LoRA cache (mgen_runtime.adapters) on a real tiny pipeline: activate, restore, reuse, evict."""

from __future__ import annotations

import threading
import unittest

from tests.support import pixel_digest, scratch_dir, sd_plan, tiny

from mgen_runtime.adapters import AdapterCache, adapter_name, cache_for, capacity_from_env, normalize_loras, request_adapters
from mgen_runtime.protocol import WorkerError


def lora_file(name: str) -> str:
    return str(tiny(name) / ("tiny-sd-lora-kohya.safetensors" if name.endswith("kohya") else "pytorch_lora_weights.safetensors"))


class NormalizeTest(unittest.TestCase):
    def test_paths_are_made_absolute_and_scale_defaults_to_1(self) -> None:
        self.assertEqual(normalize_loras(None), [])
        out = normalize_loras([{"path": "/x/../y.safetensors"}, {"path": "/z", "scale": 0}])
        self.assertEqual(out, [{"path": "/y.safetensors", "scale": 1.0}, {"path": "/z", "scale": 0.0}])

    def test_bad_entries_name_the_index(self) -> None:
        for raw, where in (("a", "request.loras"), ([{"scale": 1}], "loras[0].path"), ([{"path": "/a"}, {"path": "/b", "scale": "x"}], "loras[1].scale"),
                           ([{"path": "/a"}, {"path": "/a"}], "loras[1]")):
            with self.assertRaises(WorkerError) as ctx:
                normalize_loras(raw)
            self.assertEqual(ctx.exception.type, "bad_params")
            self.assertIn(where, ctx.exception.message)

    def test_capacity_from_env(self) -> None:
        self.assertEqual(capacity_from_env({}), 8)
        self.assertEqual(capacity_from_env({"MGEN_MAX_LORAS": "2"}), 2)
        self.assertEqual(capacity_from_env({"MGEN_MAX_LORAS": "0"}), 1)
        self.assertEqual(capacity_from_env({"MGEN_MAX_LORAS": "lots"}), 8)

    def test_adapter_names_are_stable_identifiers(self) -> None:
        self.assertEqual(adapter_name("/a/b.safetensors"), adapter_name("/a/b.safetensors"))
        self.assertNotEqual(adapter_name("/a/b.safetensors"), adapter_name("/a/c.safetensors"))
        self.assertTrue(adapter_name("/a/b.c").isidentifier())


class PipelineAdaptersTest(unittest.TestCase):
    """One tiny sd1 pipeline; images of 2 steps at 64x64, compared by decoded pixels."""

    @classmethod
    def setUpClass(cls) -> None:
        from mgen_runtime import plans
        from mgen_runtime.schema import call_schema

        cls.loaded = plans.load(sd_plan())
        cls.schema = call_schema(cls.loaded.pipe)
        cls.kohya = lora_file("tiny-sd-lora-kohya")
        cls.peft = lora_file("tiny-sd-lora-peft")

    def generate(self, loras: list[dict] | None = None, loaded=None) -> str:
        from mgen_runtime import generate

        loaded = loaded or self.loaded
        req = {"prompt": "a red cube", "steps": 2, "width": 64, "height": 64, "seed": 7, "out_dir": str(scratch_dir())}
        if loras is not None:
            req["loras"] = loras
        with request_adapters(loaded, req):
            out = generate.run(loaded, req, self.schema, lambda *_: None, threading.Event())
        return pixel_digest(out["images"][0]["path"])

    def test_a_request_lora_changes_the_image_and_the_next_request_gets_the_base_pixels_again(self) -> None:
        base = self.generate()
        with_lora = self.generate([{"path": self.kohya, "scale": 1.0}])
        self.assertNotEqual(with_lora, base)
        self.assertEqual(self.generate(), base)
        self.assertEqual(self.generate([{"path": self.kohya, "scale": 0.0}]), base)
        self.assertEqual(self.generate([{"path": self.kohya, "scale": 1.0}]), with_lora)
        self.assertEqual(self.generate(), base)

    def test_a_cached_adapter_is_not_read_again_and_the_least_recently_used_one_is_evicted(self) -> None:
        cache = AdapterCache(self.loaded.pipe, [], capacity=1)
        saved, self.loaded.adapters = self.loaded.adapters, cache
        try:
            cache.activate([{"path": self.kohya, "scale": 1.0}])
            cache.deactivate()
            cache.activate([{"path": self.kohya, "scale": 0.5}])
            cache.deactivate()
            self.assertEqual((cache.loads, cache.evictions), (1, 0))
            cache.activate([{"path": self.peft, "scale": 1.0}])
            cache.deactivate()
            self.assertEqual((cache.loads, cache.evictions), (2, 1))
            present = {n for names in self.loaded.pipe.get_list_adapters().values() for n in names}
            self.assertNotIn(adapter_name(self.kohya), present)
            self.assertIn(adapter_name(self.peft), present)
            # Two in one request exceed the cap of 1: both are held for the request.
            cache.activate([{"path": self.kohya, "scale": 1.0}, {"path": self.peft, "scale": 1.0}])
            self.assertEqual(len(cache.loaded), 2)
            cache.deactivate()
        finally:
            for name in list(cache.loaded.values()):
                self.loaded.pipe.delete_adapters([name])
            self.loaded.adapters = saved

    def test_a_file_that_is_not_a_lora_is_bad_params_and_leaves_the_pipeline_as_it_was(self) -> None:
        base = self.generate()
        bad = scratch_dir() / "not-a-lora.safetensors"
        from safetensors.torch import save_file
        import torch

        save_file({"foo.weight": torch.zeros(2, 2)}, str(bad))
        with self.assertRaises(WorkerError) as ctx:
            self.generate([{"path": str(bad), "scale": 1.0}])
        self.assertEqual(ctx.exception.type, "bad_params")
        self.assertIn("loras[0]", ctx.exception.message)
        self.assertEqual(self.generate(), base)

    def test_the_plans_own_loras_stay_on_around_request_loras(self) -> None:
        from mgen_runtime import plans

        loaded = plans.load(sd_plan(loras=[{"path": self.peft, "scale": 1.0, "name": "l0"}]))
        always = self.generate(loaded=loaded)
        both = self.generate([{"path": self.kohya, "scale": 1.0}], loaded=loaded)
        self.assertNotEqual(both, always)
        self.assertEqual(self.generate(loaded=loaded), always)
        self.assertEqual(cache_for(loaded).base, [("l0", 1.0)])


if __name__ == "__main__":
    unittest.main()
