"""FLUX.1 / Chroma transformer weights between diffusers' names and Black Forest Labs' original layout: a narrow
transformer survives the round trip exactly, the names are BFL's, and files of the real width are left to diffusers."""

from __future__ import annotations

import tempfile
import unittest
from pathlib import Path

import torch

import tests.support  # noqa: F401 - puts the runtime on sys.path
from mgen_runtime.bfl_layout import DIFFUSERS_BFL_WIDTH, bfl_to_flux, flux_to_bfl, narrow_bfl_state


def tiny_flux():
    from diffusers import FluxTransformer2DModel

    torch.manual_seed(0)
    return FluxTransformer2DModel(patch_size=1, in_channels=16, num_layers=2, num_single_layers=2, attention_head_dim=8,
                                  num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=16,
                                  guidance_embeds=True, axes_dims_rope=[2, 2, 4])


class BflLayoutTest(unittest.TestCase):
    def test_round_trip_is_exact_and_uses_bfl_names(self) -> None:
        model = tiny_flux()
        state = model.state_dict()
        bfl = flux_to_bfl(state)
        self.assertIn("double_blocks.1.img_attn.qkv.weight", bfl)
        self.assertIn("single_blocks.1.linear1.weight", bfl)
        self.assertIn("guidance_in.in_layer.weight", bfl)
        self.assertIn("final_layer.adaLN_modulation.1.weight", bfl)
        self.assertFalse(any(k.startswith(("transformer_blocks.", "x_embedder")) for k in bfl))
        back = bfl_to_flux(bfl, 16, 64)
        self.assertEqual(sorted(back), sorted(state))
        for k, v in state.items():
            self.assertTrue(torch.equal(back[k], v), k)

    def test_narrow_files_are_converted_and_real_width_ones_left_to_diffusers(self) -> None:
        from safetensors.torch import save_file

        model = tiny_flux()
        with tempfile.TemporaryDirectory() as tmp:
            path = str(Path(tmp) / "t.safetensors")
            save_file({k: v.contiguous() for k, v in flux_to_bfl(model.state_dict()).items()}, path)
            config = dict(model.config)
            converted = narrow_bfl_state(path, config)
            self.assertIsNotNone(converted)
            self.assertEqual(sorted(converted), sorted(model.state_dict()))
            real = {**config, "num_attention_heads": 24, "attention_head_dim": 128}
            self.assertEqual(24 * 128, DIFFUSERS_BFL_WIDTH)
            self.assertIsNone(narrow_bfl_state(path, real))
            # diffusers-named files are not BFL files
            save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path)
            self.assertIsNone(narrow_bfl_state(path, config))


if __name__ == "__main__":
    unittest.main()
