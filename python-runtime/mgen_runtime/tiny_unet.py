"""Tiny random-weight pipelines of the UNet image families beyond SD1/SDXL: SD 2.x (v-prediction), the SDXL
refiner, and Stable Cascade (prior + decoder in the combined pipeline). The widths the detection rules decide by
are the real ones (OpenCLIP-H 1024 for SD2, bigG 1280 / add-embedding 2560 for the refiner); everything else is cut
down. They make noise, not pictures.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .tiny import CLIP_G_WIDTH, SEED, _files, _manifest, _rmtree, _text_config, _tokenizer, _vae

OPENCLIP_H_WIDTH = 1024


def build_tiny_sd2(out: Path) -> dict:
    """SD 2.x 768-v style: OpenCLIP-H-wide (1024) text encoder and cross-attention, linear projections, and a
    v-prediction scheduler (what makes the 768 models differ from the 512 epsilon ones)."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel

    torch.manual_seed(SEED)
    scratch = out / ".scratch"
    tokenizer = _tokenizer(scratch / "tok")
    # Stored in float16 (the runtime always loads with an explicit dtype) to keep the 1024-wide encoder small.
    text_encoder = CLIPTextModel(_text_config(len(tokenizer.get_vocab()), width=OPENCLIP_H_WIDTH)).eval().to(torch.float16)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=32, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=OPENCLIP_H_WIDTH, attention_head_dim=(2, 4), use_linear_projection=True, norm_num_groups=32,
    )
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1,
                                       prediction_type="v_prediction", timestep_spacing="leading")
    pipe = StableDiffusionPipeline(vae=_vae(), text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    _rmtree(scratch)
    pipe.save_pretrained(out, safe_serialization=True)
    return _manifest(out, "tiny-sd2", "diffusers-folder", None, _files(out), pipeline="StableDiffusionPipeline", family="sd2")


def build_tiny_sdxl_refiner(out: Path) -> dict:
    """The SDXL refiner: bigG only (no CLIP-L), cross-attention 1280, add-embedding 1280 + 5 x 256 = 2560 (the
    aesthetic score in place of the target size). An image-to-image model."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLImg2ImgPipeline, UNet2DConditionModel
    from transformers import CLIPTextModelWithProjection

    torch.manual_seed(SEED)
    scratch = out / ".scratch"
    tok2 = _tokenizer(scratch / "tok2")
    te2 = CLIPTextModelWithProjection(_text_config(len(tok2.get_vocab()), projection=CLIP_G_WIDTH, width=CLIP_G_WIDTH,
                                                   layers=1)).eval().to(torch.float16)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=32, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=256,
        transformer_layers_per_block=(1, 2), projection_class_embeddings_input_dim=CLIP_G_WIDTH + 5 * 256,
        cross_attention_dim=CLIP_G_WIDTH, norm_num_groups=32,
    )
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1,
                                       timestep_spacing="leading")
    pipe = StableDiffusionXLImg2ImgPipeline(vae=_vae(), text_encoder=None, text_encoder_2=te2, tokenizer=None, tokenizer_2=tok2,
                                            unet=unet, scheduler=scheduler, requires_aesthetics_score=True,
                                            force_zeros_for_empty_prompt=False)
    _rmtree(scratch)
    pipe.save_pretrained(out, safe_serialization=True)
    return _manifest(out, "tiny-sdxl-refiner", "diffusers-folder", None, _files(out), pipeline="StableDiffusionXLImg2ImgPipeline",
                     family="sdxl-refiner")


def build_tiny_cascade(out: Path) -> dict:
    """Stable Cascade as one StableCascadeCombinedPipeline: the stage C prior (StableCascadeUNet), the stage B decoder
    (StableCascadeUNet) and the stage A Paella VQ-GAN, each with its CLIP text encoder. Configs from diffusers' own
    combined-pipeline test."""
    from diffusers import DDPMWuerstchenScheduler, StableCascadeCombinedPipeline, StableCascadeUNet
    from diffusers.pipelines.deprecated.wuerstchen import PaellaVQModel
    from transformers import CLIPTextModelWithProjection

    width = 64
    torch.manual_seed(SEED)
    scratch = out / ".scratch"
    tokenizer = _tokenizer(scratch / "tok")
    prior_tokenizer = _tokenizer(scratch / "prior_tok")
    vocab = len(tokenizer.get_vocab())

    def text_encoder():
        return CLIPTextModelWithProjection(_text_config(vocab, projection=width, width=width, layers=2)).eval()

    prior = StableCascadeUNet(conditioning_dim=128, block_out_channels=(128, 128), num_attention_heads=(2, 2),
                              down_num_layers_per_block=(1, 1), up_num_layers_per_block=(1, 1), clip_image_in_channels=768,
                              switch_level=(False,), clip_text_in_channels=width, clip_text_pooled_in_channels=width).eval()
    decoder = StableCascadeUNet(
        in_channels=4, out_channels=4, conditioning_dim=128, block_out_channels=(16, 32, 64, 128), num_attention_heads=(-1, -1, 1, 2),
        down_num_layers_per_block=(1, 1, 1, 1), up_num_layers_per_block=(1, 1, 1, 1), down_blocks_repeat_mappers=(1, 1, 1, 1),
        up_blocks_repeat_mappers=(3, 3, 2, 2),
        block_types_per_layer=(("SDCascadeResBlock", "SDCascadeTimestepBlock"), ("SDCascadeResBlock", "SDCascadeTimestepBlock"),
                               ("SDCascadeResBlock", "SDCascadeTimestepBlock", "SDCascadeAttnBlock"),
                               ("SDCascadeResBlock", "SDCascadeTimestepBlock", "SDCascadeAttnBlock")),
        switch_level=None, clip_text_pooled_in_channels=width, dropout=(0.0, 0.0, 0.0, 0.0),
    ).eval()
    vqgan = PaellaVQModel(bottleneck_blocks=1, num_vq_embeddings=2, embed_dim=32, levels=2).eval()
    pipe = StableCascadeCombinedPipeline(
        tokenizer=tokenizer, text_encoder=text_encoder(), decoder=decoder, scheduler=DDPMWuerstchenScheduler(), vqgan=vqgan,
        prior_prior=prior, prior_text_encoder=text_encoder(), prior_tokenizer=prior_tokenizer, prior_scheduler=DDPMWuerstchenScheduler(),
        prior_feature_extractor=None, prior_image_encoder=None,
    )
    _rmtree(scratch)
    pipe.save_pretrained(out, safe_serialization=True)
    return _manifest(out, "tiny-cascade", "diffusers-folder", None, _files(out), pipeline="StableCascadeCombinedPipeline",
                     family="cascade")


BUILDERS = {
    "tiny-sd2": build_tiny_sd2,
    "tiny-sdxl-refiner": build_tiny_sdxl_refiner,
    "tiny-cascade": build_tiny_cascade,
}
