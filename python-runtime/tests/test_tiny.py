"""The tiny-model builder: manifests, determinism, the command line."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import unittest

from tests.support import RUNTIME_ROOT, scratch_dir, tiny


def digest(folder) -> dict[str, str]:
    """Per file: sha256 of the bytes, or for safetensors of the tensors and metadata (safetensors writes its
    metadata map in no fixed order, so equal files can differ in header bytes)."""
    from safetensors import safe_open

    out = {}
    for p in sorted(folder.rglob("*")):
        if not p.is_file():
            continue
        h = hashlib.sha256()
        if p.suffix == ".safetensors":
            with safe_open(str(p), "pt") as f:
                h.update(json.dumps(f.metadata(), sort_keys=True).encode())
                for key in sorted(f.keys()):
                    t = f.get_tensor(key)
                    h.update(f"{key}{t.dtype}{tuple(t.shape)}".encode())
                    h.update(t.contiguous().view(-1).view(dtype=__import__("torch").uint8).numpy().tobytes())
        else:
            h.update(p.read_bytes())
        out[str(p.relative_to(folder))] = h.hexdigest()
    return out


class TinyTest(unittest.TestCase):
    def test_tiny_sd_folder_says_sd1_pipeline_and_is_small(self) -> None:
        folder = tiny("tiny-sd")
        index = json.loads((folder / "model_index.json").read_text())
        self.assertEqual(index["_class_name"], "StableDiffusionPipeline")
        self.assertEqual(index["text_encoder"], ["transformers", "CLIPTextModel"])
        self.assertEqual(index["unet"], ["diffusers", "UNet2DConditionModel"])
        manifest = json.loads((folder / "mgen-tiny.json").read_text())
        self.assertEqual((manifest["name"], manifest["layout"], manifest["family"]), ("tiny-sd", "diffusers-folder", "sd1"))
        self.assertIn("unet/diffusion_pytorch_model.safetensors", manifest["files"])
        # The CLIP-L-wide (768) text encoder is ~11 MiB of it; the UNet and VAE stay a few MiB.
        self.assertLess(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()), 24 * 2**20)

    def test_builds_are_deterministic(self) -> None:
        from mgen_runtime.tiny import build

        again = scratch_dir() / "ti"
        build("tiny-sd-ti", again)
        self.assertEqual(digest(again), digest(tiny("tiny-sd-ti")))
        lora = scratch_dir() / "lora"
        build("tiny-sd-lora-kohya", lora)
        self.assertEqual(digest(lora), digest(tiny("tiny-sd-lora-kohya")))

    def test_lora_files_use_their_formats_naming(self) -> None:
        from safetensors import safe_open

        with safe_open(str(tiny("tiny-sd-lora-kohya") / "tiny-sd-lora-kohya.safetensors"), "pt") as f:
            keys = list(f.keys())
        self.assertTrue(any(k.startswith("lora_unet_") and k.endswith(".lora_down.weight") for k in keys))
        self.assertTrue(any(k.startswith("lora_te_text_model_encoder_layers_") for k in keys))
        with safe_open(str(tiny("tiny-sd-lora-peft") / "pytorch_lora_weights.safetensors"), "pt") as f:
            keys = list(f.keys())
        self.assertTrue(any(k.startswith("unet.") and k.endswith(".lora_A.weight") for k in keys))
        self.assertTrue(any(k.startswith("text_encoder.text_model.encoder.layers.") for k in keys))

    def test_command_line_rejects_unknown_names_and_non_empty_folders(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(RUNTIME_ROOT)}
        run = lambda *args: subprocess.run([sys.executable, "-m", "mgen_runtime.tiny", *args], capture_output=True, text=True,
                                           env=env, timeout=120)
        unknown = run("tiny-nope", str(scratch_dir()))
        self.assertEqual(unknown.returncode, 2)
        self.assertIn("unknown tiny model", unknown.stderr)
        self.assertEqual(unknown.stdout, "")
        busy = scratch_dir()
        (busy / "x").write_text("keep")
        taken = run("tiny-sd-ti", str(busy))
        self.assertEqual(taken.returncode, 2)
        self.assertEqual((busy / "x").read_text(), "keep")
        ok = run("tiny-sd-ti", str(scratch_dir() / "new"))
        self.assertEqual(ok.returncode, 0, ok.stderr)
        self.assertEqual(json.loads(ok.stdout)["name"], "tiny-sd-ti")


    def _run_one_step(self, name: str, pipeline: str, transformer: str, t5_slot: str) -> None:
        """Loads the tiny DiT folder with its own pipeline class (offline, from disk only) and runs one 64x64 step."""
        import diffusers
        import torch

        folder = tiny(name)
        index = json.loads((folder / "model_index.json").read_text())
        self.assertEqual(index["_class_name"], pipeline)
        self.assertEqual(index["transformer"], ["diffusers", transformer])
        self.assertEqual(index[t5_slot], ["transformers", "T5EncoderModel"])
        self.assertEqual(index["scheduler"], ["diffusers", "FlowMatchEulerDiscreteScheduler"])
        manifest = json.loads((folder / "mgen-tiny.json").read_text())
        self.assertEqual((manifest["name"], manifest["pipeline"]), (name, pipeline))
        self.assertLess(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()), 48 * 2**20)
        pipe = getattr(diffusers, pipeline).from_pretrained(str(folder), torch_dtype=torch.float32, local_files_only=True)
        pipe.set_progress_bar_config(disable=True)
        # The real families' 8x VAE: with 2x2 patches an image side is a multiple of 16, as mgen's validator says.
        self.assertEqual(pipe.vae_scale_factor, 8)
        # The T5 tokenizer was built in code: it must come back from disk as a fast T5 tokenizer that ends with </s>.
        t5_tok = pipe.tokenizer_2 if t5_slot == "text_encoder_2" else pipe.tokenizer_3
        from transformers import T5TokenizerFast

        self.assertIsInstance(t5_tok, T5TokenizerFast)  # in transformers 5 T5Tokenizer is the tokenizers-backed class
        self.assertTrue(t5_tok.is_fast)
        self.assertEqual(t5_tok("a red cube").input_ids[-1], t5_tok.eos_token_id)

        def once(seed: int):
            return pipe("a red cube", width=64, height=64, num_inference_steps=1, max_sequence_length=16,
                        generator=torch.Generator("cpu").manual_seed(seed), output_type="np").images

        a = once(1)
        self.assertEqual(a.shape, (1, 64, 64, 3))
        self.assertTrue(((a >= 0) & (a <= 1)).all())
        self.assertTrue((once(1) == a).all())
        self.assertFalse((once(2) == a).all())

    def test_tiny_flux_loads_with_flux_pipeline_and_runs_a_step(self) -> None:
        self._run_one_step("tiny-flux", "FluxPipeline", "FluxTransformer2DModel", "text_encoder_2")

    def test_tiny_sd3_loads_with_sd3_pipeline_and_runs_a_step(self) -> None:
        self._run_one_step("tiny-sd3", "StableDiffusion3Pipeline", "SD3Transformer2DModel", "text_encoder_3")

if __name__ == "__main__":
    unittest.main()
