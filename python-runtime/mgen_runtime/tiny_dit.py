"""Tiny random-weight pipelines of the transformer (DiT) image families: FLUX.2, Chroma, PixArt-Sigma, AuraFlow,
Hunyuan-DiT, SANA, Lumina 2 and Qwen-Image. Configs follow diffusers' own pipeline tests (get_dummy_components),
with the tokenizers built locally (tiny_text.py) so nothing is downloaded. They make noise, not pictures.
"""

from __future__ import annotations

from pathlib import Path

import torch

from . import tiny_text as tt
from .tiny import SEED, T5_XXL_WIDTH, _dit_vae, _files, _manifest, _rmtree, _t5_encoder, _t5_tokenizer


def _save(pipe, out: Path, name: str, family: str) -> dict:
    _rmtree(out / ".scratch")
    pipe.save_pretrained(out, safe_serialization=True)
    return _manifest(out, name, "diffusers-folder", None, _files(out), pipeline=type(pipe).__name__, family=family)


def _sd_vae_8x(latent_channels: int = 4):
    """An SD-style 4-channel VAE with the real 8x downscale (four levels of 4 channels)."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(sample_size=32, in_channels=3, out_channels=3, block_out_channels=(4, 4, 4, 4), layers_per_block=1,
                         down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                         latent_channels=latent_channels, norm_num_groups=1)


def flux2_transformer():
    from diffusers import Flux2Transformer2DModel

    # FLUX.2's 32 latent channels packed 2x2: img_in is 128 wide, as on the real model; the Mistral encoder's three
    # stacked hidden states (3 x 16) are the context.
    return Flux2Transformer2DModel(patch_size=1, in_channels=128, num_layers=1, num_single_layers=1, attention_head_dim=16,
                                   num_attention_heads=2, joint_attention_dim=48, timestep_guidance_channels=256,
                                   axes_dims_rope=[4, 4, 4, 4])


def build_tiny_flux2(out: Path) -> dict:
    from diffusers import AutoencoderKLFlux2, FlowMatchEulerDiscreteScheduler, Flux2Pipeline

    torch.manual_seed(SEED)
    processor = tt.mistral_tokenizer()
    text_encoder = tt.mistral3_encoder(len(processor), layers=31)
    transformer = flux2_transformer()
    vae = AutoencoderKLFlux2(sample_size=32, in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
                             up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(4, 4, 4, 4), layers_per_block=1,
                             latent_channels=32, norm_num_groups=1, use_quant_conv=False, use_post_quant_conv=False)
    pipe = Flux2Pipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=text_encoder, tokenizer=processor,
                         transformer=transformer)
    return _save(pipe, out, "tiny-flux2", "flux2")


def chroma_transformer():
    from diffusers import ChromaTransformer2DModel

    # FLUX.1-shaped (16 latent channels packed 2x2 = 64 in, T5-XXL 4096 context) with Chroma's distilled guidance
    # approximator in place of per-block modulation.
    return ChromaTransformer2DModel(patch_size=1, in_channels=64, num_layers=1, num_single_layers=1, attention_head_dim=16,
                                    num_attention_heads=2, joint_attention_dim=T5_XXL_WIDTH, axes_dims_rope=[4, 4, 8],
                                    approximator_hidden_dim=32, approximator_layers=1, approximator_num_channels=16)


def build_tiny_chroma(out: Path) -> dict:
    from diffusers import ChromaPipeline, FlowMatchEulerDiscreteScheduler

    torch.manual_seed(SEED)
    tokenizer = _t5_tokenizer()
    text_encoder = _t5_encoder(len(tokenizer.get_vocab()))
    pipe = ChromaPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=_dit_vae(), text_encoder=text_encoder,
                          tokenizer=tokenizer, transformer=chroma_transformer())
    return _save(pipe, out, "tiny-chroma", "chroma")


def build_tiny_pixart(out: Path) -> dict:
    """PixArt-Sigma: T5-XXL-wide captions, learned-sigma output (8 channels), an SD-style 4-channel 8x VAE. The
    transformer's sample_size 32 selects the 256-px aspect-ratio bins, so a request is generated at the nearest bin
    and resized back."""
    from diffusers import DPMSolverMultistepScheduler, PixArtSigmaPipeline, PixArtTransformer2DModel

    torch.manual_seed(SEED)
    tokenizer = _t5_tokenizer()
    text_encoder = _t5_encoder(len(tokenizer.get_vocab()))
    transformer = PixArtTransformer2DModel(
        sample_size=32, num_layers=1, patch_size=2, attention_head_dim=8, num_attention_heads=3, caption_channels=T5_XXL_WIDTH,
        in_channels=4, cross_attention_dim=24, out_channels=8, attention_bias=True, activation_fn="gelu-approximate",
        num_embeds_ada_norm=1000, norm_type="ada_norm_single", norm_elementwise_affine=False, norm_eps=1e-6,
    )
    pipe = PixArtSigmaPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=_sd_vae_8x(), transformer=transformer,
                               scheduler=DPMSolverMultistepScheduler())
    return _save(pipe, out, "tiny-pixart", "pixart")


AURAFLOW_TEXT_WIDTH = 2048  # UMT5-XL (Pile-T5) width


def auraflow_transformer():
    from diffusers import AuraFlowTransformer2DModel

    return AuraFlowTransformer2DModel(sample_size=8, patch_size=2, in_channels=4, num_mmdit_layers=1, num_single_dit_layers=1,
                                      attention_head_dim=8, num_attention_heads=4, caption_projection_dim=32,
                                      joint_attention_dim=AURAFLOW_TEXT_WIDTH, out_channels=4, pos_embed_max_size=64)


def build_tiny_auraflow(out: Path) -> dict:
    from diffusers import AuraFlowPipeline, FlowMatchEulerDiscreteScheduler

    torch.manual_seed(SEED)
    tokenizer = _t5_tokenizer()
    text_encoder = tt.umt5_encoder(len(tokenizer.get_vocab()), AURAFLOW_TEXT_WIDTH)
    pipe = AuraFlowPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=_sd_vae_8x(), transformer=auraflow_transformer(),
                            scheduler=FlowMatchEulerDiscreteScheduler())
    return _save(pipe, out, "tiny-auraflow", "auraflow")


def build_tiny_hunyuandit(out: Path) -> dict:
    """Hunyuan-DiT: a bilingual BERT plus an mT5-style encoder (both 32 wide), HunyuanDiT2DModel. Its pipeline snaps
    every size to one of Hunyuan-DiT's ~1024-px shapes unless called with use_resolution_binning=false."""
    from diffusers import DDPMScheduler, HunyuanDiT2DModel, HunyuanDiTPipeline

    torch.manual_seed(SEED)
    scratch = out / ".scratch"
    tokenizer = tt.bert_tokenizer(scratch / "bert")
    text_encoder = tt.bert_encoder(len(tokenizer.get_vocab()), 32)
    tokenizer_2 = _t5_tokenizer()
    text_encoder_2 = tt.t5_encoder(len(tokenizer_2.get_vocab()), 32)
    transformer = HunyuanDiT2DModel(sample_size=8, num_layers=2, patch_size=2, attention_head_dim=8, num_attention_heads=3,
                                    in_channels=4, cross_attention_dim=32, cross_attention_dim_t5=32,
                                    pooled_projection_dim=16, hidden_size=24, activation_fn="gelu-approximate")
    scheduler = DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.03, prediction_type="v_prediction",
                              clip_sample=False, steps_offset=1)
    pipe = HunyuanDiTPipeline(vae=_sd_vae_8x(), text_encoder=text_encoder, tokenizer=tokenizer, transformer=transformer,
                              scheduler=scheduler, safety_checker=None, feature_extractor=None, requires_safety_checker=False,
                              text_encoder_2=text_encoder_2, tokenizer_2=tokenizer_2)
    return _save(pipe, out, "tiny-hunyuandit", "hunyuandit")


def build_tiny_sana(out: Path) -> dict:
    """SANA: Gemma-2 captions, the linear-attention SanaTransformer2DModel, a DC-AE with the real 32x downscale and
    32 latent channels (six levels, 8 channels wide up to the 32-wide last one). sample_size 16 selects the 512-px aspect-ratio bins."""
    from diffusers import AutoencoderDC, FlowMatchEulerDiscreteScheduler, SanaPipeline, SanaTransformer2DModel

    torch.manual_seed(SEED)
    tokenizer = tt.gemma_tokenizer(300)
    text_encoder = tt.gemma2_encoder(len(tokenizer), 16)
    transformer = SanaTransformer2DModel(patch_size=1, in_channels=32, out_channels=32, num_layers=1, num_attention_heads=2,
                                         attention_head_dim=4, num_cross_attention_heads=2, cross_attention_head_dim=4,
                                         cross_attention_dim=8, caption_channels=16, sample_size=16)
    levels = 6
    vae = AutoencoderDC(in_channels=3, latent_channels=32, attention_head_dim=2,
                        encoder_block_types=("ResBlock",) * (levels - 1) + ("EfficientViTBlock",),
                        decoder_block_types=("ResBlock",) * (levels - 1) + ("EfficientViTBlock",),
                        encoder_block_out_channels=(8, 8, 8, 8, 16, 32), decoder_block_out_channels=(8, 8, 8, 8, 16, 32),
                        encoder_qkv_multiscales=((),) * (levels - 1) + ((5,),), decoder_qkv_multiscales=((),) * (levels - 1) + ((5,),),
                        encoder_layers_per_block=(1,) * levels, decoder_layers_per_block=(1,) * levels,
                        downsample_block_type="conv", upsample_block_type="interpolate", decoder_norm_types="rms_norm",
                        decoder_act_fns="silu", scaling_factor=0.41407)
    pipe = SanaPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer,
                        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0))
    return _save(pipe, out, "tiny-sana", "sana")


def lumina2_transformer():
    from diffusers import Lumina2Transformer2DModel

    return Lumina2Transformer2DModel(sample_size=8, patch_size=2, in_channels=16, hidden_size=16, num_layers=2,
                                     num_refiner_layers=1, num_attention_heads=2, num_kv_heads=1, multiple_of=16,
                                     ffn_dim_multiplier=None, norm_eps=1e-5, scaling_factor=1.0, axes_dim_rope=[4, 2, 2],
                                     cap_feat_dim=32)


def build_tiny_lumina2(out: Path) -> dict:
    """Lumina-Image 2.0: Gemma-2 captions, the NextDiT Lumina2Transformer2DModel, the 16-channel FLUX-style VAE."""
    from diffusers import FlowMatchEulerDiscreteScheduler, Lumina2Pipeline

    torch.manual_seed(SEED)
    tokenizer = tt.gemma_tokenizer(256)
    text_encoder = tt.gemma2_encoder(len(tokenizer), 32)
    pipe = Lumina2Pipeline(transformer=lumina2_transformer(), scheduler=FlowMatchEulerDiscreteScheduler(), vae=_dit_vae(),
                           text_encoder=text_encoder, tokenizer=tokenizer)
    return _save(pipe, out, "tiny-lumina2", "lumina2")


def qwen_transformer():
    from diffusers import QwenImageTransformer2DModel

    return QwenImageTransformer2DModel(patch_size=2, in_channels=16, out_channels=4, num_layers=2, attention_head_dim=16,
                                       num_attention_heads=3, joint_attention_dim=16, guidance_embeds=False, axes_dims_rope=(8, 4, 4))


def build_tiny_qwen_image(out: Path) -> dict:
    """Qwen-Image: a tiny Qwen2.5-VL text encoder, QwenImageTransformer2DModel, the (video-shaped) Qwen-Image VAE."""
    from diffusers import AutoencoderKLQwenImage, FlowMatchEulerDiscreteScheduler, QwenImagePipeline

    torch.manual_seed(SEED)
    tokenizer = tt.qwen_tokenizer()
    text_encoder = tt.qwen25vl_encoder(len(tokenizer))
    z_dim = 4
    vae = AutoencoderKLQwenImage(base_dim=z_dim * 6, z_dim=z_dim, dim_mult=[1, 2, 4], num_res_blocks=1,
                                 temperal_downsample=[False, True], latents_mean=[0.0] * z_dim, latents_std=[1.0] * z_dim)
    pipe = QwenImagePipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                             transformer=qwen_transformer())
    return _save(pipe, out, "tiny-qwen-image", "qwen-image")


BUILDERS = {
    "tiny-flux2": build_tiny_flux2,
    "tiny-chroma": build_tiny_chroma,
    "tiny-pixart": build_tiny_pixart,
    "tiny-auraflow": build_tiny_auraflow,
    "tiny-hunyuandit": build_tiny_hunyuandit,
    "tiny-sana": build_tiny_sana,
    "tiny-lumina2": build_tiny_lumina2,
    "tiny-qwen-image": build_tiny_qwen_image,
}
