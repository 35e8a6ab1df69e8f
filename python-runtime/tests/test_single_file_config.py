"""A local single-file checkpoint loads without the network: configs from the HuggingFace cache or shipped with mgen,
CLIP's vocabulary rebuilt exactly from the merge list mgen ships, and never a request."""

from __future__ import annotations

import json
import os
import shutil
import socket
import unittest
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

from tests.support import RUNTIME_ROOT, scratch_dir, tiny

CORPUS = RUNTIME_ROOT.parent.parent / "shared" / "corpus" / "detect"
CLIP_TOKENIZER = CORPUS / "invokeai-dreamshaper-8" / "dreamshaper-8" / "tokenizer"  # real CLIP vocab.json/merges.txt
SD15 = "stable-diffusion-v1-5/stable-diffusion-v1-5"


def local_copy() -> Path:
    """builtin:tiny-sd-single's checkpoint as a plain local file, nothing beside it."""
    single = tiny("tiny-sd-single")
    manifest = json.loads((single / "mgen-tiny.json").read_text())
    dst = scratch_dir() / "model.safetensors"
    shutil.copyfile(single / manifest["file"], dst)
    return dst


def plant(hub: Path, repo: str, files: dict[str, Path]) -> Path:
    """A repo snapshot in the HuggingFace cache layout (refs/main -> snapshots/<sha>/...)."""
    root = hub / f"models--{repo.replace('/', '--')}"
    sha = "0123456789abcdef0123456789abcdef01234567"
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "main").write_text(sha)
    snap = root / "snapshots" / sha
    for rel, src in files.items():
        (snap / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, snap / rel)
    return snap


@contextmanager
def offline_hub(hub: Path):
    """An empty (or planted) cache, offline switches on, and every DNS lookup or connection recorded and refused."""
    attempts: list[str] = []

    def refuse(*args, **_kw):
        attempts.append(repr(args[:2]))
        raise OSError("network access in an offline test")

    env = {"HF_HUB_CACHE": str(hub), "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": "http://127.0.0.1:9"}
    with mock.patch.dict(os.environ, env), mock.patch.object(socket, "getaddrinfo", refuse), \
            mock.patch.object(socket, "create_connection", refuse), mock.patch.object(socket.socket, "connect", refuse):
        yield attempts


def load_local(path: Path):
    from mgen_runtime import plans

    return plans.load({"strategy": "single-file", "path": str(path), "pipeline": "StableDiffusionPipeline", "device": "cpu"})


class OfflineSingleFileTest(unittest.TestCase):
    def test_with_an_empty_cache_the_shipped_configs_and_vocabulary_make_a_complete_folder_without_a_request(self) -> None:
        from diffusers import UNet2DConditionModel
        from transformers import CLIPTokenizer

        from mgen_runtime.single_file_config import _complete, local_config

        with offline_hub(scratch_dir() / "hub") as attempts:
            folder = Path(local_config(local_copy(), False, scratch_dir()))
        self.assertEqual(attempts, [])
        self.assertTrue(_complete(folder))
        tok = CLIPTokenizer.from_pretrained(str(folder / "tokenizer"))
        self.assertEqual(tok("a photo of a cat").input_ids, [49406, 320, 1125, 539, 320, 2368, 49407])
        self.assertEqual(UNet2DConditionModel.load_config(str(folder / "unet"))["cross_attention_dim"], 768)

    def test_a_family_without_shipped_configs_fails_at_once_naming_the_pull_command(self) -> None:
        from mgen_runtime import single_file_config
        from mgen_runtime.protocol import WorkerError

        with offline_hub(scratch_dir() / "hub") as attempts, \
                mock.patch.object(single_file_config, "reference_repo", return_value=("sd3", "stabilityai/stable-diffusion-3-medium-diffusers")), \
                self.assertRaises(WorkerError) as ctx:
            single_file_config.local_config(local_copy(), False, scratch_dir())
        self.assertEqual(ctx.exception.type, "load_failed")
        self.assertIn("mgen pull stabilityai/stable-diffusion-3-medium-diffusers --include 'model_index.json'", ctx.exception.message)
        self.assertEqual(attempts, [])

    def test_the_family_configs_cached_by_an_earlier_pull_are_used_offline(self) -> None:
        config = tiny("tiny-sd-single") / "config"
        files = {str(p.relative_to(config)): p for p in config.rglob("*")
                 if p.is_file() and p.suffix in (".json", ".txt") and "mgen" not in p.name}
        hub = scratch_dir() / "hub"
        plant(hub, SD15, files)
        with offline_hub(hub) as attempts:
            loaded = load_local(local_copy())
        self.assertEqual(attempts, [])
        self.assertEqual(loaded.result()["pipeline"], "StableDiffusionPipeline")
        self.assertEqual(type(loaded.pipe.tokenizer).__name__, "CLIPTokenizer")

    @unittest.skipUnless(CLIP_TOKENIZER.is_dir(), "the shared corpus (../shared) is not beside this checkout")
    def test_shipped_configs_complete_with_a_cached_clip_vocabulary_build_a_full_config_folder(self) -> None:
        from mgen_runtime.single_file_config import describe, local_config

        self.assertLessEqual({"v1", "v2", "inpainting", "xl_base", "xl_refiner", "xl_inpaint"}, set(describe()))
        hub = scratch_dir() / "hub"
        plant(hub, "openai/clip-vit-large-patch14", {"vocab.json": CLIP_TOKENIZER / "vocab.json", "merges.txt": CLIP_TOKENIZER / "merges.txt"})
        with offline_hub(hub) as attempts:
            folder = Path(local_config(local_copy(), False, scratch_dir()))
        self.assertEqual(attempts, [])
        from diffusers import UNet2DConditionModel
        from transformers import CLIPTokenizer

        self.assertEqual(CLIPTokenizer.from_pretrained(str(folder / "tokenizer"))("a cat").input_ids[0], 49406)
        self.assertEqual(UNet2DConditionModel.load_config(str(folder / "unet"))["cross_attention_dim"], 768)
        self.assertEqual(json.loads((folder / "model_index.json").read_text())["_class_name"], "StableDiffusionPipeline")

    @unittest.skipUnless(CLIP_TOKENIZER.is_dir(), "the shared corpus (../shared) is not beside this checkout")
    def test_a_cached_vocabulary_with_other_bytes_is_not_taken_for_clips(self) -> None:
        from mgen_runtime.single_file_config import cached_clip_vocab

        fake = scratch_dir() / "vocab.json"
        fake.write_text("{}")
        hub = scratch_dir() / "hub"
        plant(hub, "openai/clip-vit-large-patch14", {"vocab.json": fake, "merges.txt": CLIP_TOKENIZER / "merges.txt"})
        with offline_hub(hub):
            self.assertIsNone(cached_clip_vocab(SD15, ["tokenizer"]))


class ClipVocabularyTest(unittest.TestCase):
    @unittest.skipUnless(CLIP_TOKENIZER.is_dir(), "the shared corpus (../shared) is not beside this checkout")
    def test_the_rebuilt_vocabulary_is_byte_for_byte_the_hub_files(self) -> None:
        from mgen_runtime.clip_vocab import build_clip_vocab

        built = build_clip_vocab(scratch_dir() / "vocab")
        for name, path in built.items():
            self.assertEqual(path.read_bytes(), (CLIP_TOKENIZER / name).read_bytes(), name)

    def test_a_damaged_merge_list_is_refused_not_used(self) -> None:
        from mgen_runtime import clip_vocab

        bad = scratch_dir() / "bpe.txt.gz"
        import gzip

        lines = gzip.decompress(clip_vocab.BPE_FILE.read_bytes()).decode("utf-8").split("\n")
        lines[5], lines[6] = lines[6], lines[5]
        bad.write_bytes(gzip.compress("\n".join(lines).encode("utf-8")))
        with mock.patch.object(clip_vocab, "BPE_FILE", bad), self.assertRaises(RuntimeError):
            clip_vocab.build_clip_vocab(scratch_dir() / "vocab")


class ShippedConfigsTest(unittest.TestCase):
    def test_every_shipped_folder_is_a_complete_config_set_diffusers_can_build_on_meta(self) -> None:
        import diffusers
        import torch
        import transformers

        from mgen_runtime.single_file_config import BUNDLED, _complete, describe

        for model_type in describe():
            folder = BUNDLED / model_type
            index = json.loads((folder / "model_index.json").read_text())
            self.assertTrue(hasattr(diffusers, index["_class_name"]), model_type)
            for name, spec in index.items():
                if name.startswith("_") or not isinstance(spec, list) or spec[0] is None or name.startswith(("tokenizer", "scheduler")):
                    continue
                lib = diffusers if spec[0] == "diffusers" else transformers
                cls = getattr(lib, spec[1])
                with torch.device("meta"):
                    if spec[0] == "diffusers":
                        cls.from_config(cls.load_config(str(folder / name)))
                    else:
                        cls(cls.config_class.from_pretrained(str(folder / name)))
            # Complete once the vocabulary is beside each tokenizer's settings.
            self.assertFalse(_complete(folder), model_type)

    @unittest.skipUnless((CORPUS / "sdmecha-sd1-ldm").is_dir(), "the shared corpus (../shared) is not beside this checkout")
    def test_the_sd1_configs_fit_a_real_sd1_checkpoint_layout(self) -> None:
        import struct

        import torch
        from diffusers import AutoencoderKL, UNet2DConditionModel
        from diffusers.loaders.single_file_utils import convert_ldm_clip_checkpoint, convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint
        from transformers import CLIPTextConfig, CLIPTextModel

        from mgen_runtime.single_file_config import BUNDLED, reference_repo

        with open(CORPUS / "sdmecha-sd1-ldm" / "sd1-ldm.safetensors", "rb") as fh:  # a real header, no weights
            header = json.loads(fh.read(struct.unpack("<Q", fh.read(8))[0]))
        ckpt = {k: torch.empty(v["shape"], device="meta") for k, v in header.items() if k != "__metadata__"}
        self.assertEqual(reference_repo(ckpt), ("v1", SD15))
        folder = BUNDLED / "v1"
        with torch.device("meta"):
            unet_cfg, vae_cfg = UNet2DConditionModel.load_config(str(folder / "unet")), AutoencoderKL.load_config(str(folder / "vae"))
            models = {"unet": (UNet2DConditionModel.from_config(unet_cfg), convert_ldm_unet_checkpoint(ckpt, unet_cfg)),
                      "vae": (AutoencoderKL.from_config(vae_cfg), convert_ldm_vae_checkpoint(ckpt, vae_cfg)),
                      "text_encoder": (CLIPTextModel(CLIPTextConfig.from_pretrained(str(folder / "text_encoder"))),
                                       {k.removeprefix("text_model."): v for k, v in convert_ldm_clip_checkpoint(ckpt).items()})}
        for name, (model, converted) in models.items():
            expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
            got = {k: tuple(converted[k].shape) for k in expected if k in converted}
            self.assertEqual(got, expected, name)
