"""builtin:tiny-kolors: Kwai-Kolors/Kolors-diffusers' layout, a ChatGLM tokenizer that loads from the saved folder
with nothing downloaded, and a pipeline that runs (text-to-image and its from_pipe image-to-image sibling)."""

from __future__ import annotations

import json
import unittest

from tests.support import scratch_dir, tiny


class TinyKolorsTest(unittest.TestCase):
    def test_folder_has_kolors_diffusers_layout_and_decisive_widths(self) -> None:
        folder = tiny("tiny-kolors")
        index = json.loads((folder / "model_index.json").read_text())
        self.assertEqual(index["_class_name"], "KolorsPipeline")
        self.assertEqual(index["text_encoder"], ["kolors", "ChatGLMModel"])
        self.assertEqual(index["tokenizer"], ["kolors", "ChatGLMTokenizer"])
        self.assertEqual(index["unet"], ["diffusers", "UNet2DConditionModel"])
        self.assertEqual(index["vae"], ["diffusers", "AutoencoderKL"])
        self.assertEqual(index["scheduler"], ["diffusers", "EulerDiscreteScheduler"])
        self.assertFalse(index["force_zeros_for_empty_prompt"])
        for path in ("text_encoder/config.json", "tokenizer/tokenizer.model", "tokenizer/tokenizer_config.json",
                     "unet/config.json", "vae/config.json", "scheduler/scheduler_config.json"):
            self.assertTrue((folder / path).is_file(), path)
        unet = json.loads((folder / "unet/config.json").read_text())
        self.assertEqual((unet["encoder_hid_dim_type"], unet["encoder_hid_dim"], unet["addition_embed_type"],
                          unet["projection_class_embeddings_input_dim"]), ("text_proj", 4096, "text_time", 5632))
        self.assertEqual(json.loads((folder / "text_encoder/config.json").read_text())["hidden_size"], 4096)
        self.assertLess(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()), 24 * 2**20)

    def test_sentencepiece_model_is_the_same_bytes_every_build(self) -> None:
        from mgen_runtime.tiny_kolors import write_sentencepiece_model

        again = scratch_dir() / "tokenizer.model"
        write_sentencepiece_model(again)
        self.assertEqual(again.read_bytes(), (tiny("tiny-kolors") / "tokenizer" / "tokenizer.model").read_bytes())

    def test_tokenizer_loads_from_the_folder_and_any_prompt_tokenizes_without_unk(self) -> None:
        from diffusers.pipelines.kolors import ChatGLMTokenizer

        tok = ChatGLMTokenizer.from_pretrained(str(tiny("tiny-kolors") / "tokenizer"))
        for prompt in ("a red cube", "一只猫, 高质量", "Straße ☃"):  # unseen characters fall back to their bytes
            ids = tok(prompt).input_ids
            self.assertEqual(ids[:2], [tok.get_command("[gMASK]"), tok.get_command("sop")])
            self.assertNotIn(tok.tokenizer.sp_model.unk_id(), ids[2:], prompt)
            self.assertEqual(tok.decode(ids[2:]), prompt)
        padded = tok(["a red cube"], padding="max_length", max_length=16).input_ids[0]
        self.assertEqual(len(padded), 16)

    def test_pipeline_and_its_img2img_sibling_run_and_a1111_syntax_does_not_apply(self) -> None:
        import diffusers
        import numpy as np
        import torch

        from mgen_runtime import prompt_weighting

        pipe = diffusers.KolorsPipeline.from_pretrained(str(tiny("tiny-kolors")), torch_dtype=torch.float32, local_files_only=True)
        pipe.set_progress_bar_config(disable=True)
        self.assertFalse(prompt_weighting.supports(pipe))  # ChatGLM, not CLIP

        def run(p, seed: int, **extra):
            return p("a red cube", num_inference_steps=2, max_sequence_length=32, output_type="np",
                     generator=torch.Generator("cpu").manual_seed(seed), **extra).images

        image = run(pipe, 1, width=64, height=64)
        self.assertEqual(image.shape, (1, 64, 64, 3))
        self.assertTrue(np.isfinite(image).all())
        self.assertFalse((run(pipe, 2, width=64, height=64) == image).all())
        i2i = diffusers.AutoPipelineForImage2Image.from_pipe(pipe)
        i2i.set_progress_bar_config(disable=True)
        self.assertEqual(type(i2i).__name__, "KolorsImg2ImgPipeline")
        out = run(i2i, 1, image=torch.rand(1, 3, 64, 64), strength=0.5)
        self.assertEqual(out.shape, (1, 64, 64, 3))
        self.assertTrue(np.isfinite(out).all())


if __name__ == "__main__":
    unittest.main()
