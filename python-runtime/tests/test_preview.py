"""Which steps get a partial image (OpenAI partial_images)."""

from __future__ import annotations

import unittest

from mgen_runtime.generate import normalize_request
from mgen_runtime.preview import preview_steps
from mgen_runtime.protocol import WorkerError


class PreviewStepsTest(unittest.TestCase):
    def test_spread_before_the_last_step(self) -> None:
        self.assertEqual(preview_steps(1, 4), {2})
        self.assertEqual(preview_steps(3, 8), {2, 4, 6})
        self.assertEqual(preview_steps(2, 20), {6, 13})

    def test_none_when_not_asked_or_no_step_before_the_last(self) -> None:
        self.assertEqual(preview_steps(0, 10), set())
        self.assertEqual(preview_steps(3, 1), set())
        self.assertEqual(preview_steps(3, 2), {1})

    def test_request_field_is_checked(self) -> None:
        self.assertEqual(normalize_request({"prompt": "p", "out_dir": "/tmp/x"})["previews"], 0)
        with self.assertRaises(WorkerError):
            normalize_request({"prompt": "p", "out_dir": "/tmp/x", "previews": 99})


if __name__ == "__main__":
    unittest.main()
