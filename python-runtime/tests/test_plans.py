"""Load plans executed in-process against tiny models: single file, adapters, ControlNet, tasks, pickle policy."""

from __future__ import annotations

import json
import threading
import unittest
from pathlib import Path

from tests.support import png_pixels, scratch_dir, sd_plan, tiny


def generate(loaded, **request) -> dict:
    from mgen_runtime import generate as gen
    from mgen_runtime.schema import call_schema

    req = {"prompt": "a cat", "steps": 2, "seed": 11, "out_dir": str(scratch_dir()), "file_stem": "t", **request}
    return gen.run(loaded, req, call_schema(loaded.pipe), lambda *a: None, threading.Event())


def pixels(result: dict, n: int = 0) -> str:
    import hashlib

    return hashlib.sha256(png_pixels(result["images"][n]["path"])).hexdigest()


_BASE: dict[str, str] = {}


def base_pixels() -> str:
    """Pixels of the plain tiny sd1 model at the default request (computed once per test process)."""
    if "sd" not in _BASE:
        _BASE["sd"] = pixels(generate(load()))
    return _BASE["sd"]


def load(**plan):
    from mgen_runtime import plans

    return plans.load(sd_plan(**plan))


class SingleFileTest(unittest.TestCase):
    def test_ldm_single_file_loads_with_the_same_weights_and_pixels_as_the_folder(self) -> None:
        single = tiny("tiny-sd-single")
        manifest = json.loads((single / "mgen-tiny.json").read_text())
        loaded = load(strategy="single-file", path=str(single / manifest["file"]), config_repo=str(single / "config"))
        self.assertEqual(loaded.result()["pipeline"], "StableDiffusionPipeline")
        folder = load(path=str(single / "config"))
        for name in ("unet", "vae", "text_encoder"):
            a, b = getattr(loaded.pipe, name).state_dict(), getattr(folder.pipe, name).state_dict()
            self.assertEqual(sorted(a), sorted(b), name)
            self.assertTrue(all(a[k].equal(b[k]) for k in a), name)
        self.assertEqual(pixels(generate(loaded)), pixels(generate(folder)))

    def test_ldm_keys_are_the_original_layout(self) -> None:
        from safetensors import safe_open

        with safe_open(str(tiny("tiny-sd-single") / "tiny-sd.safetensors"), "pt") as f:
            keys = list(f.keys())
        prefixes = {k.split(".")[0] for k in keys}
        self.assertEqual(prefixes, {"model", "first_stage_model", "cond_stage_model"})
        self.assertIn("model.diffusion_model.input_blocks.0.0.weight", keys)
        self.assertIn("model.diffusion_model.middle_block.1.transformer_blocks.0.attn2.to_k.weight", keys)
        self.assertIn("first_stage_model.decoder.mid.attn_1.q.weight", keys)
        self.assertIn("cond_stage_model.transformer.text_model.final_layer_norm.weight", keys)

    def test_component_file_replaces_the_unet_from_a_single_file(self) -> None:
        from safetensors.torch import load_file, save_file

        single = tiny("tiny-sd-single")
        unet_only = scratch_dir() / "unet.safetensors"
        save_file({k: v for k, v in load_file(str(single / "tiny-sd.safetensors")).items() if k.startswith("model.diffusion_model.")},
                  str(unet_only))
        loaded = load(strategy="component-file", path=str(unet_only), component="unet", base_path=str(single / "config"))
        self.assertEqual(loaded.result()["components"]["unet"], "UNet2DConditionModel")
        self.assertEqual(len(generate(loaded)["images"]), 1)


class AdapterTest(unittest.TestCase):
    def _lora(self, name: str, file: str) -> str:
        return str(tiny(name) / file)

    def check_lora(self, path: str) -> None:
        base = base_pixels()
        off = load(loras=[{"path": path, "scale": 0.0, "name": "x"}])
        on = load(loras=[{"path": path, "scale": 1.0, "name": "x"}])
        self.assertEqual(pixels(generate(off)), base)
        self.assertNotEqual(pixels(generate(on)), base)

    def test_kohya_lora_scale_0_is_the_base_and_scale_1_differs(self) -> None:
        self.check_lora(self._lora("tiny-sd-lora-kohya", "tiny-sd-lora-kohya.safetensors"))

    def test_peft_lora_scale_0_is_the_base_and_scale_1_differs(self) -> None:
        self.check_lora(self._lora("tiny-sd-lora-peft", "pytorch_lora_weights.safetensors"))

    def test_textual_inversion_adds_its_token_and_changes_the_prompt(self) -> None:
        ti = tiny("tiny-sd-ti")
        loaded = load(embeddings=[{"path": str(ti / "tiny-sd-ti.safetensors"), "token": "<tinyti>"}])
        vocab = loaded.pipe.tokenizer.get_vocab()
        self.assertIn("<tinyti>", vocab)
        with_token = pixels(generate(loaded, prompt="a <tinyti> cat"))
        without = pixels(generate(loaded, prompt="a cat"))
        self.assertNotEqual(with_token, without)

    def test_controlnet_pipeline_generates_and_the_control_image_matters(self) -> None:
        from PIL import Image

        loaded = load(controlnet={"path": str(tiny("tiny-sd-controlnet")), "single_file": False})
        self.assertEqual(loaded.result()["pipeline"], "StableDiffusionControlNetPipeline")
        folder = scratch_dir()
        black, white = folder / "black.png", folder / "white.png"
        Image.new("RGB", (64, 64), (0, 0, 0)).save(black)
        Image.new("RGB", (64, 64), (255, 255, 255)).save(white)
        a = pixels(generate(loaded, control_image=str(black)))
        b = pixels(generate(loaded, control_image=str(white)))
        self.assertNotEqual(a, b)


class TaskTest(unittest.TestCase):
    def setUp(self) -> None:
        from PIL import Image

        folder = scratch_dir()
        self.image, self.mask = folder / "in.png", folder / "mask.png"
        Image.radial_gradient("L").resize((64, 64)).convert("RGB").save(self.image)
        mask = Image.new("L", (64, 64), 0)
        mask.paste(255, (16, 16, 48, 48))
        mask.save(self.mask)

    def test_img2img_runs_and_strength_matters(self) -> None:
        loaded = load(task="image-to-image")
        self.assertEqual(loaded.result()["pipeline"], "StableDiffusionImg2ImgPipeline")
        low = generate(loaded, image=str(self.image), strength=0.5, steps=4)
        high = generate(loaded, image=str(self.image), strength=1.0, steps=4)
        self.assertEqual((low["images"][0]["width"], low["images"][0]["height"]), (64, 64))
        self.assertNotEqual(pixels(low), pixels(high))
        # The pipeline has no width/height: a requested size resizes the input instead.
        resized = generate(loaded, image=str(self.image), strength=0.5, steps=2, width=32, height=48)
        self.assertEqual((resized["images"][0]["width"], resized["images"][0]["height"]), (32, 48))

    def test_inpaint_runs_and_keeps_the_size(self) -> None:
        loaded = load(task="inpaint")
        self.assertEqual(loaded.result()["pipeline"], "StableDiffusionInpaintPipeline")
        out = generate(loaded, image=str(self.image), mask=str(self.mask), strength=1.0)
        self.assertEqual((out["images"][0]["width"], out["images"][0]["height"]), (64, 64))

    def test_txt2img_pipeline_runs_an_input_image_on_its_img2img_sibling(self) -> None:
        # A text-to-image load answers image requests with the image-to-image pipeline over the same components
        # (from_pipe: no reload), the same pixels as loading for image-to-image.
        loaded = load()
        self.assertEqual(loaded.result()["pipeline"], "StableDiffusionPipeline")
        sibling = generate(loaded, image=str(self.image), strength=0.5, steps=4)
        direct = generate(load(task="image-to-image"), image=str(self.image), strength=0.5, steps=4)
        self.assertEqual(pixels(sibling), pixels(direct))
        self.assertEqual(type(loaded.pipe).__name__, "StableDiffusionPipeline")  # the loaded pipeline itself is unchanged


class PickleTest(unittest.TestCase):
    def _pickled_lora(self) -> Path:
        import torch
        from safetensors.torch import load_file

        path = scratch_dir() / "lora.bin"
        torch.save(load_file(str(tiny("tiny-sd-lora-peft") / "pytorch_lora_weights.safetensors")), str(path))
        return path

    def test_pickle_weights_are_refused_without_allow_pickle(self) -> None:
        from mgen_runtime.protocol import WorkerError

        for plan in ({"strategy": "single-file", "path": str(scratch_dir() / "model.ckpt"), "config_repo": str(tiny("tiny-sd"))},
                     {"loras": [{"path": str(self._pickled_lora()), "scale": 1.0, "name": "p"}]}):
            with self.assertRaises(WorkerError) as ctx:
                load(**plan)
            self.assertEqual(ctx.exception.type, "unsafe_model")

    def test_pickle_only_folder_is_refused(self) -> None:
        import shutil

        from mgen_runtime.protocol import WorkerError

        folder = scratch_dir() / "pickled"
        shutil.copytree(tiny("tiny-sd"), folder)
        for f in list(folder.rglob("*.safetensors")):
            f.rename(f.with_name(f.name.replace(".safetensors", ".bin")))
        with self.assertRaises(WorkerError) as ctx:
            load(path=str(folder))
        self.assertEqual(ctx.exception.type, "unsafe_model")

    def test_allowed_pickle_loads_through_the_weights_only_loader(self) -> None:
        loaded = load(allow_pickle=True, loras=[{"path": str(self._pickled_lora()), "scale": 1.0, "name": "p"}])
        self.assertNotEqual(pixels(generate(loaded)), base_pixels())

    def test_weights_only_loader_refuses_code_in_an_allowed_pickle(self) -> None:
        import pickle

        from mgen_runtime.protocol import WorkerError

        path = scratch_dir() / "evil.pt"

        class Boom:
            def __reduce__(self):
                return (print, ("pwned",))

        with open(path, "wb") as fh:
            pickle.dump({"x": Boom()}, fh)
        with self.assertRaises(WorkerError) as ctx:
            load(allow_pickle=True, loras=[{"path": str(path), "scale": 1.0, "name": "e"}])
        self.assertEqual(ctx.exception.type, "unsafe_model")


    def test_a_refused_single_file_checkpoint_says_which_global_in_its_one_line_message(self) -> None:
        import os

        import torch
        from safetensors.torch import load_file

        from mgen_runtime.protocol import WorkerError

        single = tiny("tiny-sd-single")
        manifest = json.loads((single / "mgen-tiny.json").read_text())
        path = scratch_dir() / "evil.ckpt"

        class Boom:
            def __reduce__(self):
                return (os.system, ("true",))

        torch.save({"state_dict": load_file(str(single / manifest["file"])), "hook": Boom()}, str(path))
        with self.assertRaises(WorkerError) as ctx:
            load(strategy="single-file", path=str(path), config_repo=str(single / "config"), allow_pickle=True)
        self.assertEqual(ctx.exception.type, "unsafe_model")
        # diffusers wraps torch's refusal in "Unable to load weights from checkpoint file": the reason must survive.
        self.assertRegex(ctx.exception.message, r"^torch's weights-only loader refused a pickle file: .*GLOBAL \S*system")
        self.assertNotIn("Unable to load", ctx.exception.message)
        self.assertNotIn("\n", ctx.exception.message)


class OptionsTest(unittest.TestCase):
    def test_vae_override_tiling_and_offload_on_cpu(self) -> None:
        vae = tiny("tiny-sd") / "vae"
        loaded = load(vae={"path": str(vae), "single_file": False}, vae_tiling=True, offload="model")
        result = loaded.result()
        self.assertEqual(result["offload"], "none")  # nothing to offload to on a CPU-only machine
        self.assertEqual(result["components"]["vae"], "AutoencoderKL")
        self.assertTrue(loaded.pipe.vae.use_tiling)
        self.assertEqual(pixels(generate(loaded)), base_pixels())  # same VAE weights, tiling inactive at 64x64

    def test_single_file_vae_override_in_ldm_names(self) -> None:
        from safetensors.torch import load_file, save_file

        from mgen_runtime.ldm import vae_to_ldm

        single = tiny("tiny-sd-single")
        vae = load_file(str(single / "config" / "vae" / "diffusion_pytorch_model.safetensors"))
        vae = {k: v + 0.25 if k == "decoder.conv_out.bias" else v for k, v in vae.items()}  # tell it from the checkpoint's own
        path = scratch_dir() / "vae.safetensors"
        save_file({k.removeprefix("first_stage_model."): v.contiguous() for k, v in vae_to_ldm(vae).items()}, str(path))
        loaded = load(strategy="single-file", path=str(single / "tiny-sd.safetensors"), config_repo=str(single / "config"),
                      vae={"path": str(path), "single_file": True})
        state = loaded.pipe.vae.state_dict()
        self.assertEqual(sorted(state), sorted(vae))
        self.assertTrue(all(state[k].equal(vae[k]) for k in vae))

    def test_half_precision_falls_back_to_float32_on_cpu(self) -> None:
        loaded = load(dtype="float16")
        self.assertEqual(loaded.result()["dtype"], "float32")
        self.assertEqual(str(loaded.pipe.unet.dtype), "torch.float32")


class PlanValidationTest(unittest.TestCase):
    def test_malformed_plans_are_bad_requests_and_missing_paths_load_failed(self) -> None:
        from mgen_runtime.protocol import WorkerError

        for plan, kind in (({"strategy": "magic"}, "bad_request"), ({"dtype": "float8"}, "bad_request"),
                           ({"loras": "x"}, "bad_request"), ({"pipeline": "NoSuchPipeline"}, "load_failed"),
                           ({"path": "/nonexistent/model"}, "load_failed")):
            with self.subTest(plan=plan):
                with self.assertRaises(WorkerError) as ctx:
                    load(**plan)
                self.assertEqual(ctx.exception.type, kind)
                self.assertNotIn("\n", ctx.exception.message)


class FamilyTest(unittest.TestCase):
    def test_tiny_sdxl_folder_loads_and_generates(self) -> None:
        from mgen_runtime import plans

        folder = tiny("tiny-sdxl")
        index = json.loads((folder / "model_index.json").read_text())
        self.assertEqual(index["_class_name"], "StableDiffusionXLPipeline")
        self.assertEqual(index["text_encoder_2"], ["transformers", "CLIPTextModelWithProjection"])
        unet = json.loads((folder / "unet" / "config.json").read_text())
        self.assertEqual(unet["addition_embed_type"], "text_time")
        loaded = plans.load({"strategy": "diffusers-folder", "path": str(folder), "pipeline": "StableDiffusionXLPipeline", "device": "cpu"})
        out = generate(loaded, params={"clip_skip": 1})
        self.assertEqual((out["images"][0]["width"], out["images"][0]["height"]), (64, 64))

    def test_tiny_flux_folder_loads_and_generates_with_its_own_params(self) -> None:
        from mgen_runtime import plans

        folder = tiny("tiny-flux")
        self.assertEqual(json.loads((folder / "model_index.json").read_text())["transformer"], ["diffusers", "FluxTransformer2DModel"])
        loaded = plans.load({"strategy": "diffusers-folder", "path": str(folder), "pipeline": "FluxPipeline", "device": "cpu"})
        self.assertEqual(loaded.result()["components"]["text_encoder_2"], "T5EncoderModel")
        out = generate(loaded, width=32, height=32, guidance_scale=3.5, params={"max_sequence_length": 16})
        self.assertEqual((out["images"][0]["width"], out["images"][0]["height"]), (32, 32))
        self.assertEqual(out["metadata"]["scheduler"], "FlowMatchEulerDiscreteScheduler")

    def test_tiny_sd3_folder_loads_and_generates(self) -> None:
        from mgen_runtime import plans

        folder = tiny("tiny-sd3")
        self.assertEqual(json.loads((folder / "model_index.json").read_text())["text_encoder_3"], ["transformers", "T5EncoderModel"])
        loaded = plans.load({"strategy": "diffusers-folder", "path": str(folder), "pipeline": "StableDiffusion3Pipeline", "device": "cpu"})
        self.assertEqual(loaded.result()["components"]["transformer"], "SD3Transformer2DModel")
        out = generate(loaded, width=32, height=32, params={"max_sequence_length": 16})
        self.assertEqual((out["images"][0]["width"], out["images"][0]["height"]), (32, 32))


if __name__ == "__main__":
    unittest.main()
