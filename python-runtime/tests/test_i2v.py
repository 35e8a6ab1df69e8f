"""Image-to-video requests at the worker: a first frame is required (the RunPod handler and the protocol reach here
without the CLI's and serve's checks); a text-to-video pipeline given one is still refused."""

from __future__ import annotations

import unittest
from types import SimpleNamespace

from mgen_runtime.generate import build_kwargs, normalize_request, takes_first_frame
from mgen_runtime.protocol import WorkerError


class WanImageToVideoPipeline:
    def __call__(self, image, prompt=None, height=480, width=832, num_frames=81, num_inference_steps=50, output_type="np"):
        raise AssertionError("not called")


class LTXImageToVideoPipeline:
    def __call__(self, image=None, prompt=None, num_frames=161, num_inference_steps=50, output_type="pil"):
        raise AssertionError("not called")


class WanPipeline:
    def __call__(self, prompt=None, height=480, width=832, num_frames=81, num_inference_steps=50, output_type="np"):
        raise AssertionError("not called")


def _kwargs(pipe, **req):
    request = normalize_request({"prompt": "a red cube", "out_dir": "/tmp/x", **req})
    return build_kwargs(SimpleNamespace(pipe=pipe), request, {"properties": {}}, pipe)


class FirstFrameTest(unittest.TestCase):
    def test_image_to_video_pipelines_are_known(self) -> None:
        self.assertTrue(takes_first_frame(WanImageToVideoPipeline()))
        self.assertTrue(takes_first_frame(LTXImageToVideoPipeline()))
        self.assertFalse(takes_first_frame(WanPipeline()))

    def test_an_image_to_video_request_without_an_image_is_a_bad_request(self) -> None:
        for pipe in (WanImageToVideoPipeline(), LTXImageToVideoPipeline()):
            with self.assertRaises(WorkerError) as caught:
                _kwargs(pipe, frames=9)
            self.assertEqual(caught.exception.type, "bad_request")
            self.assertEqual(caught.exception.message, f"request.image: {type(pipe).__name__} is an image-to-video pipeline and needs a first frame")

    def test_text_to_video_without_an_image_runs_and_with_one_is_refused(self) -> None:
        self.assertEqual(_kwargs(WanPipeline(), frames=9)["num_frames"], 9)
        with self.assertRaises(WorkerError) as caught:
            _kwargs(WanPipeline(), image="/nonexistent.png")
        self.assertIn("text-to-video pipeline and takes no input image", caught.exception.message)


if __name__ == "__main__":
    unittest.main()
