"""AUTOMATIC1111's prompt language for CLIP-conditioned pipelines (SD1, SD2, SDXL): the conditioning A1111 computes.

- `parse_attention` reads `(word:1.3)`, `(word)` (x1.1), `[word]` (/1.1), nesting, `\\(` escapes and `BREAK` with
  A1111's tolerance (unbalanced brackets close at the end; `(a:x)` is literal text).
- `tokenize_line` packs the weighted tokens into 75-token chunks, each `[BOS] 75 tokens [EOS]` padded with EOS, a
  `BREAK` starting a new chunk and a full chunk moving the words after its last comma (up to 20 tokens back) to
  the next one. Textual inversions take as many positions as they have vectors.
- `encode` runs each chunk through the text encoder (tokens after the first EOS become the tokenizer's pad token,
  as A1111 does for OpenCLIP), multiplies each token's output by its weight, scales the result back to the
  unweighted mean, and concatenates the chunks; SDXL does this per encoder and concatenates the widths, with the
  pooled output of the first chunk.
- `conditioning` gives the pipeline's `prompt_embeds`/`negative_prompt_embeds` (+ pooled): the shorter of the two
  is padded with chunks of the empty prompt, as A1111 does with "pad prompt/negative prompt to be same length".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

CHUNK_LENGTH = 75
COMMA_BACKTRACK = 20  # A1111's comma_padding_backtrack default

_ATTENTION = re.compile(r"""
\\\(|\\\)|\\\[|\\]|\\\\|\\|
\(|\[|
:\s*([+-]?[.\d]+)\s*\)|
\)|]|
[^\\()\[\]:]+|
:
""", re.X)
_BREAK = re.compile(r"\s*\bBREAK\b\s*", re.S)


def parse_attention(text: str) -> list[tuple[str, float]]:
    """Text -> [(piece, weight)], A1111's parse_prompt_attention; ("BREAK", -1) marks a chunk break."""
    res: list[list[Any]] = []
    round_open: list[int] = []
    square_open: list[int] = []

    def multiply(start: int, by: float) -> None:
        for item in res[start:]:
            item[1] *= by

    for m in _ATTENTION.finditer(text):
        piece, weight = m.group(0), m.group(1)
        if piece.startswith("\\"):
            res.append([piece[1:], 1.0])
        elif piece == "(":
            round_open.append(len(res))
        elif piece == "[":
            square_open.append(len(res))
        elif weight is not None and round_open:
            multiply(round_open.pop(), float(weight))
        elif piece == ")" and round_open:
            multiply(round_open.pop(), 1.1)
        elif piece == "]" and square_open:
            multiply(square_open.pop(), 1 / 1.1)
        else:
            for i, part in enumerate(_BREAK.split(piece)):
                if i > 0:
                    res.append(["BREAK", -1.0])
                res.append([part, 1.0])
    for pos in round_open:
        multiply(pos, 1.1)
    for pos in square_open:
        multiply(pos, 1 / 1.1)
    if not res:
        res = [["", 1.0]]
    i = 0
    while i + 1 < len(res):
        if res[i][1] == res[i + 1][1]:
            res[i][0] += res[i + 1][0]
            res.pop(i + 1)
        else:
            i += 1
    return [(str(t), float(w)) for t, w in res]


@dataclass
class Chunk:
    tokens: list[int] = field(default_factory=list)
    multipliers: list[float] = field(default_factory=list)
    fixes: list[tuple[int, Any]] = field(default_factory=list)  # (offset in tokens without BOS, vectors [n, width])


@dataclass
class Side:
    """One tokenizer + CLIP text encoder of the pipeline, and how its output is read."""
    tokenizer: Any
    encoder: Any
    penultimate: bool  # SDXL: the penultimate hidden state without the final layer norm
    pooled: bool  # the projected pooled output is wanted (SDXL's second encoder)
    embeddings: dict[tuple[int, ...], Any] = field(default_factory=dict)  # name's token ids -> vectors
    pipe: Any = None  # for diffusers' multi-vector textual inversions loaded with the plan (maybe_convert_prompt)

    @property
    def width(self) -> int:
        return int(self.encoder.config.hidden_size)

    def ids(self, text: str) -> list[int]:
        if self.pipe is not None and hasattr(self.pipe, "maybe_convert_prompt"):
            text = self.pipe.maybe_convert_prompt(text, self.tokenizer)
        return list(self.tokenizer(text, truncation=False, add_special_tokens=False)["input_ids"])

    @property
    def comma(self) -> int | None:
        return self.tokenizer.get_vocab().get(",</w>")


def tokenize_line(side: Side, text: str) -> list[Chunk]:
    """A1111's chunking of one prompt for one encoder (BOS/EOS added to each chunk)."""
    parsed = parse_attention(text)
    bos, eos = side.tokenizer.bos_token_id, side.tokenizer.eos_token_id
    comma = side.comma
    lookup: dict[int, list[tuple[tuple[int, ...], Any]]] = {}
    for ids, vec in side.embeddings.items():
        lookup.setdefault(ids[0], []).append((ids, vec))
    for entries in lookup.values():
        entries.sort(key=lambda e: -len(e[0]))
    chunks: list[Chunk] = []
    chunk = Chunk()
    last_comma = -1

    def next_chunk() -> None:
        nonlocal chunk, last_comma
        pad = CHUNK_LENGTH - len(chunk.tokens)
        chunk.tokens = [bos] + chunk.tokens + [eos] * pad + [eos]
        chunk.multipliers = [1.0] + chunk.multipliers + [1.0] * pad + [1.0]
        last_comma = -1
        chunks.append(chunk)
        chunk = Chunk()

    for piece, weight in parsed:
        if piece == "BREAK" and weight == -1:
            next_chunk()
            continue
        tokens = side.ids(piece)
        pos = 0
        while pos < len(tokens):
            token = tokens[pos]
            if token == comma:
                last_comma = len(chunk.tokens)
            elif (COMMA_BACKTRACK and len(chunk.tokens) == CHUNK_LENGTH and last_comma != -1
                  and len(chunk.tokens) - last_comma <= COMMA_BACKTRACK):
                cut = last_comma + 1
                moved = Chunk(chunk.tokens[cut:], chunk.multipliers[cut:],
                              [(o - cut, v) for o, v in chunk.fixes if o >= cut])
                chunk.tokens, chunk.multipliers = chunk.tokens[:cut], chunk.multipliers[:cut]
                chunk.fixes = [(o, v) for o, v in chunk.fixes if o < cut]
                next_chunk()
                chunk = moved
            if len(chunk.tokens) == CHUNK_LENGTH:
                next_chunk()
            found = next(((ids, vec) for ids, vec in lookup.get(token, []) if tuple(tokens[pos:pos + len(ids)]) == ids), None)
            if found is None:
                chunk.tokens.append(token)
                chunk.multipliers.append(weight)
                pos += 1
                continue
            ids, vec = found
            n = int(vec.shape[0])
            if len(chunk.tokens) + n > CHUNK_LENGTH:
                next_chunk()
            chunk.fixes.append((len(chunk.tokens), vec))
            chunk.tokens += [0] * n
            chunk.multipliers += [weight] * n
            pos += len(ids)
    if chunk.tokens or not chunks:
        next_chunk()
    return chunks


def _encode_chunk(side: Side, chunk: Chunk, clip_skip: int) -> tuple[Any, Any]:
    """(z [1, 77, width] weighted with the mean restored, pooled or None) for one chunk."""
    import torch

    tokens = list(chunk.tokens)
    pad = side.tokenizer.pad_token_id
    eos = side.tokenizer.eos_token_id
    if pad is not None and pad != eos:
        first_end = tokens.index(eos)
        tokens[first_end + 1:] = [pad] * (len(tokens) - first_end - 1)
    device = side.encoder.device
    ids = torch.tensor([tokens], device=device)
    handle = None
    if chunk.fixes:
        def inject(_module: Any, _args: Any, out: Any) -> Any:
            out = out.clone()
            for offset, vec in chunk.fixes:
                out[0, offset + 1:offset + 1 + vec.shape[0]] = vec.to(out.device, out.dtype)
            return out

        handle = side.encoder.get_input_embeddings().register_forward_hook(inject)
    try:
        out = side.encoder(ids, output_hidden_states=True)
    finally:
        if handle is not None:
            handle.remove()
    if side.penultimate:
        z = out.hidden_states[-(clip_skip + 2)]
    elif clip_skip > 0:
        # transformers 5 puts final_layer_norm on the model itself; 4.x on its text_model.
        z = getattr(side.encoder, "text_model", side.encoder).final_layer_norm(out.hidden_states[-(clip_skip + 1)])
    else:
        z = out.last_hidden_state
    pooled = out[0] if side.pooled else None
    mult = torch.tensor([chunk.multipliers], device=z.device, dtype=z.dtype).unsqueeze(-1)
    original_mean = z.mean()
    z = z * mult.expand(z.shape)
    new_mean = z.mean()
    # A1111 divides unguarded; a zero mean (an untrained final layer norm) would make the whole prompt NaN or 0.
    if float(original_mean) != 0.0 and float(new_mean) != 0.0:
        z = z * (original_mean / new_mean)
    return z, pooled


def encode(sides: list[Side], text: str, clip_skip: int = 0, chunks: int = 0) -> tuple[Any, Any]:
    """The conditioning of one prompt: [1, 77 x chunks, sum of widths] and the first chunk's pooled output (or None).

    `chunks` pads with chunks of the empty prompt up to that many (A1111's cond/uncond padding)."""
    import torch

    per_side = []
    pooled = None
    for side in sides:
        lines = tokenize_line(side, text)
        zs = []
        for i, chunk in enumerate(lines):
            z, p = _encode_chunk(side, chunk, clip_skip)
            if i == 0 and p is not None:
                pooled = p
            zs.append(z)
        if len(zs) < chunks:
            empty, _ = _encode_chunk(side, tokenize_line(side, "")[0], clip_skip)
            zs += [empty] * (chunks - len(zs))
        per_side.append(torch.hstack(zs))
    return torch.cat(per_side, dim=-1), pooled


def chunk_count(sides: list[Side], text: str) -> int:
    return max(len(tokenize_line(side, text)) for side in sides)


def sides_of(pipe: Any, embeddings: list[dict[str, Any]] | None = None) -> list[Side]:
    """The CLIP tokenizer/encoder pairs of an SD1/SD2/SDXL pipeline, with the request's textual inversions."""
    pairs = [(getattr(pipe, "tokenizer", None), getattr(pipe, "text_encoder", None)),
             (getattr(pipe, "tokenizer_2", None), getattr(pipe, "text_encoder_2", None))]
    pairs = [(t, e) for t, e in pairs if t is not None and e is not None]
    sdxl = getattr(pipe, "text_encoder_2", None) is not None
    sides = [Side(t, e, penultimate=sdxl, pooled=sdxl and e is getattr(pipe, "text_encoder_2", None), pipe=pipe) for t, e in pairs]
    for emb in embeddings or []:
        for side in sides:
            vec = emb["vectors"].get(side.width)
            if vec is None:
                from .protocol import WorkerError

                widths = ", ".join(str(w) for w in sorted(emb["vectors"]))
                raise WorkerError("bad_params", f"embedding {emb['token']!r} has vectors of width {widths}, none for this model's "
                                                f"text encoder of width {side.width} (an embedding for another family?)")
            ids = tuple(side.ids(emb["token"]))
            if ids:
                side.embeddings[ids] = vec
    return sides


def supports(pipe: Any) -> bool:
    """Whether a pipeline is CLIP-only conditioned and takes prompt_embeds (SD1, SD2, SDXL and their variants)."""
    import inspect

    try:
        from transformers import CLIPTextModel, CLIPTextModelWithProjection
    except ImportError:  # pragma: no cover
        return False
    encoders = [getattr(pipe, n, None) for n in ("text_encoder", "text_encoder_2", "text_encoder_3")]
    present = [e for e in encoders if e is not None]
    if not present or not all(isinstance(e, (CLIPTextModel, CLIPTextModelWithProjection)) for e in present):
        return False
    # A UNet conditioned on the CLIP embeddings alone: not a DiT, and not Stable Cascade (its CLIP-G prior also needs
    # pooled embeddings under its own name).
    if getattr(pipe, "transformer", None) is not None or getattr(pipe, "unet", None) is None:
        return False
    params = inspect.signature(type(pipe).__call__).parameters
    return "prompt_embeds" in params and "prompt_embeds_pooled" not in params


def conditioning(pipe: Any, prompt: str, negative: str | None, clip_skip: int = 0,
                 embeddings: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The pipeline kwargs that replace `prompt`/`negative_prompt` (same chunk count for both)."""
    import torch

    sides = sides_of(pipe, embeddings)
    negative = negative or ""
    sdxl = any(side.pooled for side in sides)
    with torch.no_grad():
        n = max(chunk_count(sides, prompt), chunk_count(sides, negative))
        cond, pooled = encode(sides, prompt, clip_skip, n)
        if sdxl and negative == "":
            # A1111 (and diffusers) give SDXL an empty negative prompt as zeros, pooled output included.
            uncond, npooled = torch.zeros_like(cond), torch.zeros_like(pooled)
        else:
            uncond, npooled = encode(sides, negative, clip_skip, n)
    out: dict[str, Any] = {"prompt_embeds": cond, "negative_prompt_embeds": uncond}
    if pooled is not None:
        out["pooled_prompt_embeds"] = pooled
        out["negative_pooled_prompt_embeds"] = npooled
    return out
