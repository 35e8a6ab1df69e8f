"""Single-file ControlNets (original `control_model.*` layout): the config derived from the base UNet and the file's
shapes, the layout round trip (tiny sd1 and an in-memory tiny SDXL ControlNet), pickles, and files that do not fit."""

from __future__ import annotations

import json
import types
import unittest
from pathlib import Path

from tests.support import scratch_dir, sd_plan, tiny


def single_file() -> Path:
    folder = tiny("tiny-sd-controlnet-single")
    return folder / json.loads((folder / "mgen-tiny.json").read_text())["file"]


def file_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}


def same_weights(test: unittest.TestCase, a, b) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    test.assertEqual(sorted(sa), sorted(sb))
    test.assertEqual([k for k in sa if not sa[k].equal(sb[k])], [])


def folder_controlnet():
    from diffusers import ControlNetModel

    return ControlNetModel.from_pretrained(str(tiny("tiny-sd-controlnet")))


def unet_config():
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel.load_config(str(tiny("tiny-sd")), subfolder="unet")


# The original ControlNet's hint encoder (control_v11*): 8 convs at even Sequential indices, 3 -> 16 -> 16 -> 32 -> 32
# -> 96 -> 96 -> 256 -> 320 (the SD1 UNet's first width), and the UNet's 4-channel latent input.
_V11_HINT = [(16, 3), (16, 16), (32, 16), (32, 32), (96, 32), (96, 96), (256, 96), (320, 256)]


def v11_shapes(prefix: str) -> dict[str, tuple[int, ...]]:
    shapes = {f"{prefix}input_hint_block.{2 * i}.weight": (o, c, 3, 3) for i, (o, c) in enumerate(_V11_HINT)}
    shapes.update({f"{prefix}input_hint_block.{2 * i}.bias": (o,) for i, (o, _) in enumerate(_V11_HINT)})
    shapes[f"{prefix}input_blocks.0.0.weight"] = (320, 4, 3, 3)
    shapes[f"{prefix}zero_convs.0.0.weight"] = (320, 320, 1, 1)
    return shapes


class DeriveConfigTest(unittest.TestCase):
    def test_the_derived_config_is_the_one_the_folder_controlnet_was_saved_with(self) -> None:
        from mgen_runtime.plans import derive_controlnet_config

        derived = derive_controlnet_config(unet_config(), file_shapes(single_file()))
        saved = json.loads((tiny("tiny-sd-controlnet") / "config.json").read_text())
        self.assertEqual(derived["_class_name"], "ControlNetModel")
        self.assertEqual(derived["conditioning_embedding_out_channels"], [16, 32])
        # Every value derived agrees with what from_unet wrote; keys left out are ones with ControlNet-only defaults.
        self.assertEqual({k: v for k, v in derived.items() if saved.get(k) != v and k != "_class_name"}, {})
        self.assertEqual(sorted(k for k in saved if k not in derived and not k.startswith("_")),
                         ["controlnet_conditioning_channel_order", "global_pool_conditions"])

    def test_facts_of_a_real_control_v11_hint_block_with_and_without_the_control_model_prefix(self) -> None:
        from mgen_runtime.plans import controlnet_file_facts

        want = {"conditioning_channels": 3, "conditioning_embedding_out_channels": [16, 32, 96, 256], "in_channels": 4}
        self.assertEqual(controlnet_file_facts(v11_shapes("control_model.")), want)
        self.assertEqual(controlnet_file_facts(v11_shapes("")), want)

    def test_facts_of_a_diffusers_layout_file(self) -> None:
        from mgen_runtime.plans import controlnet_file_facts

        shapes = {k: tuple(v.shape) for k, v in folder_controlnet().state_dict().items()}
        self.assertEqual(controlnet_file_facts(shapes), {"conditioning_channels": 3, "conditioning_embedding_out_channels": [16, 32], "in_channels": 4})

    def test_a_file_without_a_conditioning_encoder_is_refused(self) -> None:
        from mgen_runtime.plans import controlnet_file_facts
        from mgen_runtime.protocol import WorkerError

        with self.assertRaises(WorkerError) as ctx:
            controlnet_file_facts({"model.diffusion_model.input_blocks.0.0.weight": (320, 4, 3, 3)})
        self.assertEqual(ctx.exception.type, "load_failed")
        odd = v11_shapes("control_model.")
        del odd["control_model.input_hint_block.4.weight"]
        with self.assertRaises(WorkerError):
            controlnet_file_facts(odd)


class LoadTest(unittest.TestCase):
    def test_the_tiny_single_file_loads_with_the_folder_controlnets_weights_and_config(self) -> None:
        from mgen_runtime import plans

        loaded = plans.load(sd_plan(controlnet={"path": str(single_file()), "single_file": True}))
        self.assertEqual(loaded.result()["pipeline"], "StableDiffusionControlNetPipeline")
        folder = folder_controlnet()
        same_weights(self, loaded.pipe.controlnet, folder)
        mine, theirs = dict(loaded.pipe.controlnet.config), dict(folder.config)
        self.assertEqual({k: v for k, v in mine.items() if not k.startswith("_") and json.dumps(v) != json.dumps(theirs.get(k))}, {})

    def test_a_pickled_controlnet_needs_allow_pickle_and_then_loads_the_same_weights(self) -> None:
        import torch
        from safetensors.torch import load_file

        from mgen_runtime import plans
        from mgen_runtime.protocol import WorkerError

        pth = scratch_dir() / "control_tiny.pth"
        torch.save({"state_dict": load_file(str(single_file()))}, str(pth))
        spec = {"path": str(pth), "single_file": True}
        with self.assertRaises(WorkerError) as ctx:
            plans.load(sd_plan(controlnet=spec))
        self.assertEqual(ctx.exception.type, "unsafe_model")
        loaded = plans.load(sd_plan(controlnet=spec, allow_pickle=True))
        same_weights(self, loaded.pipe.controlnet, folder_controlnet())

    def test_a_controlnet_missing_a_weight_is_refused_naming_it(self) -> None:
        from safetensors.torch import load_file, save_file

        from mgen_runtime import plans
        from mgen_runtime.protocol import WorkerError

        state = load_file(str(single_file()))
        del state["control_model.middle_block_out.0.weight"]
        broken = scratch_dir() / "broken.safetensors"
        save_file(state, str(broken))
        with self.assertRaises(WorkerError) as ctx:
            plans.load(sd_plan(controlnet={"path": str(broken), "single_file": True}))
        self.assertEqual(ctx.exception.type, "load_failed")
        self.assertIn("controlnet_mid_block.weight", ctx.exception.message)


class SdxlTest(unittest.TestCase):
    def test_an_sdxl_controlnet_round_trips_through_the_original_layout_label_emb_included(self) -> None:
        import torch
        from diffusers import ControlNetModel
        from safetensors.torch import save_file

        from mgen_runtime import plans
        from mgen_runtime.ldm import controlnet_to_ldm
        from mgen_runtime.tiny import _sdxl_unet

        torch.manual_seed(5)
        unet = _sdxl_unet()
        original = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(16, 32))
        with torch.no_grad():
            for p in original.parameters():
                p.normal_(0, 0.05)
        state = controlnet_to_ldm(original.state_dict())
        self.assertIn("control_model.label_emb.0.0.weight", state)
        path = scratch_dir() / "xl-control.safetensors"
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
        pipe = types.SimpleNamespace(unet=unet)
        loaded = plans._load_controlnet_file({"path": str(path), "single_file": True}, pipe,
                                             {"dtype": torch.float32, "local_files_only": True}, False)
        same_weights(self, loaded, original)
        self.assertEqual(loaded.config.addition_embed_type, "text_time")


if __name__ == "__main__":
    unittest.main()
