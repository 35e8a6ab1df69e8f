"""A tiny random-weight Kolors pipeline (`builtin:tiny-kolors`), saved in the Kwai-Kolors/Kolors-diffusers layout:
model_index.json (KolorsPipeline), text_encoder/ (diffusers' own ChatGLMModel), tokenizer/ (ChatGLMTokenizer with a
sentencepiece tokenizer.model), unet/, vae/, scheduler/. It makes noise, not pictures.

Kolors is an SDXL-shaped UNet conditioned on ChatGLM3: the encoder's penultimate hidden states go through the UNet's
`encoder_hid_proj` ("text_proj", 4096 wide) and its last token's final hidden state is the pooled embedding of the
"text_time" add-embedding (4096 + 6 x 256 = 5632). Those two widths are what the detection rules decide by, so they
are the real ones; everything else (layers, heads, MLPs, the vocabulary, the cross-attention width) is cut down.
diffusers' own pipeline test downloads its ChatGLM tokenizer; here the sentencepiece model is trained locally on
generated text (byte fallback on, so any prompt tokenizes), from the same input every time.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .tiny import SEED, _files, _manifest, _rmtree
from .tiny_dit import _sd_vae_8x

CHATGLM_WIDTH = 4096  # ChatGLM3-6B's hidden size
TIME_ID_WIDTH = 256  # SDXL's addition_time_embed_dim: six time ids of 256
CROSS_ATTENTION = 64  # 2048 on the real UNet; not a width any rule reads, and 4096 x 2048 would be 32 MB here
SP_VOCAB = 384  # sentencepiece pieces, at most: 3 controls + 256 bytes + the characters and merges of the text below
# ChatGLMTokenizer appends its own special tokens ([MASK], [gMASK], sop, eop, the role markers) after the pieces.
CHATGLM_SPECIALS = 9

_WORDS = {
    "subject": ["cube", "cat", "dog", "house", "tree", "car", "flower", "mountain", "portrait", "city"],
    "colour": ["red", "green", "blue", "yellow", "white", "black", "golden", "purple"],
    "style": ["a photo of", "a painting of", "a drawing of", "a close-up of", "an illustration of"],
    "extra": ["at sunset", "in the rain", "on a table", "by the sea", "high quality", "cinematic lighting"],
}
_CHINESE = ["一张照片", "红色的立方体", "一只猫", "高质量", "电影感"]


def _training_text() -> list[str]:
    """Deterministic sentences over a small English vocabulary plus a few Chinese phrases (Kolors is bilingual)."""
    lines = []
    for s, style in enumerate(_WORDS["style"]):
        for c, colour in enumerate(_WORDS["colour"]):
            for subject in _WORDS["subject"]:
                extra = _WORDS["extra"][(s + c + len(subject)) % len(_WORDS["extra"])]
                lines.append(f"{style} a {colour} {subject}, {extra}")
    lines += [f"{a}, {b}" for a in _CHINESE for b in _CHINESE if a != b]
    return lines


def write_sentencepiece_model(path: Path) -> int:
    """Trains a small BPE sentencepiece model (ChatGLM's ids: <unk> 0, <s> 1, </s> 2) into path; returns its size."""
    import io

    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_training_text()), model_writer=model, model_type="bpe", vocab_size=SP_VOCAB,
        hard_vocab_limit=False, byte_fallback=True, character_coverage=1.0, num_threads=1, minloglevel=2,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, normalization_rule_name="identity",
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.getvalue())
    return spm.SentencePieceProcessor(model_file=str(path)).vocab_size()


def chatglm_encoder(vocab_size: int):
    """diffusers' ChatGLMModel, ChatGLM3-wide (4096) with two narrow layers: 2 heads of 8, one multi-query KV group
    (as ChatGLM3 groups its keys), a 16-wide SwiGLU MLP. Its weights are drawn here from the caller's torch seed:
    the class leaves them uninitialised (empty_init) or to torch's defaults, and its RMSNorm weights are torch.empty."""
    from diffusers.pipelines.kolors import ChatGLMModel
    from diffusers.pipelines.kolors.text_encoder import ChatGLMConfig

    config = ChatGLMConfig(
        num_layers=2, padded_vocab_size=-(-vocab_size // 64) * 64, hidden_size=CHATGLM_WIDTH, ffn_hidden_size=16,
        kv_channels=8, num_attention_heads=2, seq_length=32768, multi_query_attention=True, multi_query_group_num=1,
        add_qkv_bias=True, original_rope=True, use_cache=False,
    )
    model = ChatGLMModel(config, empty_init=False).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("layernorm.weight"):
                param.fill_(1.0)
            elif name.endswith("bias"):
                param.zero_()
            else:
                param.normal_(0.0, 0.02)
    return model


def kolors_unet():
    """The tiny SDXL-structured UNet with Kolors' conditioning: text_proj from 4096 and the 5632-wide text_time."""
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=32, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, transformer_layers_per_block=(1, 2), norm_num_groups=32,
        cross_attention_dim=CROSS_ATTENTION, encoder_hid_dim_type="text_proj", encoder_hid_dim=CHATGLM_WIDTH,
        addition_embed_type="text_time", addition_time_embed_dim=TIME_ID_WIDTH,
        projection_class_embeddings_input_dim=CHATGLM_WIDTH + 6 * TIME_ID_WIDTH,
    )


def kolors_pipeline(scratch: Path):
    """The tiny KolorsPipeline in memory (built from SEED); its tokenizer file lives under scratch until saved."""
    from diffusers import EulerDiscreteScheduler, KolorsPipeline
    from diffusers.pipelines.kolors import ChatGLMTokenizer

    torch.manual_seed(SEED)
    sp_model = scratch / "tokenizer.model"
    write_sentencepiece_model(sp_model)
    tokenizer = ChatGLMTokenizer(vocab_file=str(sp_model))
    # Stored in float16, as Kolors ships it (the runtime always loads with an explicit dtype): the 4096-wide
    # embedding and output layer are most of the model.
    text_encoder = chatglm_encoder(tokenizer.vocab_size).to(torch.float16)
    # Kolors' own scheduler config (Kwai-Kolors/Kolors-diffusers scheduler/scheduler_config.json).
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.014, beta_schedule="scaled_linear",
                                       num_train_timesteps=1100, steps_offset=1, timestep_spacing="leading")
    return KolorsPipeline(vae=_sd_vae_8x(), text_encoder=text_encoder, tokenizer=tokenizer, unet=kolors_unet(),
                          scheduler=scheduler, force_zeros_for_empty_prompt=False)


def build_tiny_kolors(out: Path) -> dict:
    pipe = kolors_pipeline(out / ".scratch")
    pipe.save_pretrained(out, safe_serialization=True)
    _rmtree(out / ".scratch")
    return _manifest(out, "tiny-kolors", "diffusers-folder", None, _files(out), pipeline="KolorsPipeline", family="kolors")


BUILDERS = {"tiny-kolors": build_tiny_kolors}
