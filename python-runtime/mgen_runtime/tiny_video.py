"""Tiny random-weight video and audio pipelines (registered in tiny.BUILDERS): Wan 2.1, CogVideoX, LTX-Video,
HunyuanVideo and Stable Audio Open, with the component configs diffusers' own pipeline tests use
(tests/pipelines/<family>/test_*.py get_dummy_components), the text encoders built locally instead of downloaded.
They make noise, not videos: they exist so that the whole path (load, denoise, decode, encode, probe) runs on CPU.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .tiny import SEED, T5_XXL_WIDTH, _files, _manifest, _rmtree, _t5_encoder, _t5_tokenizer, _text_config, _tokenizer


def _save(pipe, out: Path, name: str, pipeline: str, family: str, **extra) -> dict:
    pipe.save_pretrained(out, safe_serialization=True)
    return _manifest(out, name, "diffusers-folder", None, _files(out), pipeline=pipeline, family=family, **extra)


def _umt5_encoder(vocab_size: int):
    """Wan's text encoder class (UMT5) at the umT5-XXL width (4096) the Wan rule and transformer expect, one narrow layer."""
    from transformers import UMT5Config, UMT5EncoderModel

    return UMT5EncoderModel(UMT5Config(
        vocab_size=vocab_size, d_model=T5_XXL_WIDTH, d_kv=8, d_ff=32, num_layers=1, num_heads=4,
        relative_attention_num_buckets=8, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1,
    )).eval()


def build_tiny_wan(out: Path) -> dict:
    """Wan 2.1 text-to-video (tests/pipelines/wan/test_wan.py): 3-D causal VAE with 4x temporal compression."""
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanPipeline, WanTransformer3DModel

    torch.manual_seed(SEED)
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True])
    tokenizer = _t5_tokenizer()
    text_encoder = _umt5_encoder(len(tokenizer.get_vocab()))
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16, out_channels=16,
        text_dim=T5_XXL_WIDTH, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", rope_max_seq_len=32,
    )
    pipe = WanPipeline(transformer=transformer, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                       scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0))
    return _save(pipe, out, "tiny-wan", "WanPipeline", "wan")


def build_tiny_cogvideox(out: Path) -> dict:
    """CogVideoX text-to-video (tests/pipelines/cogvideo/test_cogvideox.py) with the 5B's rotary positions (any size),
    T5-XXL-wide text embeddings."""
    from diffusers import AutoencoderKLCogVideoX, CogVideoXDDIMScheduler, CogVideoXPipeline, CogVideoXTransformer3DModel

    torch.manual_seed(SEED)
    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=2, attention_head_dim=16, in_channels=4, out_channels=4, time_embed_dim=2,
        text_embed_dim=T5_XXL_WIDTH, num_layers=1, sample_width=2, sample_height=2, sample_frames=9, patch_size=2,
        temporal_compression_ratio=4, max_text_seq_length=16, use_rotary_positional_embeddings=True,
    )
    vae = AutoencoderKLCogVideoX(
        in_channels=3, out_channels=3, down_block_types=("CogVideoXDownBlock3D",) * 4,
        up_block_types=("CogVideoXUpBlock3D",) * 4, block_out_channels=(8, 8, 8, 8), latent_channels=4,
        layers_per_block=1, norm_num_groups=2, temporal_compression_ratio=4,
    )
    tokenizer = _t5_tokenizer()
    text_encoder = _t5_encoder(len(tokenizer.get_vocab()))
    pipe = CogVideoXPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer,
                             scheduler=CogVideoXDDIMScheduler())
    return _save(pipe, out, "tiny-cogvideox", "CogVideoXPipeline", "cogvideox")


def build_tiny_ltxv(out: Path) -> dict:
    """LTX-Video 0.9 text-to-video (tests/pipelines/ltx/test_ltx.py), T5-XXL-wide captions."""
    from diffusers import AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler, LTXPipeline, LTXVideoTransformer3DModel

    torch.manual_seed(SEED)
    transformer = LTXVideoTransformer3DModel(
        in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=4, attention_head_dim=8,
        cross_attention_dim=32, num_layers=1, caption_channels=T5_XXL_WIDTH,
    )
    vae = AutoencoderKLLTXVideo(
        in_channels=3, out_channels=3, latent_channels=8, block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8), layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, False, False), decoder_spatio_temporal_scaling=(True, True, False, False),
        decoder_inject_noise=(False, False, False, False, False), upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1), timestep_conditioning=False, patch_size=1, patch_size_t=1,
        encoder_causal=True, decoder_causal=False,
    )
    tokenizer = _t5_tokenizer()
    text_encoder = _t5_encoder(len(tokenizer.get_vocab()))
    pipe = LTXPipeline(transformer=transformer, vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(), text_encoder=text_encoder,
                       tokenizer=tokenizer)
    return _save(pipe, out, "tiny-ltxv", "LTXPipeline", "ltxv")


def build_tiny_ltxv_i2v(out: Path) -> dict:
    """LTX-Video image-to-video: the same components as tiny-ltxv under LTXImageToVideoPipeline (--image: first frame)."""
    from diffusers import LTXImageToVideoPipeline

    build_tiny_ltxv(out)
    from diffusers import LTXPipeline

    pipe = LTXImageToVideoPipeline(**LTXPipeline.from_pretrained(out).components)
    for f in out.iterdir():
        if f.is_dir():
            _rmtree(f)
        else:
            f.unlink()
    return _save(pipe, out, "tiny-ltxv-i2v", "LTXImageToVideoPipeline", "ltxv")


def build_tiny_wan22(out: Path) -> dict:
    """Wan 2.2 A14B-style text-to-video: two experts (transformer for high noise, transformer_2 for low noise) switched
    at boundary_ratio, as in tests/pipelines/wan/test_wan_22.py."""
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanPipeline, WanTransformer3DModel

    torch.manual_seed(SEED)
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True])
    tokenizer = _t5_tokenizer()
    text_encoder = _umt5_encoder(len(tokenizer.get_vocab()))

    def expert():
        return WanTransformer3DModel(
            patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16, out_channels=16,
            text_dim=T5_XXL_WIDTH, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True,
            qk_norm="rms_norm_across_heads", rope_max_seq_len=32,
        )

    pipe = WanPipeline(transformer=expert(), transformer_2=expert(), vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                       scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0), boundary_ratio=0.875)
    return _save(pipe, out, "tiny-wan22", "WanPipeline", "wan")


def _llama_tokenizer():
    """A Llama-style fast tokenizer over single characters, built in memory (HunyuanVideo's first text encoder)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders
    from transformers import PreTrainedTokenizerFast

    chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:;!?'\"-_()<>|/\n"
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, "<pad>": 3}
    for c in chars:
        vocab.setdefault(c, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    tok.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>", model_max_length=256, padding_side="right")


def _hunyuan_vae():
    """HunyuanVideo's 3-D causal VAE (8x space, 4x time) at tiny widths, 4 latent channels."""
    from diffusers import AutoencoderKLHunyuanVideo

    return AutoencoderKLHunyuanVideo(
        in_channels=3, out_channels=3, latent_channels=4, down_block_types=("HunyuanVideoDownBlock3D",) * 4,
        up_block_types=("HunyuanVideoUpBlock3D",) * 4, block_out_channels=(8, 8, 8, 8), layers_per_block=1,
        act_fn="silu", norm_num_groups=4, scaling_factor=0.476986, spatial_compression_ratio=8,
        temporal_compression_ratio=4, mid_block_add_attention=True,
    )


def build_tiny_hunyuanvideo(out: Path) -> dict:
    """HunyuanVideo text-to-video (tests/pipelines/hunyuan_video/test_hunyuan_video.py): Llama + CLIP text encoders."""
    from diffusers import FlowMatchEulerDiscreteScheduler, HunyuanVideoPipeline, HunyuanVideoTransformer3DModel
    from transformers import CLIPTextModel, LlamaConfig, LlamaModel

    torch.manual_seed(SEED)
    transformer = HunyuanVideoTransformer3DModel(
        in_channels=4, out_channels=4, num_attention_heads=2, attention_head_dim=10, num_layers=1, num_single_layers=1,
        num_refiner_layers=1, patch_size=1, patch_size_t=1, guidance_embeds=True, text_embed_dim=16,
        pooled_projection_dim=64, rope_axes_dim=(2, 4, 4),
    )
    vae = _hunyuan_vae()
    tokenizer = _llama_tokenizer()
    text_encoder = LlamaModel(LlamaConfig(
        bos_token_id=1, eos_token_id=2, hidden_size=16, intermediate_size=37, num_attention_heads=4, num_key_value_heads=4,
        num_hidden_layers=2, pad_token_id=3, vocab_size=len(tokenizer.get_vocab()), hidden_act="gelu",
    )).eval()
    scratch = out / ".scratch"
    tokenizer_2 = _tokenizer(scratch / "tok")
    cfg = _text_config(len(tokenizer_2.get_vocab()), width=64)  # one 64-wide head: the pooled projection
    text_encoder_2 = CLIPTextModel(cfg).eval()
    pipe = HunyuanVideoPipeline(text_encoder=text_encoder, tokenizer=tokenizer, transformer=transformer, vae=vae,
                                scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0), text_encoder_2=text_encoder_2,
                                tokenizer_2=tokenizer_2)
    _rmtree(scratch)
    return _save(pipe, out, "tiny-hunyuanvideo", "HunyuanVideoPipeline", "hunyuanvideo")


# The tiny audio VAE's rate: real Stable Audio Open runs at 44.1 kHz; 8 kHz keeps a one-second clip a few
# thousand samples. Hop = prod(downsampling_ratios) = 8, so sample_size 1024 latents = 8192 samples = 1.024 s max.
TINY_AUDIO_RATE = 8000

# stabilityai/stable-audio-open-1.0 scheduler/scheduler_config.json (CosineDPMSolverMultistepScheduler), as published.
STABLE_AUDIO_OPEN_SCHEDULER = {
    "sigma_min": 0.3, "sigma_max": 500, "sigma_data": 1.0, "sigma_schedule": "exponential", "num_train_timesteps": 1000,
    "solver_order": 2, "prediction_type": "v_prediction", "rho": 7.0, "solver_type": "midpoint", "lower_order_final": True,
    "euler_at_final": False, "final_sigmas_type": "zero",
}


def build_tiny_stable_audio(out: Path) -> dict:
    """Stable Audio Open (tests/pipelines/stable_audio/test_stable_audio.py): Oobleck VAE, DiT, T5 + projection."""
    from diffusers import AutoencoderOobleck, CosineDPMSolverMultistepScheduler, StableAudioDiTModel, StableAudioPipeline
    from diffusers.pipelines.stable_audio import StableAudioProjectionModel
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(SEED)
    transformer = StableAudioDiTModel(
        sample_size=1024, in_channels=3, num_layers=2, attention_head_dim=4, num_attention_heads=2,
        num_key_value_attention_heads=2, out_channels=3, cross_attention_dim=4, time_proj_dim=8,
        global_states_input_dim=8, cross_attention_input_dim=4,
    )
    # The real repo's scheduler (its SDE noise comes from torchsde's Brownian tree, seeded by the request's generator).
    scheduler = CosineDPMSolverMultistepScheduler(**STABLE_AUDIO_OPEN_SCHEDULER)
    vae = AutoencoderOobleck(encoder_hidden_size=6, downsampling_ratios=[2, 4], decoder_channels=3, decoder_input_channels=3,
                             audio_channels=2, channel_multiples=[2, 4], sampling_rate=TINY_AUDIO_RATE)
    tokenizer = _t5_tokenizer()
    text_encoder = T5EncoderModel(T5Config(
        vocab_size=len(tokenizer.get_vocab()), d_model=32, d_kv=8, d_ff=37, num_layers=1, num_heads=4,
        relative_attention_num_buckets=8, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1,
    )).eval()
    projection_model = StableAudioProjectionModel(text_encoder_dim=32, conditioning_dim=4, min_value=0, max_value=32)
    pipe = StableAudioPipeline(transformer=transformer, scheduler=scheduler, vae=vae, text_encoder=text_encoder,
                               tokenizer=tokenizer, projection_model=projection_model)
    return _save(pipe, out, "tiny-stable-audio", "StableAudioPipeline", "stable-audio")
