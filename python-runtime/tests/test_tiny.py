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
        self.assertLess(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()), 10 * 2**20)

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


if __name__ == "__main__":
    unittest.main()
