"""The aside packages (requirements/aside.txt): off sys.path until asked for, so that a model load does not import
torchao (transformers imports it on every load once it is importable), and importable once enabled."""

from __future__ import annotations

import os
import subprocess
import sys
import unittest

from tests import support  # noqa: F401 - puts python-runtime on sys.path
from mgen_runtime import aside

_RUNTIME = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A fresh interpreter each: whether torchao was imported is a fact about one process.
_LOAD = """
import sys, torch
from transformers import CLIPTextConfig, CLIPTextModel
m = CLIPTextModel(CLIPTextConfig(vocab_size=99, hidden_size=8, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2))
import tempfile
with tempfile.TemporaryDirectory() as d:
    m.save_pretrained(d)
    CLIPTextModel.from_pretrained(d)
{after}
print("torchao" in sys.modules)
"""


def _run(after: str = "") -> str:
    env = {**os.environ, "PYTHONPATH": _RUNTIME}
    r = subprocess.run([sys.executable, "-c", _LOAD.format(after=after)], capture_output=True, text=True, env=env, timeout=300)
    if r.returncode != 0:
        raise AssertionError(r.stderr[-2000:])
    return r.stdout.strip().splitlines()[-1]


@unittest.skipUnless(os.path.isdir(aside.aside_dir()), "this interpreter has no aside folder (MGEN_PYTHON)")
class Aside(unittest.TestCase):
    def test_a_model_load_does_not_import_torchao(self) -> None:
        self.assertEqual(_run(), "False")

    def test_enable_makes_the_aside_packages_importable(self) -> None:
        self.assertEqual(_run("from mgen_runtime import aside; aside.enable(); import torchao"), "True")


if __name__ == "__main__":
    unittest.main()
