"""The one place outputs become files: images (PNG), videos (MP4/WebM/GIF/WebP or a folder of PNG frames) and audio
(WAV/FLAC), with the mgen metadata document inside each, written atomically (temp file + rename). Encoding and
probing use PyAV (FFmpeg bundled in its wheel: libx264, libvpx-vp9, libwebp, gif, flac, pcm)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping

from .png import _umask, atomic_file, write_png
from .protocol import WorkerError

VIDEO_FORMATS = ("mp4", "webm", "gif", "webp", "png-frames")
AUDIO_FORMATS = ("wav", "flac")
# format -> (container extension, FFmpeg muxer, codec, pixel format)
_VIDEO = {
    "mp4": ("mp4", "mp4", "libx264", "yuv420p"),
    "webm": ("webm", "webm", "libvpx-vp9", "yuv420p"),
    "gif": ("gif", "gif", "gif", "rgb8"),
    "webp": ("webp", "webp", "libwebp_anim", "yuv420p"),
}
_AUDIO = {"wav": ("wav", "pcm_s16le", "s16"), "flac": ("flac", "flac", "s16")}


_VIDEO_PIPELINE_PREFIXES = ("Wan", "CogVideoX", "LTX", "HunyuanVideo", "Mochi", "Allegro", "SkyReels", "AnimateDiff",
                            "I2VGenXL", "Latte", "EasyAnimate")


def media_kind(pipe: Any) -> str:
    """What a pipeline makes: "video", "audio" or "image", from its output class / components."""
    name = type(pipe).__name__
    if "Audio" in name or "Music" in name:
        return "audio"
    if "Video" in name or name.startswith(_VIDEO_PIPELINE_PREFIXES):
        return "video"
    return "image"


def check_format(kind: str, fmt: str | None) -> str:
    """The output format for this kind of media (the default when none asked); a format of another kind -> bad_params."""
    default = {"video": "mp4", "audio": "wav", "image": "png"}[kind]
    if fmt is None:
        return default
    allowed = {"video": VIDEO_FORMATS, "audio": AUDIO_FORMATS, "image": ("png",)}[kind]
    if fmt not in allowed:
        raise WorkerError("bad_params", f"request.format {fmt} is not {'an' if kind != 'video' else 'a'} {kind} format; use one of {', '.join(allowed)}")
    return fmt


def extension(fmt: str) -> str:
    """The file extension for a format ("" for png-frames: a folder)."""
    if fmt == "png-frames":
        return ""
    return "." + (_VIDEO.get(fmt) or _AUDIO.get(fmt) or ("png",))[0]


def _encoder_missing(codec: str) -> WorkerError:
    return WorkerError("runtime_broken", f"the runtime's FFmpeg has no {codec} encoder; reinstall it with `mgen runtime install`")


def _import_av():
    try:
        import av
    except ImportError:
        raise WorkerError("runtime_broken", "the runtime has no video/audio encoder (PyAV); run `mgen runtime install`") from None
    return av


def _metadata(text: Mapping[str, str]) -> dict[str, str]:
    """Container tags: the mgen JSON document as `comment` (what `--from` reads), A1111 parameters as `description`."""
    tags: dict[str, str] = {}
    if "mgen" in text:
        tags["comment"] = str(text["mgen"])
    if "parameters" in text:
        tags["description"] = str(text["parameters"])
    return tags


def to_uint8_frames(frames: Any):
    """Pipeline video output (np float [F,H,W,3] in 0..1, a torch tensor, or PIL images) -> np uint8 [F,H,W,3]."""
    import numpy as np

    if isinstance(frames, list) and frames and hasattr(frames[0], "size") and hasattr(frames[0], "mode"):
        return np.stack([np.asarray(f.convert("RGB")) for f in frames])
    if hasattr(frames, "detach"):
        frames = frames.detach().float().cpu().numpy()
    arr = np.asarray(frames)
    if arr.dtype != np.uint8:
        arr = (np.clip(arr, 0.0, 1.0) * 255.0).round().astype(np.uint8)
    if arr.ndim == 4 and arr.shape[-1] not in (1, 3, 4) and arr.shape[1] in (1, 3, 4):
        arr = arr.transpose(0, 2, 3, 1)  # [F,C,H,W] -> [F,H,W,C]
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    return np.ascontiguousarray(arr[..., :3])


def write_video(frames: Any, fps: float, path: Path, fmt: str, text: Mapping[str, str], durable: bool = True) -> dict[str, Any]:
    """Encode frames (np uint8 [F,H,W,3]) at fps into path; returns what was written (frames, size, fps, duration)."""
    count, height, width = int(frames.shape[0]), int(frames.shape[1]), int(frames.shape[2])
    info = {"media_type": _mime(fmt), "frames": count, "fps": fps, "width": width, "height": height,
            "duration_s": round(count / fps, 4) if fps else None}
    if fmt == "png-frames":
        return {**info, "path": str(_write_frames_folder(frames, path, text, durable))}
    av = _import_av()
    _ext, muxer, codec, pix_fmt = _VIDEO[fmt]
    if codec not in av.codecs_available:
        raise _encoder_missing(codec)
    # H.264/VP9 in yuv420p need even sides: pad by one pixel (edge copy) rather than fail on odd sizes.
    if pix_fmt == "yuv420p" and (width % 2 or height % 2):
        import numpy as np

        frames = np.pad(frames, ((0, 0), (0, height % 2), (0, width % 2), (0, 0)), mode="edge")
    from fractions import Fraction

    rate = Fraction(fps).limit_denominator(1001)

    def write(tmp: str) -> None:
        options = {"movflags": "+faststart"} if muxer == "mp4" else {}
        with av.open(tmp, "w", format=muxer, options=options) as container:
            for key, value in _metadata(text).items():
                container.metadata[key] = value
            stream = container.add_stream(codec, rate=rate)
            stream.width, stream.height = int(frames.shape[2]), int(frames.shape[1])
            stream.pix_fmt = pix_fmt
            if codec == "libx264":
                stream.options = {"crf": "18", "preset": "medium"}
            for frame in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)

    atomic_file(path, write, durable)
    return {**info, "path": str(path)}


def _write_frames_folder(frames: Any, path: Path, text: Mapping[str, str], durable: bool) -> Path:
    """png-frames: a folder of frame-00000.png ... (each carrying the metadata), built beside and renamed in."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        for i, frame in enumerate(frames):
            write_png(Image.fromarray(frame), tmp / f"frame-{i:05d}.png", text, durable)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def to_waveform(audio: Any):
    """Pipeline audio output (torch/np [C,N] or [N]) -> np float32 [C,N] in -1..1."""
    import numpy as np

    if hasattr(audio, "detach"):
        audio = audio.detach().float().cpu().numpy()
    arr = np.asarray(audio, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None, :]
    return np.ascontiguousarray(np.clip(arr, -1.0, 1.0))


def write_audio(wave: Any, rate: int, path: Path, fmt: str, text: Mapping[str, str], durable: bool = True) -> dict[str, Any]:
    """Encode a waveform (np float32 [C,N]) at rate into path (WAV: INFO ICMT comment; FLAC: Vorbis comment)."""
    av = _import_av()
    muxer, codec, sample_fmt = _AUDIO[fmt]
    if codec not in av.codecs_available:
        raise _encoder_missing(codec)
    import numpy as np

    channels, samples = int(wave.shape[0]), int(wave.shape[1])
    layout = "mono" if channels == 1 else "stereo"
    wave = wave[:2]
    pcm = (wave * 32767.0).round().astype(np.int16)

    def write(tmp: str) -> None:
        with av.open(tmp, "w", format=muxer) as container:
            for key, value in _metadata(text).items():
                # RIFF INFO has one comment field (ICMT) and FFmpeg writes FLAC's comment as DESCRIPTION: a second
                # description would be folded into it on reading. Audio keeps the mgen document alone.
                if key != "description":
                    container.metadata[key] = value
            stream = container.add_stream(codec, rate=rate, layout=layout)
            frame = av.AudioFrame.from_ndarray(pcm.T.reshape(1, -1).copy(), format=sample_fmt, layout=layout)
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)

    atomic_file(path, write, durable)
    return {"path": str(path), "media_type": _mime(fmt), "sample_rate": rate, "channels": min(channels, 2),
            "samples": samples, "duration_s": round(samples / rate, 4)}


def _mime(fmt: str) -> str:
    return {"mp4": "video/mp4", "webm": "video/webm", "gif": "image/gif", "webp": "image/webp", "png-frames": "image/png",
            "wav": "audio/wav", "flac": "audio/flac", "png": "image/png"}[fmt]


def probe(path: str | os.PathLike) -> dict[str, Any]:
    """What a media file holds, read back with FFmpeg: frames, size, fps, duration, sample rate, the comment tag."""
    av = _import_av()
    with av.open(str(path)) as c:
        out: dict[str, Any] = {"format": c.format.name, "metadata": dict(c.metadata),
                               "duration_s": (c.duration / 1_000_000) if c.duration else None}
        if c.streams.video:
            v = c.streams.video[0]
            frames = v.frames or sum(1 for _ in c.decode(video=0))
            out.update(codec=v.codec_context.name, width=v.width, height=v.height, frames=frames,
                       fps=float(v.average_rate) if v.average_rate else None, pix_fmt=v.codec_context.pix_fmt)
        elif c.streams.audio:
            a = c.streams.audio[0]
            out.update(codec=a.codec_context.name, sample_rate=a.sample_rate, channels=a.channels,
                       samples=sum(f.samples for f in c.decode(audio=0)))
        return out


def main(argv: list[str]) -> int:
    """`python -m mgen_runtime.media probe FILE`: one JSON line (tests and `--from` use it)."""
    import json
    import sys

    if len(argv) != 2 or argv[0] != "probe":
        print("usage: python -m mgen_runtime.media probe FILE", file=sys.stderr)
        return 2
    try:
        print(json.dumps(probe(argv[1])))
    except Exception as exc:  # noqa: BLE001 - one line for any unreadable file
        print(f"error: cannot read {argv[1]} as audio or video ({type(exc).__name__})", file=sys.stderr)
        return 6
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
