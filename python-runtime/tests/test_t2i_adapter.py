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


if __name__ == "__main__":
    unittest.main()
