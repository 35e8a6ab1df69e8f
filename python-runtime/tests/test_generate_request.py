"""The generate request's own checks (before any pipeline is touched)."""

from __future__ import annotations

import unittest

from mgen_runtime.generate import normalize_request
from mgen_runtime.protocol import WorkerError

BASE = {"prompt": "p", "out_dir": "/tmp/x"}


class NormalizeRequestTest(unittest.TestCase):
    def test_defaults_are_durable_files(self) -> None:
        req = normalize_request(BASE)
        self.assertIs(req["durable"], True)
        self.assertEqual((req["steps"], req["num_images"], req["file_stem"]), (20, 1, "mgen"))

    def test_durable_false_is_kept_and_a_non_boolean_refused(self) -> None:
        self.assertIs(normalize_request({**BASE, "durable": False})["durable"], False)
        for bad in ("no", 0, 1):
            with self.assertRaises(WorkerError) as ctx:
                normalize_request({**BASE, "durable": bad})
            self.assertEqual((ctx.exception.type, str(ctx.exception.message)), ("bad_request", "request.durable must be true or false"))

    def test_a_file_stem_with_a_path_is_refused(self) -> None:
        with self.assertRaises(WorkerError) as ctx:
            normalize_request({**BASE, "file_stem": "../x"})
        self.assertEqual(ctx.exception.type, "bad_request")


if __name__ == "__main__":
    unittest.main()


class UserStepTest(unittest.TestCase):
    def test_extra_scheduler_iterations_fold_into_the_requested_steps(self) -> None:
        from mgen_runtime.generate import user_step

        # 4 steps, PNDM's 5 iterations: the first iteration reports nothing new, the last one is 4/4.
        self.assertEqual([user_step(i, 5, 4) for i in range(5)], [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)])
        self.assertEqual([user_step(i, 4, 4) for i in range(4)], [(1, 4), (2, 4), (3, 4), (4, 4)])
        # A shorter loop (image-to-image at strength 0.5) counts its own iterations.
        self.assertEqual(user_step(4, 5, 10), (5, 5))
