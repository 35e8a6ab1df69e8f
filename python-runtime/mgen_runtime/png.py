"""PNG writing with text chunks (A1111-style `parameters`, our `mgen` JSON), atomically: temp file + rename.
Files get the mode any new file gets under the process umask (0644 under 022), not mkstemp's private 0600."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Mapping


def png_info(text: Mapping[str, str]):
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    for key, value in text.items():
        value = str(value)
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            info.add_itxt(key, value)  # tEXt is Latin-1 only; iTXt carries UTF-8
        else:
            info.add_text(key, value)
    return info


def _umask() -> int:
    """The process umask, read without changing it where Linux shows it; else set and restored at once."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_png(image, path: str | os.PathLike, text: Mapping[str, str] | None = None, durable: bool = True,
              save: Mapping[str, Any] | None = None) -> Path:
    """Save `image` as PNG at `path`; readers never see a half-written file. `durable=False` skips the fsync, for
    files that are read back at once and deleted (serve's private folder), where a crash loses nothing. `save`: other
    PIL save arguments instead of PNG with `text` (image_format.py: JPEG / WebP with EXIF)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o666 & ~_umask())
            image.save(fh, **save) if save is not None else image.save(fh, format="PNG", pnginfo=png_info(text or {}))
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return target
