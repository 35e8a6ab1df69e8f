"""The output file format of a request (request.image_format): PNG with text chunks (png.py), or JPEG / WebP at a
quality, the A1111 `parameters` text carried as EXIF UserComment the way A1111 writes it for jpg/webp
(piexif.helper.UserComment.dump(text, encoding="unicode"): b"UNICODE\\0" + UTF-16-BE)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .png import write_png
from .protocol import WorkerError

SUFFIX = {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}
_EXIF_IFD = 0x8769
_USER_COMMENT = 0x9286


def normalize(raw: Any) -> dict[str, Any]:
    """request.image_format checked: {format: png | jpeg | webp, quality: 0-100 (default 100)}."""
    if raw is None:
        return {"format": "png", "quality": 100}
    if not isinstance(raw, dict) or set(raw) - {"format", "quality"}:
        raise WorkerError("bad_request", "request.image_format must be {format, quality}")
    fmt = raw.get("format", "png")
    if fmt not in SUFFIX:
        raise WorkerError("bad_request", "request.image_format.format must be png, jpeg or webp")
    q = raw.get("quality", 100)
    if not isinstance(q, int) or isinstance(q, bool) or not 0 <= q <= 100:
        raise WorkerError("bad_request", "request.image_format.quality must be an integer from 0 to 100")
    return {"format": fmt, "quality": q}


def write_image(image: Any, stem_path: Path, text: dict[str, str], durable: bool, fmt: dict[str, Any]) -> Path:
    """`image` written at `stem_path` + the format's suffix."""
    path = stem_path.with_name(stem_path.name + SUFFIX[fmt["format"]])
    if fmt["format"] == "png":
        return write_png(image, path, text, durable)
    from PIL import Image

    save: dict[str, Any] = {"format": fmt["format"].upper(), "quality": fmt["quality"]}
    if fmt["format"] == "jpeg" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    if text.get("parameters"):
        exif = Image.Exif()
        exif.get_ifd(_EXIF_IFD)[_USER_COMMENT] = b"UNICODE\0" + text["parameters"].encode("utf-16-be")
        save["exif"] = exif.tobytes()
    return write_png(image, path, None, durable, save)
