"""media.py: encode + probe round trips (frames, size, fps, sample rate, the comment tag), format checks, a missing
encoder (runtime_broken: exit 7), and no partial file left when encoding fails."""

from __future__ import annotations

import tempfile
import unittest
from pathlib import Path
from unittest import mock

import numpy as np

from mgen_runtime import media
from mgen_runtime.protocol import WorkerError

TEXT = {"mgen": '{"schema":1,"request":{"prompt":"x"}}', "parameters": "x\nSteps: 2"}


class MediaTest(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = Path(self.tmp.name)
        self.frames = (np.random.default_rng(0).random((9, 32, 48, 3)) * 255).astype(np.uint8)

    def tearDown(self) -> None:
        self.tmp.cleanup()

    def test_mp4_h264_yuv420p_with_the_document_as_comment(self) -> None:
        info = media.write_video(self.frames, 16.0, self.dir / "a.mp4", "mp4", TEXT)
        self.assertEqual(info["frames"], 9)
        p = media.probe(self.dir / "a.mp4")
        self.assertEqual((p["codec"], p["pix_fmt"], p["width"], p["height"], p["frames"], p["fps"]), ("h264", "yuv420p", 48, 32, 9, 16.0))
        self.assertEqual(p["metadata"]["comment"], TEXT["mgen"])

    def test_odd_sizes_are_padded_to_even_for_yuv420p(self) -> None:
        media.write_video(self.frames[:, :31, :47], 8.0, self.dir / "odd.mp4", "mp4", {})
        p = media.probe(self.dir / "odd.mp4")
        self.assertEqual((p["width"], p["height"]), (48, 32))

    def test_webm_gif_webp(self) -> None:
        for fmt, codec in (("webm", "vp9"), ("gif", "gif"), ("webp", "webp")):
            media.write_video(self.frames, 10.0, self.dir / f"a.{fmt}", fmt, TEXT)
            self.assertTrue((self.dir / f"a.{fmt}").stat().st_size > 0, fmt)
            if fmt != "webp":  # FFmpeg reads animated WebP only partly; the file is checked by size
                self.assertEqual(media.probe(self.dir / f"a.{fmt}")["codec"], codec)

    def test_wav_and_flac_keep_rate_length_and_comment(self) -> None:
        wave = np.sin(np.linspace(0, 100, 8000, dtype=np.float32))[None].repeat(2, 0)
        for fmt, codec in (("wav", "pcm_s16le"), ("flac", "flac")):
            info = media.write_audio(wave, 8000, self.dir / f"s.{fmt}", fmt, TEXT)
            self.assertEqual((info["samples"], info["duration_s"]), (8000, 1.0))
            p = media.probe(self.dir / f"s.{fmt}")
            self.assertEqual((p["codec"], p["sample_rate"], p["channels"], p["samples"]), (codec, 8000, 2, 8000))
            self.assertIn(TEXT["mgen"], p["metadata"].values())

    def test_format_of_another_kind_is_refused(self) -> None:
        self.assertEqual(media.check_format("video", None), "mp4")
        self.assertEqual(media.check_format("audio", None), "wav")
        with self.assertRaises(WorkerError) as cm:
            media.check_format("audio", "gif")
        self.assertEqual(cm.exception.message, "request.format gif is not an audio format; use one of wav, flac")

    def test_missing_encoder_is_a_broken_runtime_and_leaves_no_file(self) -> None:
        import av

        with mock.patch.object(av, "codecs_available", set()):
            with self.assertRaises(WorkerError) as cm:
                media.write_video(self.frames, 16.0, self.dir / "x.mp4", "mp4", TEXT)
        self.assertEqual(cm.exception.type, "runtime_broken")
        self.assertEqual(list(self.dir.iterdir()), [])

    def test_a_failing_encode_leaves_no_partial_file(self) -> None:
        with self.assertRaises(Exception):
            media.write_video(self.frames[:, :, :, :1].repeat(3, -1)[:, :0], 16.0, self.dir / "x.mp4", "mp4", TEXT)
        self.assertEqual([p.name for p in self.dir.iterdir()], [])

    def test_kind_of_pipeline(self) -> None:
        for name, kind in (("WanPipeline", "video"), ("LTXImageToVideoPipeline", "video"), ("StableAudioPipeline", "audio"),
                           ("AudioLDM2Pipeline", "audio"), ("StableDiffusionPipeline", "image")):
            self.assertEqual(media.media_kind(type(name, (), {})()), kind, name)


if __name__ == "__main__":
    unittest.main()
