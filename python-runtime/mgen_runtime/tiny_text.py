"""Tiny tokenizers and text encoders for the DiT families' tiny builtins (tiny_dit.py, tiny_unet.py).

Every tokenizer is built locally (no download): a byte-level BPE with no merges, so any prompt tokenizes to its
UTF-8 bytes, plus the family's special tokens. The text encoders are the real transformers classes with cut-down
configs (a few layers of width 16-64), random weights from the caller's torch seed.
"""

from __future__ import annotations

from pathlib import Path

# The byte alphabet takes ids 0..255; the special tokens follow.
BYTE_VOCAB = 256


def _byte_vocab(specials: list[str]) -> dict[str, int]:
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    vocab = {c: i for i, c in enumerate(sorted(bytes_to_unicode().values()))}
    for s in specials:
        vocab.setdefault(s, len(vocab))
    return vocab


def qwen_tokenizer(max_length: int = 1024):
    """A Qwen2 byte-level BPE tokenizer with Qwen's chat markers (Qwen-Image, FLUX.2 klein)."""
    from transformers import Qwen2Tokenizer

    vocab = _byte_vocab(["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    return Qwen2Tokenizer(vocab=vocab, merges=[], model_max_length=max_length)


def gemma_tokenizer(max_length: int = 512):
    """A Gemma tokenizer (byte-level BPE here) with Gemma's pad/bos/eos/unk (SANA, Lumina 2)."""
    from transformers import GemmaTokenizer

    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_turn>", "<end_of_turn>"]
    vocab = {s: i for i, s in enumerate(specials)}
    for c, i in _byte_vocab([]).items():
        vocab[c] = i + len(specials)
    tok = GemmaTokenizer(vocab=vocab, merges=[], model_max_length=max_length)
    tok.padding_side = "right"
    return tok


def bert_tokenizer(folder: Path):
    """A BERT WordPiece tokenizer over lowercase letters and digits (Hunyuan-DiT's CLIP-like Chinese BERT)."""
    from transformers import BertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("abcdefghijklmnopqrstuvwxyz0123456789")
    words += ["##" + c for c in "abcdefghijklmnopqrstuvwxyz0123456789"]
    (folder / "vocab.txt").write_text("\n".join(words) + "\n", encoding="utf-8")
    return BertTokenizer(vocab_file=str(folder / "vocab.txt"), model_max_length=77)


# FLUX.2 formats the prompt as chat messages (a system turn, a user turn, each a list of parts).
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ '[' + m['role'] + ']' }}{% if m['content'] is string %}{{ m['content'] }}"
    "{% else %}{% for part in m['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}"
    "{% endif %}{% endfor %}"
)


def mistral_tokenizer():
    """Mistral's tokenizer (byte-level here) with a chat template, as FLUX.2 [dev] formats its prompts. The real
    repo ships a Pixtral processor (tokenizer + image processor), whose image half needs torchvision; FLUX.2's text
    path only calls apply_chat_template, which the tokenizer alone answers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "[IMG]": 1, "<s>": 2, "</s>": 3, "<pad>": 4}
    for c, i in _byte_vocab([]).items():
        vocab[c] = i + 5
    core = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>", model_max_length=512, chat_template=CHAT_TEMPLATE)


def mistral3_encoder(vocab_size: int, layers: int):
    """Mistral Small 3.x (Mistral3ForConditionalGeneration) cut down: hidden 16, `layers` text layers, a 1-layer
    Pixtral vision tower. FLUX.2 stacks hidden states 10, 20 and 30, so it needs at least 31 layers."""
    from transformers import Mistral3Config, Mistral3ForConditionalGeneration

    config = Mistral3Config(
        text_config={"model_type": "mistral", "vocab_size": vocab_size, "hidden_size": 16, "intermediate_size": 32,
                     "max_position_embeddings": 1024, "num_attention_heads": 4, "num_hidden_layers": layers,
                     "num_key_value_heads": 2, "rms_norm_eps": 1e-05, "rope_theta": 1000000000.0, "sliding_window": None,
                     "bos_token_id": 2, "eos_token_id": 3, "pad_token_id": 4, "head_dim": 4},
        vision_config={"model_type": "pixtral", "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 4,
                       "intermediate_size": 32, "image_size": 30, "patch_size": 6, "num_channels": 3},
        bos_token_id=2, eos_token_id=3, pad_token_id=4, image_seq_length=4, vision_feature_layer=-1, image_token_index=1,
        spatial_merge_size=1,
    )
    return Mistral3ForConditionalGeneration(config).eval()


def gemma2_encoder(vocab_size: int, hidden: int, layers: int = 2):
    from transformers import Gemma2Config, Gemma2Model

    config = Gemma2Config(head_dim=8, hidden_size=hidden, intermediate_size=32, num_attention_heads=2, num_hidden_layers=layers,
                          num_key_value_heads=2, vocab_size=vocab_size, max_position_embeddings=2048, sliding_window=64,
                          pad_token_id=0, eos_token_id=1, bos_token_id=2)
    return Gemma2Model(config).eval()


def qwen25vl_encoder(vocab_size: int):
    """Qwen2.5-VL (Qwen-Image's text encoder) as in diffusers' own tests: hidden 16, two layers, a 2-deep vision
    tower; the vision marker ids sit just past the tokenizer's vocabulary so that no prompt byte is read as one."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    total = vocab_size + 8
    config = Qwen2_5_VLConfig(
        text_config={"hidden_size": 16, "intermediate_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
                     "num_key_value_heads": 2, "vocab_size": total,
                     "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
                     "rope_theta": 1000000.0},
        vision_config={"depth": 2, "hidden_size": 16, "intermediate_size": 16, "num_heads": 2, "out_hidden_size": 16},
        hidden_size=16, vocab_size=total, vision_start_token_id=vocab_size + 1, vision_end_token_id=vocab_size + 2,
        vision_token_id=vocab_size + 3, image_token_id=vocab_size + 4, video_token_id=vocab_size + 5,
    )
    return Qwen2_5_VLForConditionalGeneration(config).eval()


def umt5_encoder(vocab_size: int, width: int):
    """A UMT5 encoder (AuraFlow's Pile-T5/UMT5-XL) of the given model width, narrow inside."""
    from transformers import UMT5Config, UMT5EncoderModel

    return UMT5EncoderModel(UMT5Config(vocab_size=vocab_size, d_model=width, d_kv=8, d_ff=32, num_layers=1, num_heads=4,
                                       relative_attention_num_buckets=8, decoder_start_token_id=0, pad_token_id=0,
                                       eos_token_id=1)).eval()


def t5_encoder(vocab_size: int, width: int):
    from transformers import T5Config, T5EncoderModel

    return T5EncoderModel(T5Config(vocab_size=vocab_size, d_model=width, d_kv=8, d_ff=32, num_layers=1, num_heads=4,
                                   relative_attention_num_buckets=8, decoder_start_token_id=0, pad_token_id=0,
                                   eos_token_id=1)).eval()


def bert_encoder(vocab_size: int, width: int):
    from transformers import BertConfig, BertModel

    return BertModel(BertConfig(vocab_size=vocab_size, hidden_size=width, num_hidden_layers=1, num_attention_heads=4,
                                intermediate_size=32, max_position_embeddings=512), add_pooling_layer=False).eval()
