"""T2I-Adapter single files: the UNet's residual slots, the adapter type they call for (SD1's full_adapter, SDXL's
full_adapter_xl, the tiny UNets' xl arrangement), TencentARC's original layout round trip, and files that do not fit."""

from __future__ import annotations

import unittest

import torch

from mgen_runtime.protocol import WorkerError
from mgen_runtime.t2i_adapter import derive_config, fits, to_diffusers, unet_slots
from mgen_runtime.tiny_t2i import to_original

SD1_UNET = {"down_block_types": ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"], "block_out_channels": [320, 640, 1280, 1280]}
SDXL_UNET = {"down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"], "block_out_channels": [320, 640, 1280]}
TINY_UNET = {"down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"], "block_out_channels": [32, 64]}


def adapter_state(in_channels: int, channels: list[int], factor: int, kind: str) -> dict[str, torch.Tensor]:
    from diffusers import T2IAdapter

    with torch.device("meta"):
        return T2IAdapter(in_channels=in_channels, channels=channels, num_res_blocks=2, downscale_factor=factor, adapter_type=kind).state_dict()


class SlotsTest(unittest.TestCase):
    def test_residual_slots_of_the_real_and_tiny_unets(self) -> None:
        self.assertEqual(unet_slots(SD1_UNET), [(320, 1), (640, 2), (1280, 4), (1280, 8)])
        self.assertEqual(unet_slots(SDXL_UNET), [(320, 2), (640, 2), (1280, 4)])
        self.assertEqual(unet_slots(TINY_UNET), [(32, 2), (64, 2)])

    def test_released_adapter_configs_fit_their_unets_only(self) -> None:
        sd1 = {"adapter_type": "full_adapter", "channels": [320, 640, 1280, 1280], "downscale_factor": 8}
        xl = {"adapter_type": "full_adapter_xl", "channels": [320, 640, 1280, 1280], "downscale_factor": 16}
        self.assertTrue(fits(sd1, unet_slots(SD1_UNET), 8))
        self.assertTrue(fits(xl, unet_slots(SDXL_UNET), 8))
        self.assertFalse(fits(sd1, unet_slots(SDXL_UNET), 8))
        self.assertFalse(fits(xl, unet_slots(SD1_UNET), 8))


class SingleFileTest(unittest.TestCase):
    def test_original_layout_round_trip_and_derived_types(self) -> None:
        for unet, vae, channels, factor, kind, in_channels in (
            (SD1_UNET, 8, [320, 640, 1280, 1280], 8, "full_adapter", 3),
            (SD1_UNET, 8, [320, 640, 1280, 1280], 8, "full_adapter", 1),  # canny / sketch: one grey channel
            (SDXL_UNET, 8, [320, 640, 1280, 1280], 16, "full_adapter_xl", 3),
            (TINY_UNET, 2, [32, 64], 4, "full_adapter_xl", 3),
        ):
            with self.subTest(kind=kind, channels=channels, in_channels=in_channels):
                state = adapter_state(in_channels, channels, factor, kind)
                original = to_original(state, 2)
                self.assertTrue(all(not k.startswith("adapter.") for k in original))
                back, per_level = to_diffusers(original, "a.safetensors")
                self.assertEqual(sorted(back), sorted(state))
                config = derive_config(back, per_level, unet_slots(unet), vae, "a.safetensors")
                self.assertEqual(config, {"in_channels": in_channels, "channels": channels, "num_res_blocks": 2,
                                          "downscale_factor": factor, "adapter_type": kind})

    def test_an_adapter_for_another_unet_is_one_line(self) -> None:
        state = adapter_state(3, [320, 640, 1280, 1280], 16, "full_adapter_xl")
        with self.assertRaises(WorkerError) as err:
            derive_config(state, 2, unet_slots(SD1_UNET), 8, "xl.safetensors")
        self.assertRegex(err.exception.message, r"^xl\.safetensors: this T2I-Adapter's residuals \(.*\) do not fit the base model's UNet")

    def test_unknown_weights_are_refused(self) -> None:
        original = to_original(adapter_state(3, [32, 64], 4, "full_adapter_xl"), 2)
        original["body.0.skep.weight"] = torch.zeros(1)
        with self.assertRaises(WorkerError) as err:
            to_diffusers(original, "odd.pth")
        self.assertIn("body.0.skep.weight", err.exception.message)


class GenerateTest(unittest.TestCase):
    """The tiny SD1 adapter file on tiny-sd: the pipeline, progress through the adapter pipeline's older per-step
    callback, and the request checks."""

    @classmethod
    def setUpClass(cls) -> None:
        import json

        from mgen_runtime import plans
        from tests.support import scratch_dir, sd_plan, tiny

        folder = tiny("tiny-sd-t2i-adapter")
        path = folder / json.loads((folder / "mgen-tiny.json").read_text())["file"]
        cls.loaded = plans.load(sd_plan(t2i_adapter={"path": str(path), "single_file": True, "scale": 0.5}))
        cls.out = scratch_dir()
        from PIL import Image

        cls.control = str(cls.out / "control.png")
        Image.new("RGB", (64, 64), (255, 255, 255)).save(cls.control)

    def run_request(self, events: list | None = None, **over):
        import threading

        from mgen_runtime import generate

        req = {"prompt": "a cube", "width": 64, "height": 64, "steps": 3, "seed": 1, "out_dir": str(self.out),
               "control_image": self.control, **over}
        sink = events if events is not None else []
        return generate.run(self.loaded, req, {"properties": {}}, lambda *a, **k: sink.append((a[:2], sorted(k))), threading.Event())

    def test_adapter_pipeline_with_the_plan_scale_and_step_progress(self) -> None:
        self.assertEqual(type(self.loaded.pipe).__name__, "StableDiffusionAdapterPipeline")
        self.assertTrue(hasattr(self.loaded.pipe, "load_lora_weights"))  # a request's LoRAs load as on SD1's own pipeline
        self.assertEqual(self.loaded.pipe._mgen_t2i_scale, 0.5)
        events: list = []
        self.run_request(events, previews=1)
        # PNDM runs 4 loop iterations for 3 steps: progress still counts 1, 2, 3 (the first with a preview).
        self.assertEqual(events, [((1, 3), ["preview"]), ((2, 3), []), ((3, 3), [])])

    def test_request_checks(self) -> None:
        for over, message in (({"control_image": None}, r"^request\.control_image: the loaded T2I-Adapter needs a control image$"),
                              ({"image": self.control}, r"^request\.image: .* text-to-image only$"),
                              ({"width": 66}, r"^request\.width: 66 is not a multiple of 4, which this T2I-Adapter needs \(try 64 or 68\)$")):
            with self.subTest(over=over), self.assertRaises(WorkerError) as err:
                self.run_request(**over)
            self.assertEqual(err.exception.type, "bad_params")
            self.assertRegex(err.exception.message, message)


if __name__ == "__main__":
    unittest.main()
