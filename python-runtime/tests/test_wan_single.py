"""wan_single.py: the original-name writer is the inverse of diffusers' Wan converter (t2v and i2v transformers), and
city96's reshaped GGUF tensors come back in their real shape."""

from __future__ import annotations

import tempfile
import unittest
from pathlib import Path

import torch

from mgen_runtime import quant_files, quant_tiny, wan_single


def _transformer(i2v: bool):
    from diffusers import WanTransformer3DModel

    torch.manual_seed(0)
    extra = {"image_dim": 8, "added_kv_proj_dim": 32, "in_channels": 36} if i2v else {"in_channels": 16}
    return WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16, out_channels=16,
                                 text_dim=32, freq_dim=32, ffn_dim=64, num_layers=2, cross_attn_norm=True,
                                 qk_norm="rms_norm_across_heads", rope_max_seq_len=32, **extra)


class WanOriginalNames(unittest.TestCase):
    def test_round_trip_through_diffusers_converter(self) -> None:
        for i2v in (False, True):
            with self.subTest(i2v=i2v):
                state = _transformer(i2v).state_dict()
                original = wan_single.wan_to_original(state)
                wan_single.check_round_trip(original, state)  # raises when a name does not come back
                self.assertIn("blocks.0.self_attn.q.weight", original)
                self.assertIn("head.modulation", original)
                self.assertIn("blocks.1.norm3.weight", original)  # diffusers' norm2: the cross-attention norm
                self.assertTrue(wan_single.is_wan_original(original))
                if i2v:
                    self.assertIn("img_emb.proj.1.weight", original)
                    self.assertIn("blocks.0.cross_attn.k_img.weight", original)

    def test_gguf_state_restores_the_5d_patch_embedding(self) -> None:
        state = _transformer(False).state_dict()
        original = {k: v.contiguous() for k, v in wan_single.wan_to_original(state).items()}
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "t-Q8_0.gguf"
            quant_tiny.write_gguf(original, out, "q8_0", arch="wan")
            got = quant_files.gguf_state(out, "WanTransformer3DModel")
        self.assertEqual(tuple(got["patch_embedding.weight"].shape), (32, 16, 1, 2, 2))
        self.assertLess(float((got["patch_embedding.weight"] - original["patch_embedding.weight"]).abs().max()), 0.05)
        self.assertEqual(getattr(got["blocks.0.self_attn.q.weight"], "quant_type", None).name, "Q8_0")


if __name__ == "__main__":
    unittest.main()
