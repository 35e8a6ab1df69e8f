"""Tiny random-weight image-to-video pipelines (registered in tiny.BUILDERS): Wan 2.1 I2V (CLIP vision image encoder),
CogVideoX 1.5 I2V (3-D patches, ofs embedding) and HunyuanVideo I2V (a Llava text encoder that reads the first frame),
with the component configs of diffusers' own pipeline tests (tests/pipelines/<family>/test_*image*.py), everything
built locally. `--image` is the first frame. They make noise, not videos: they exist so that the image-to-video path
(first frame -> image encoder / VAE latents -> denoise -> decode -> MP4) runs on CPU.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .tiny import SEED, T5_XXL_WIDTH, _rmtree, _t5_encoder, _t5_tokenizer, _text_config, _tokenizer
from .tiny_video import _hunyuan_vae, _save, _umt5_encoder


def _clip_image_processor(side: int):
    """CLIP's preprocessing (resize, center crop, normalize) at a tiny side. The PIL implementation by name: transformers
    5 falls back to it (with a warning) when torchvision is absent, and naming it keeps the build the same either way."""
    try:
        from transformers import CLIPImageProcessorPil as Processor
    except ImportError:  # transformers before the torchvision/PIL split
        from transformers import CLIPImageProcessor as Processor

    return Processor(size={"shortest_edge": side}, crop_size={"height": side, "width": side})


def build_tiny_wan_i2v(out: Path) -> dict:
    """Wan 2.1 image-to-video (tests/pipelines/wan/test_wan_image_to_video.py): the first frame goes in twice, as VAE
    latents beside the noise (in_channels 16 + 4 mask + 16 = 36, as on Wan2.1-I2V-14B) and as CLIP vision features
    (the penultimate hidden state) through the transformer's image embedder and added K/V projections."""
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanImageToVideoPipeline, WanTransformer3DModel
    from transformers import CLIPVisionConfig, CLIPVisionModel

    torch.manual_seed(SEED)
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True])
    tokenizer = _t5_tokenizer()
    text_encoder = _umt5_encoder(len(tokenizer.get_vocab()))
    image_encoder = CLIPVisionModel(CLIPVisionConfig(
        hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2, image_size=32, patch_size=4,
    )).eval()
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=36, out_channels=16,
        text_dim=T5_XXL_WIDTH, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", rope_max_seq_len=32, image_dim=16, added_kv_proj_dim=24,
    )
    pipe = WanImageToVideoPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae,
                                   scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
                                   image_processor=_clip_image_processor(32), image_encoder=image_encoder,
                                   transformer=transformer)
    return _save(pipe, out, "tiny-wan-i2v", "WanImageToVideoPipeline", "wan")


def build_tiny_cogvideox_i2v(out: Path) -> dict:
    """CogVideoX 1.5 image-to-video (CogVideoX1.5-5B-I2V's config differences from 1.0, at tiny widths): 3-D patches
    (patch_size_t 2: a linear patch embed over 2x2x2 latent cubes; the pipeline pads odd latent frame counts), the
    `ofs` embedding, no patch bias, rotary positions sliced from a sample grid (any size up to it), and a VAE that
    divides image latents by its scaling factor (invert_scale_latents). in_channels is twice the latent channels:
    the first frame's latents beside the noise."""
    from diffusers import AutoencoderKLCogVideoX, CogVideoXDDIMScheduler, CogVideoXImageToVideoPipeline, CogVideoXTransformer3DModel

    torch.manual_seed(SEED)
    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=2, attention_head_dim=16, in_channels=8, out_channels=4, time_embed_dim=8, ofs_embed_dim=8,
        text_embed_dim=T5_XXL_WIDTH, num_layers=1, sample_width=16, sample_height=16, sample_frames=9, patch_size=2,
        patch_size_t=2, patch_bias=False, temporal_compression_ratio=4, max_text_seq_length=16,
        use_rotary_positional_embeddings=True, use_learned_positional_embeddings=False,
    )
    vae = AutoencoderKLCogVideoX(
        in_channels=3, out_channels=3, down_block_types=("CogVideoXDownBlock3D",) * 4,
        up_block_types=("CogVideoXUpBlock3D",) * 4, block_out_channels=(8, 8, 8, 8), latent_channels=4,
        layers_per_block=1, norm_num_groups=2, temporal_compression_ratio=4, invert_scale_latents=True,
    )
    tokenizer = _t5_tokenizer()
    text_encoder = _t5_encoder(len(tokenizer.get_vocab()))
    pipe = CogVideoXImageToVideoPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer,
                                         scheduler=CogVideoXDDIMScheduler())
    return _save(pipe, out, "tiny-cogvideox-i2v", "CogVideoXImageToVideoPipeline", "cogvideox")


# HunyuanVideo I2V's default prompt template (diffusers' DEFAULT_PROMPT_TEMPLATE) puts the first frame's 576 image
# tokens at positions 5..580 and finds the text by its <|start_header_id|> / <|end_header_id|> / <|eot_id|> markers:
# the tiny tokenizer keeps those markers as single tokens, and <image> fifth after <|begin_of_text|>.
_LLAVA_SPECIAL = ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<image>", "<pad>", "<unk>"]
_LLAVA_WORDS = ("system user assistant describe the video by detailing following aspects according to reference image "
                "main content and theme of color shape size texture quantity text spatial relationships objects actions "
                "events behaviors temporal physical movement changes background environment light style atmosphere "
                "camera angles movements transitions used in a an red blue green cube cat dog . , : 1 2 3 4 5").split()
IMAGE_TOKENS = 576  # the template's image_emb_len: (48 / 2)^2 patches of the tiny CLIP vision tower


def _llava_tokenizer():
    """A Llama-3-style fast tokenizer over words, whitespace runs and the chat template's special tokens."""
    from tokenizers import AddedToken, Regex, Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab: dict[str, int] = {}
    for t in _LLAVA_SPECIAL + ["\n\n", "\n", " "] + _LLAVA_WORDS:
        vocab.setdefault(t, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    # Whitespace runs and punctuation are tokens of their own (as in Llama 3's BPE, "\n\n" is one token).
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"\s+|[.,:;!?]"), "isolated")
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in _LLAVA_SPECIAL])
    bos = vocab["<|begin_of_text|>"]
    tok.post_processor = processors.TemplateProcessing(single="<|begin_of_text|> $A", special_tokens=[("<|begin_of_text|>", bos)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>",
                                   unk_token="<unk>", pad_token="<pad>", model_max_length=1024, padding_side="right")


def build_tiny_hunyuanvideo_i2v(out: Path) -> dict:
    """HunyuanVideo image-to-video (tests/pipelines/hunyuan_video/test_hunyuan_image2video.py): the text encoder is a
    Llava (CLIP vision tower + projector + Llama) that reads the first frame with the prompt under the model's own
    prompt template, a CLIP-L-style encoder gives the pooled vector, and the first frame's latents replace the first
    latent frame (image_condition_type token_replace: the video keeps every requested frame)."""
    from diffusers import FlowMatchEulerDiscreteScheduler, HunyuanVideoImageToVideoPipeline, HunyuanVideoTransformer3DModel
    from transformers import CLIPTextModel, CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    torch.manual_seed(SEED)
    transformer = HunyuanVideoTransformer3DModel(
        in_channels=4, out_channels=4, num_attention_heads=2, attention_head_dim=10, num_layers=1, num_single_layers=1,
        num_refiner_layers=1, patch_size=1, patch_size_t=1, guidance_embeds=True, text_embed_dim=16,
        pooled_projection_dim=64, rope_axes_dim=(2, 4, 4), image_condition_type="token_replace",
    )
    vae = _hunyuan_vae()
    tokenizer = _llava_tokenizer()
    vocab = tokenizer.get_vocab()
    pad, image_token = vocab["<pad>"], vocab["<image>"]
    text_config = LlamaConfig(
        bos_token_id=vocab["<|begin_of_text|>"], eos_token_id=vocab["<|eot_id|>"], pad_token_id=pad, hidden_size=16,
        intermediate_size=37, num_attention_heads=4, num_key_value_heads=4, num_hidden_layers=2, vocab_size=len(vocab),
        hidden_act="gelu",
    )
    vision_config = CLIPVisionConfig(hidden_size=8, intermediate_size=16, num_attention_heads=2, num_hidden_layers=2,
                                     image_size=48, patch_size=2)
    config = LlavaConfig(vision_config=vision_config, text_config=text_config, image_token_index=image_token,
                         image_seq_length=IMAGE_TOKENS, vision_feature_select_strategy="default", vision_feature_layer=-2)
    config.pad_token_id = pad  # the pipeline reads it from the Llava config to mask the expanded prompt's padding
    text_encoder = LlavaForConditionalGeneration(config).eval()
    scratch = out / ".scratch"
    tokenizer_2 = _tokenizer(scratch / "tok")
    text_encoder_2 = CLIPTextModel(_text_config(len(tokenizer_2.get_vocab()), width=64)).eval()
    pipe = HunyuanVideoImageToVideoPipeline(
        text_encoder=text_encoder, tokenizer=tokenizer, transformer=transformer, vae=vae,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0), text_encoder_2=text_encoder_2, tokenizer_2=tokenizer_2,
        image_processor=_clip_image_processor(48),
    )
    _rmtree(scratch)
    return _save(pipe, out, "tiny-hunyuanvideo-i2v", "HunyuanVideoImageToVideoPipeline", "hunyuanvideo")
