"""Quantized file readers (quant_bnb, quant_files), the FLUX name converters and --quantize on CPU, against
reference quantizations written here or in quant_tiny (independent of the loaders)."""

from __future__ import annotations

import json
import tempfile
import unittest
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tests import support  # noqa: F401 - puts python-runtime on sys.path
from mgen_runtime import quant_bnb, quant_files, quant_load, quant_tiny
from mgen_runtime.protocol import WorkerError


def reference_dequant(parts: dict[str, np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    """bitsandbytes' documented blockwise dequantization, written out with numpy."""
    state = json.loads(bytes(parts[".quant_state.bitsandbytes__" + ("nf4" if ".quant_state.bitsandbytes__nf4" in parts else "fp4")]).decode())
    packed = parts[""].reshape(-1)
    codes = np.stack([packed >> 4, packed & 0xF], axis=-1).reshape(-1)[: int(np.prod(shape))]
    absmax = parts[".absmax"].astype(np.float32)
    if "nested_blocksize" in state:
        nb = state["nested_blocksize"]
        absmax = parts[".nested_quant_map"][absmax.astype(np.int64)] * np.repeat(parts[".nested_absmax"], nb)[: absmax.size] + state["nested_offset"]
    scale = np.repeat(absmax, state["blocksize"])[: codes.size]
    return (parts[".quant_map"][codes] * scale).reshape(shape)


class FourBit(unittest.TestCase):
    def _check(self, quant_type: str, nested: bool) -> None:
        rng = np.random.default_rng(0)
        w = (rng.standard_normal((48, 40)) * 0.05).astype(np.float32)  # 1920 values: 30 blocks of 64
        parts = quant_tiny.quantize_4bit(w, quant_type, nested=nested)
        tensors = {"l.weight" + k: torch.from_numpy(v) for k, v in parts.items()}
        got = quant_bnb.dequantize_4bit(tensors, "l.weight", torch.float32).numpy()
        np.testing.assert_allclose(got, reference_dequant(parts, w.shape), rtol=1e-6, atol=1e-7)
        # 4 bits per value: close to the original, not equal.
        self.assertLess(np.abs(got - w).max(), 0.35 * np.abs(w).max())
        self.assertGreater(np.abs(got - w).max(), 0)

    def test_nf4(self) -> None:
        self._check("nf4", nested=False)

    def test_nf4_double_quantized(self) -> None:
        self._check("nf4", nested=True)

    def test_fp4(self) -> None:
        self._check("fp4", nested=False)

    def test_nf4_table_is_the_qlora_one(self) -> None:
        np.testing.assert_allclose(np.array(quant_bnb.NF4_CODE, np.float32), quant_tiny.NF4)
        self.assertEqual(len(set(quant_bnb.NF4_CODE)), 16)

    def test_missing_quant_state_is_an_invalid_model_before_loading(self) -> None:
        layer = torch.nn.Linear(64, 32)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "m.safetensors"
            quant_tiny.write_bnb4({"img_in.weight": layer.weight.data, "img_in.bias": layer.bias.data}, out, drop_state=True)
            with self.assertRaises(WorkerError) as ctx:
                quant_files.file_kind(out)
            self.assertEqual(ctx.exception.type, "invalid_model")
            self.assertIn("no quant_state/absmax", ctx.exception.message)


class Fp8(unittest.TestCase):
    def test_plain_and_scaled_fp8_upcast(self) -> None:
        w = torch.randn(16, 32) * 3
        state = {"img_in.weight": w, "img_in.bias": torch.zeros(16)}
        with tempfile.TemporaryDirectory() as tmp:
            from safetensors.torch import load_file

            for scaled in (False, True):
                out = Path(tmp) / f"{scaled}.safetensors"
                quant_tiny.write_fp8(state, out, scaled=scaled)
                self.assertEqual(quant_files.file_kind(out), "scaled-fp8" if scaled else "fp8")
                got = quant_files.upcast_fp8(load_file(str(out)), torch.float32)
                self.assertEqual(sorted(got), ["model.diffusion_model.img_in.bias", "model.diffusion_model.img_in.weight"])
                err = (got["model.diffusion_model.img_in.weight"] - w).abs().max().item()
                self.assertLess(err, 0.1 * w.abs().max().item())


class Gguf(unittest.TestCase):
    def test_q4_k_blocks_read_back_by_gguf(self) -> None:
        import gguf

        x = np.random.default_rng(1).standard_normal((4, 512)).astype(np.float32)
        back = gguf.quants.dequantize(quant_tiny.quantize_q4_k(x), gguf.GGMLQuantizationType.Q4_K)
        self.assertLess(np.abs(back - x).max(), 0.25 * np.abs(x).max())

    def test_truncated_file_is_an_invalid_model(self) -> None:
        layer = torch.nn.Linear(64, 32)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "m.gguf"
            quant_tiny.write_gguf({"img_in.weight": layer.weight.data, "img_in.bias": layer.bias.data}, out, "Q8_0")
            self.assertEqual(quant_files.file_kind(out), "gguf")
            self.assertEqual(quant_files.check_gguf(out), "flux")
            data = out.read_bytes()
            out.write_bytes(data[: len(data) // 2])
            with self.assertRaises(WorkerError) as ctx:
                quant_files.check_gguf(out)
            self.assertEqual(ctx.exception.type, "invalid_model")


class GgufTransformers(unittest.TestCase):
    """SD3 (Stability's MMDiT names, city96's `sd3` files) and Qwen-Image (diffusers' names, `qwen_image`) transformer
    GGUFs written by quant_tiny, loaded by quant_files.load_denoiser onto their config: every weight comes back
    close to the original, quantized ones not equal; the Linear layers stay GGUF (dequantized layer by layer)."""

    @staticmethod
    def _sd3() -> torch.nn.Module:
        from diffusers import SD3Transformer2DModel

        return SD3Transformer2DModel(sample_size=16, patch_size=2, in_channels=16, out_channels=16, num_layers=2,
                                     attention_head_dim=8, num_attention_heads=4, caption_projection_dim=32,
                                     joint_attention_dim=256, pooled_projection_dim=512, pos_embed_max_size=16)

    @staticmethod
    def _qwen() -> torch.nn.Module:
        from mgen_runtime import tiny  # noqa: F401 - tiny_dit is imported through tiny (their imports are circular)
        from mgen_runtime.tiny_dit import qwen_transformer

        return qwen_transformer()

    def _check(self, make: Any, kind: str, arch: str, quant: str) -> None:
        from diffusers.quantizers.gguf.utils import GGUFLinear, GGUFParameter, dequantize_gguf_tensor

        torch.manual_seed(0)
        model = make()
        want = model.state_dict()
        with tempfile.TemporaryDirectory() as tmp:
            model.save_pretrained(Path(tmp) / "transformer")
            out = Path(tmp) / f"m-{kind}.gguf"
            quant_tiny.write(kind, Path(tmp) / "transformer", out)
            self.assertEqual(quant_files.file_kind(out), "gguf")
            self.assertEqual(quant_files.check_gguf(out), arch)
            self.assertIn(quant, quant_files.gguf_types(out))
            loaded, note = quant_files.load_denoiser(type(model), out, "gguf", "cpu", torch.float32,
                                                     {"config": tmp, "subfolder": "transformer", "local_files_only": True})
        self.assertIn(f"GGUF weights (", note)
        self.assertIn(quant, note)
        got = loaded.state_dict()
        self.assertEqual(set(got), set(want))
        quantized = 0
        for k, w in want.items():
            g = got[k]
            if isinstance(g, GGUFParameter):
                quantized += 1
                g = dequantize_gguf_tensor(g)
            g = g.float().reshape(w.shape)
            scale = max(w.abs().max().item(), 1e-6)
            self.assertLess((g - w.float()).abs().max().item(), 0.2 * scale, k)
        self.assertGreater(quantized, 0)
        self.assertTrue(any(isinstance(m, GGUFLinear) for m in loaded.modules()))

    def test_sd3_q8_0(self) -> None:
        self._check(self._sd3, "gguf-q8_0", "sd3", "Q8_0")

    def test_sd3_q4_k(self) -> None:
        self._check(self._sd3, "gguf-q4_k", "sd3", "Q4_K")

    def test_qwen_image_q8_0(self) -> None:
        self._check(self._qwen, "gguf-q8_0", "qwen_image", "Q8_0")

    def test_qwen_image_q4_k(self) -> None:
        self._check(self._qwen, "gguf-q4_k", "qwen_image", "Q4_K")

    def test_comfy_prefix_is_dropped(self) -> None:
        import gguf

        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "p.gguf"
            w = gguf.GGUFWriter(str(out), arch="qwen_image")
            w.add_tensor("model.diffusion_model.img_in.weight", np.ones((4, 32), np.float32))
            w.write_header_to_file()
            w.write_kv_data_to_file()
            w.write_tensors_to_file()
            w.close()
            self.assertEqual(list(quant_files.gguf_state(out, "QwenImageTransformer2DModel")), ["img_in.weight"])


class FluxNames(unittest.TestCase):
    def test_original_names_match_diffusers_converter_at_full_width(self) -> None:
        from diffusers import FluxTransformer2DModel
        from diffusers.loaders.single_file_utils import convert_flux_transformer_checkpoint_to_diffusers

        # FLUX.1's width (24 heads x 128; diffusers' converter assumes it), one block of each kind. Each tensor keeps
        # its rows (what the converters split and reorder) but one column, filled with distinct values, so a
        # mis-paired name or a wrong split shows as different values at no memory cost.
        with torch.device("meta"):
            model = FluxTransformer2DModel(in_channels=64, num_layers=1, num_single_layers=1, attention_head_dim=128,
                                           num_attention_heads=24, joint_attention_dim=64, pooled_projection_dim=32,
                                           guidance_embeds=True)
        sd, start = {}, 0
        for k, v in sorted(model.state_dict().items()):
            rows = v.shape[0]
            sd[k] = torch.arange(start, start + rows, dtype=torch.float32).reshape((rows, 1) if v.ndim > 1 else (rows,))
            start += rows
        original = quant_tiny.flux_to_original(sd)
        theirs = convert_flux_transformer_checkpoint_to_diffusers(dict(original))
        ours = quant_files.original_to_flux(dict(original))
        for got in (theirs, ours):
            self.assertEqual(set(got), set(sd))
            for k in sd:
                self.assertTrue(torch.equal(got[k], sd[k]), k)

    def test_values_round_trip_at_a_tiny_width(self) -> None:
        from diffusers import FluxTransformer2DModel

        torch.manual_seed(0)
        model = FluxTransformer2DModel(in_channels=64, num_layers=1, num_single_layers=1, attention_head_dim=8,
                                       num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=16, axes_dims_rope=[2, 2, 4])
        sd = model.state_dict()
        back = quant_files.original_to_flux({quant_tiny.PREFIX + k: v for k, v in quant_tiny.flux_to_original(sd).items()})
        self.assertEqual(set(back), set(sd))
        for k in sd:
            self.assertTrue(torch.equal(back[k], sd[k]), k)


class QuantizeAtLoad(unittest.TestCase):
    class Pipe:
        def __init__(self) -> None:
            self.transformer = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.GELU(), torch.nn.Linear(64, 64))

    def test_int8_and_fp8_on_cpu_through_torchao(self) -> None:
        for mode in ("int8", "fp8"):
            pipe = self.Pipe()
            x = torch.randn(2, 64)
            want = pipe.transformer(x)
            note = quant_load.quantize(pipe, mode, "cpu", torch.float32)
            self.assertIn(f"quantized to {mode} weight-only by torchao", note or "")
            got = pipe.transformer(x)
            self.assertLess((got - want).abs().max().item(), 0.1)

    def test_nf4_on_cpu_is_refused(self) -> None:
        with self.assertRaises(WorkerError) as ctx:
            quant_load.quantize(self.Pipe(), "nf4", "cpu", torch.float32)
        self.assertEqual(ctx.exception.type, "bad_request")

    def test_oom_answer_names_the_next_plan(self) -> None:
        err = quant_load.with_next_plan(WorkerError("out_of_memory", "out of memory: CUDA out of memory"), {"memory": "gpu", "memory_next": "--memory sequential or --quantize nf4"})
        self.assertTrue(err.message.endswith("(memory plan gpu); try --memory sequential or --quantize nf4"))


if __name__ == "__main__":
    unittest.main()
