"""CLIP's tokenizer vocabulary (vocab.json + merges.txt) built from the BPE merge list shipped in clip_bpe/.

A single-file SD checkpoint holds no tokenizer; diffusers would fetch one from the Hub. The vocabulary is the same
for every CLIP tokenizer of SD 1.x/2.x/XL/3, so mgen rebuilds the two files from the merge list and checks them
against the Hub files' sha256: what it writes is exactly what a download would have given.
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path

from .file_hash import sha256_file

BPE_FILE = Path(__file__).with_name("clip_bpe") / "bpe_simple_vocab_16e6.txt.gz"

# sha256 of the Hub's CLIP vocab.json / merges.txt (openai/clip-vit-large-patch14 and every SD repo's tokenizer/).
CLIP_VOCAB_SHA256 = {
    "vocab.json": "e089ad92ba36837a0d31433e555c8f45fe601ab5c221d4f607ded32d9f7a4349",
    "merges.txt": "9fd691f7c8039210e0fced15865466c65820d09b63988b0174bfe25de299051a",
}

# CLIP's vocabulary: 256 byte symbols, the same with an end-of-word mark, one token per merge, 2 special tokens.
_MERGES = 49152 - 256 - 2


def bytes_to_unicode() -> dict[int, str]:
    """The reversible byte -> printable character table of byte-level BPE (GPT-2, CLIP), in its construction order."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    codes = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in codes)))


def build_clip_vocab(folder: Path) -> dict[str, Path]:
    """Writes vocab.json and merges.txt into `folder` and returns their paths; raises if either differs from CLIP's."""
    lines = gzip.decompress(BPE_FILE.read_bytes()).decode("utf-8").split("\n")
    merges = lines[1:_MERGES + 1]
    symbols = list(bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m.split()) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    folder.mkdir(parents=True, exist_ok=True)
    out = {"vocab.json": folder / "vocab.json", "merges.txt": folder / "merges.txt"}
    out["vocab.json"].write_text(json.dumps({t: i for i, t in enumerate(tokens)}, ensure_ascii=False, sort_keys=True, indent=2) + "\n", encoding="utf-8")
    out["merges.txt"].write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    for name, path in out.items():
        if sha256_file(path) != CLIP_VOCAB_SHA256[name]:
            raise RuntimeError(f"the shipped CLIP vocabulary did not rebuild {name} exactly")
    return out
