"""PNG text chunks (tEXt for Latin-1, iTXt beyond) and atomic writes."""

from __future__ import annotations

import os
import unittest
from unittest import mock

from tests.support import scratch_dir
from mgen_runtime.png import write_png


class PngTest(unittest.TestCase):
    def test_text_chunks_round_trip_and_use_itxt_only_when_needed(self) -> None:
        from PIL import Image

        path = scratch_dir() / "a.png"
        write_png(Image.new("RGB", (8, 4), (10, 20, 30)), path, {"parameters": "a cat\nSteps: 2", "mgen": "雪 ☃"})
        with Image.open(path) as im:
            self.assertEqual(im.size, (8, 4))
            self.assertEqual(im.text, {"parameters": "a cat\nSteps: 2", "mgen": "雪 ☃"})
        data = path.read_bytes()
        self.assertIn(b"tEXtparameters\x00a cat\nSteps: 2", data)
        self.assertIn(b"iTXtmgen", data)

    def test_failed_write_leaves_no_file_and_keeps_the_old_one(self) -> None:
        from PIL import Image

        folder = scratch_dir()
        target = folder / "b.png"
        target.write_bytes(b"old")
        with mock.patch.object(Image.Image, "save", side_effect=OSError("disk full")):
            with self.assertRaises(OSError):
                write_png(Image.new("RGB", (2, 2)), target, {})
        self.assertEqual(target.read_bytes(), b"old")
        self.assertEqual(os.listdir(folder), ["b.png"])

    def test_durable_write_is_fsynced_and_a_transient_one_is_not_but_has_the_same_bytes(self) -> None:
        from PIL import Image

        folder = scratch_dir()
        image = Image.new("RGB", (6, 6), (200, 10, 10))
        counts = []
        for name, durable in (("d.png", True), ("t.png", False)):
            with mock.patch("mgen_runtime.png.os.fsync", wraps=os.fsync) as fsync:
                write_png(image, folder / name, {"parameters": "p"}, durable=durable)
            counts.append(fsync.call_count)
        self.assertEqual(counts, [1, 0])
        self.assertEqual((folder / "d.png").read_bytes(), (folder / "t.png").read_bytes())
        self.assertEqual(sorted(os.listdir(folder)), ["d.png", "t.png"])


if __name__ == "__main__":
    unittest.main()
