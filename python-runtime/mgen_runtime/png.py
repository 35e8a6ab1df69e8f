"""PNG writing with text chunks (A1111-style `parameters`, our `mgen` JSON), atomically: temp file + rename.
Files get the mode any new file gets under the process umask (0644 under 022), not mkstemp's private 0600."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping


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


def atomic_file(path: str | os.PathLike, write: Callable[[str], None], durable: bool = True) -> Path:
    """Create `path` through `write(temp path)` beside it, then rename: readers never see a half-written file, and a
    failed write leaves nothing. The file gets the umask's mode; `durable=False` skips the fsync."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        write(tmp)
        if durable:
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return target


def write_png(image, path: str | os.PathLike, text: Mapping[str, str] | None = None, durable: bool = True,
              save: Mapping[str, Any] | None = None) -> Path:
    """Save `image` as PNG at `path` atomically. `durable=False` skips the fsync, for files that are read back at once
    and deleted (serve's private folder), where a crash loses nothing. `save`: other PIL save arguments instead of PNG
    with `text` (image_format.py: JPEG / WebP with EXIF)."""
    kw = dict(save) if save is not None else {"format": "PNG", "pnginfo": png_info(text or {})}
    return atomic_file(path, lambda tmp: image.save(tmp, **kw), durable)
