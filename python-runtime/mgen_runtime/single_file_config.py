"""A local diffusers config folder for an all-in-one single-file checkpoint, so loading it never needs the network.

diffusers' `from_single_file` without `config=` infers the checkpoint's model type from its keys, then looks up that
type's reference repo (DIFFUSERS_DEFAULT_PIPELINE_PATHS) in the HuggingFace cache and, when the configs are not
there, downloads them even with `local_files_only=True`. mgen decides first, offline:

1. The reference repo's configs in the HuggingFace cache (`mgen pull`, or any earlier diffusers download): used as they
   are when complete (model_index.json and every component's config or tokenizer files).
2. Otherwise the family's configs shipped in `family_configs/<model type>/` (model_index.json, the UNet/VAE/text
   encoder configs, the scheduler, the tokenizers' settings), completed with the CLIP BPE vocabulary
   (vocab.json + merges.txt): a cached copy whose bytes are the known CLIP vocabulary, else rebuilt exactly from the
   merge list shipped in clip_bpe/ (clip_vocab.py).
3. Otherwise (a family with no shipped configs: sd3, flux, cascade) a `load_failed` error (exit 7) naming the `mgen
   pull` command that fetches what is missing. No DNS lookup, no request: nothing here talks to the network.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from .clip_vocab import CLIP_VOCAB_SHA256, build_clip_vocab
from .file_hash import sha256_file
from .protocol import WorkerError

BUNDLED = Path(__file__).with_name("family_configs")

# Cached repos (and their folders) that hold CLIP's vocab.json + merges.txt, tried after the family's own repo.
CLIP_VOCAB_SOURCES = (
    ("openai/clip-vit-large-patch14", ""),
    ("stable-diffusion-v1-5/stable-diffusion-v1-5", "tokenizer"),
    ("runwayml/stable-diffusion-v1-5", "tokenizer"),
    ("stabilityai/stable-diffusion-xl-base-1.0", "tokenizer"),
    ("stabilityai/stable-diffusion-xl-base-1.0", "tokenizer_2"),
    ("stabilityai/stable-diffusion-2-1", "tokenizer"),
    ("stabilityai/stable-diffusion-xl-refiner-1.0", "tokenizer_2"),
    ("stable-diffusion-v1-5/stable-diffusion-inpainting", "tokenizer"),
)

# What `mgen pull` fetches for a complete config set (the same globs the CLI uses for remote single files).
CONFIG_INCLUDES = ("model_index.json", "*/config.json", "*/scheduler_config.json", "tokenizer*/*")


class _Shape:
    __slots__ = ("shape",)

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape


def checkpoint_shapes(path: Path, allow_pickle: bool) -> dict[str, Any]:
    """The checkpoint's tensor names -> objects with a `.shape`: read from the safetensors header alone, or (a pickle,
    only when allowed) through diffusers' loader, which uses torch's weights-only unpickler."""
    if path.suffix.lower() == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            return {k: _Shape(tuple(f.get_slice(k).get_shape())) for k in f.keys()}
    from diffusers.loaders.single_file_utils import load_single_file_checkpoint

    state = load_single_file_checkpoint(str(path), local_files_only=True)
    return {k: _Shape(tuple(v.shape)) for k, v in state.items() if hasattr(v, "shape")}


def reference_repo(shapes: dict[str, Any]) -> tuple[str, str]:
    """(diffusers' model type, its reference repo id) for a checkpoint, as from_single_file would choose them."""
    from diffusers.loaders.single_file_utils import DIFFUSERS_DEFAULT_PIPELINE_PATHS, infer_diffusers_model_type

    model_type = infer_diffusers_model_type(shapes)
    entry = DIFFUSERS_DEFAULT_PIPELINE_PATHS.get(model_type) or {}
    repo = entry.get("pretrained_model_name_or_path")
    if not repo or entry.get("subfolder"):
        raise WorkerError("load_failed", f"diffusers cannot configure this single file (model type {model_type!r}) as a pipeline")
    return model_type, repo


def hub_cache() -> Path:
    """The HuggingFace hub cache, as huggingface_hub finds it ($HF_HUB_CACHE, $HF_HOME/hub, $XDG_CACHE_HOME or
    ~/.cache), read now rather than when huggingface_hub was imported."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def _cached(repo: str, filename: str) -> Path | None:
    """A file of a repo in the local HuggingFace cache (main revision), or None. Purely local: no request is made."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo, filename, cache_dir=str(hub_cache()))
    except Exception:  # noqa: BLE001 - a malformed repo id or cache: treated as not cached
        return None
    return Path(found) if isinstance(found, str) and Path(found).is_file() else None


def _complete(folder: Path) -> bool:
    """Whether a diffusers folder has the config (or tokenizer files) of every component its model_index.json names."""
    try:
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    for name, spec in index.items():
        if name.startswith("_") or not isinstance(spec, list) or len(spec) != 2 or spec[0] is None:
            continue
        sub = folder / name
        if name.startswith("tokenizer"):
            ok = (sub / "tokenizer.json").is_file() or (sub / "spiece.model").is_file() or (
                (sub / "vocab.json").is_file() and (sub / "merges.txt").is_file())
        else:
            ok = (sub / "config.json").is_file() or (sub / "scheduler_config.json").is_file() or (sub / "preprocessor_config.json").is_file()
        if not ok:
            return False
    return True


def cached_config_folder(repo: str) -> Path | None:
    """The repo's snapshot folder in the HuggingFace cache when it holds a complete config set."""
    index = _cached(repo, "model_index.json")
    return index.parent if index is not None and _complete(index.parent) else None


def cached_clip_vocab(repo: str, folders: list[str]) -> dict[str, Path] | None:
    """vocab.json + merges.txt of CLIP's BPE from the cache (the family's repo first), checked byte for byte."""
    candidates = [(repo, f) for f in folders] + [c for c in CLIP_VOCAB_SOURCES if c[0] != repo]
    for source, folder in candidates:
        found: dict[str, Path] = {}
        for name, digest in CLIP_VOCAB_SHA256.items():
            path = _cached(source, f"{folder}/{name}" if folder else name)
            if path is None or sha256_file(path) != digest:
                break
            found[name] = path
        else:
            return found
    return None


def pull_hint(repo: str, includes: tuple[str, ...]) -> str:
    return f"mgen pull {repo} " + " ".join(f"--include '{g}'" for g in includes)


def local_config(path: Path, allow_pickle: bool, scratch: Path) -> str:
    """A local folder to pass as from_single_file's `config=` for this checkpoint (building it under `scratch` when
    it comes from the shipped configs); raises load_failed naming the `mgen pull` command when it cannot be had."""
    model_type, repo = reference_repo(checkpoint_shapes(path, allow_pickle))
    cached = cached_config_folder(repo)
    if cached is not None:
        return str(cached)
    bundled = BUNDLED / model_type
    if not (bundled / "model_index.json").is_file():
        raise WorkerError("load_failed", f"{path.name} needs the configs of {repo}, which are not in the HuggingFace cache and "
                                         f"are not shipped with mgen; fetch them once with `{pull_hint(repo, CONFIG_INCLUDES)}`")
    source = json.loads((bundled / "mgen-source.json").read_text(encoding="utf-8"))
    tokenizers: list[str] = list(source.get("tokenizers", []))
    # The vocabulary from the cache when a pull brought it, else rebuilt from the merge list mgen ships.
    vocab = (cached_clip_vocab(repo, tokenizers) or build_clip_vocab(scratch / "clip-vocab")) if tokenizers else {}
    folder = scratch / model_type
    shutil.copytree(bundled, folder, ignore=shutil.ignore_patterns("mgen-source.json"))
    for tok in tokenizers:
        for name, src in vocab.items():
            try:
                (folder / tok / name).symlink_to(src)
            except OSError:
                shutil.copyfile(src, folder / tok / name)
    return str(folder)


def describe() -> dict[str, Any]:
    """The shipped model types and their reference repos (for docs and tests)."""
    out: dict[str, Any] = {}
    for sub in sorted(BUNDLED.iterdir()) if BUNDLED.is_dir() else []:
        meta = sub / "mgen-source.json"
        if meta.is_file():
            out[sub.name] = json.loads(meta.read_text(encoding="utf-8"))
    return out


__all__ = ["local_config", "cached_config_folder", "cached_clip_vocab", "reference_repo", "checkpoint_shapes", "describe"]
