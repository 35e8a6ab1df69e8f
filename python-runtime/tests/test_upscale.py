"""spandrel behind the `upscale` verb: importable without torchvision (a stand-in only while it imports, invisible to
transformers afterwards), the tiny SwinIR / DAT / HAT / ESRGAN files load as what they are, tiles fit any size."""

from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

from tests import support  # noqa: F401 - puts python-runtime on sys.path
from mgen_runtime import aside
from mgen_runtime.protocol import WorkerError

_RUNTIME = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_HAS_SPANDREL = os.path.isdir(os.path.join(aside.aside_dir(), "spandrel")) or importlib.util.find_spec("spandrel") is not None

# A fresh interpreter: what is in sys.modules, and what transformers concluded, are facts about one process.
_AFTER_IMPORT = """
import importlib.util, sys
from mgen_runtime.torchvision_standin import import_spandrel
spandrel = import_spandrel()
import transformers.utils
print(sorted(n for n in sys.modules if n.split(".")[0] == "torchvision"), importlib.util.find_spec("torchvision") is None,
      transformers.utils.is_torchvision_available())
"""


@unittest.skipUnless(_HAS_SPANDREL, "spandrel is not installed for this interpreter")
class Spandrel(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = Path(tempfile.mkdtemp(prefix="mgen-upscale-"))

    @classmethod
    def tearDownClass(cls) -> None:
        import shutil

        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_the_torchvision_stand_in_is_gone_after_import_and_transformers_sees_none(self) -> None:
        if importlib.util.find_spec("torchvision") is not None:
            self.skipTest("a real torchvision is installed here")
        env = {**os.environ, "PYTHONPATH": _RUNTIME}
        r = subprocess.run([sys.executable, "-c", _AFTER_IMPORT], capture_output=True, text=True, env=env, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        self.assertEqual(r.stdout.strip().splitlines()[-1], "[] True False")

    def test_the_stand_in_names_normalize_and_fail_clearly_for_the_rest(self) -> None:
        import torch
        from mgen_runtime import torchvision_standin as tv

        x = torch.ones(1, 3, 2, 2)
        self.assertTrue(torch.equal(tv.normalize(x, [0.5] * 3, [0.5] * 3), torch.ones(1, 3, 2, 2)))
        self.assertTrue(torch.equal(x, torch.ones(1, 3, 2, 2)))  # not in place unless asked
        fn = tv._standin()["torchvision.transforms.functional"]
        with self.assertRaisesRegex(RuntimeError, "rotate is not available: torchvision is not installed"):
            fn.rotate(x, 90)
        with self.assertRaisesRegex(RuntimeError, "InterpolationMode is not available"):
            fn.InterpolationMode.BILINEAR  # noqa: B018

    def _built(self, name: str) -> str:
        from mgen_runtime.tiny import build

        if not (self.tmp / name).exists():
            build(name, self.tmp / name)
        return str(next((self.tmp / name).glob(f"{name}-x*")))

    def test_each_tiny_upscaler_loads_as_its_architecture_and_scale(self) -> None:
        from mgen_runtime.upscale import load_upscaler

        for name, arch, scale in (("tiny-esrgan", "ESRGAN", 4), ("tiny-swinir", "SwinIR", 2), ("tiny-dat", "DAT", 3), ("tiny-hat", "HAT", 4)):
            with self.subTest(name):
                desc = load_upscaler(self._built(name))
                self.assertEqual((desc.architecture.name, desc.scale), (arch, scale))

    def test_tiles_cover_odd_sizes_smaller_than_the_model_minimum_at_the_edges(self) -> None:
        import torch
        from mgen_runtime.upscale import load_upscaler, tiled

        desc = load_upscaler(self._built("tiny-hat"))
        x = torch.rand(1, 3, 37, 21)
        y = tiled(desc, x, 16)
        self.assertEqual(tuple(y.shape), (1, 3, 37 * 4, 21 * 4))
        self.assertTrue(bool(torch.isfinite(y).all()))

    def test_a_state_dict_spandrel_does_not_know_is_one_line(self) -> None:
        import torch
        from safetensors.torch import save_file
        from mgen_runtime.upscale import load_upscaler

        path = str(self.tmp / "unknown.safetensors")
        save_file({"conv_first.weight": torch.zeros(8, 3, 3, 3), "body.0.rdb1.conv1.weight": torch.zeros(32, 8, 3, 3)}, path)
        with self.assertRaises(WorkerError) as e:
            load_upscaler(path)
        self.assertEqual(e.exception.type, "invalid_model")
        self.assertRegex(e.exception.message, "spandrel knows no upscaler architecture")


if __name__ == "__main__":
    unittest.main()
