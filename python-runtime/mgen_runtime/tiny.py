"""Tiny random-weight models with the real architectures' structure, for tests and smoke checks.

`python -m mgen_runtime.tiny <name> <out_dir>` builds one (see BUILDERS) into out_dir and writes an
`mgen-tiny.json` manifest beside it. Everything is built locally (the CLIP tokenizer's vocabulary included),
from a fixed torch seed, so two builds give the same bytes and nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Callable

import torch

from .clip_vocab import bytes_to_unicode
from .ldm import controlnet_to_ldm, diffusers_to_ldm_sd1

SEED = 0
SD_TOKEN_LIMIT = 77
# The widths the detection rules decide by are the real models' ones (CLIP-L 768, OpenCLIP bigG 1280, T5-XXL 4096,
# SDXL cross-attention 2048 and added-conditioning 2816); everything else (layers, channels, MLP sizes, vocabularies)
# is cut down so that each model stays a few MB to a few tens of MB.
CLIP_L_WIDTH = 768
CLIP_G_WIDTH = 1280
T5_XXL_WIDTH = 4096
TEXT_WIDTH = CLIP_L_WIDTH
SD3_CLIP_HIDDEN = 64


def write_clip_tokenizer(folder: Path) -> int:
    """A CLIP BPE tokenizer over single bytes plus a handful of merges; returns its vocabulary size."""
    folder.mkdir(parents=True, exist_ok=True)
    symbols = sorted(bytes_to_unicode().values())
    vocab: dict[str, int] = {}
    for s in symbols:
        vocab[s] = len(vocab)
    for s in symbols:
        vocab[s + "</w>"] = len(vocab)
    merges = [("c", "a"), ("ca", "t</w>"), ("d", "o"), ("do", "g</w>"), ("a", "n"), ("i", "n</w>")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8")
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": SD_TOKEN_LIMIT,
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
        "do_lower_case": True,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return len(vocab)


def _text_config(vocab_size: int, projection: int | None = None, width: int = CLIP_L_WIDTH, layers: int = 1):
    from transformers import CLIPTextConfig

    kwargs = dict(
        hidden_size=width,
        intermediate_size=64,
        num_attention_heads=width // 64,
        num_hidden_layers=layers,
        max_position_embeddings=SD_TOKEN_LIMIT,
        vocab_size=vocab_size,
        bos_token_id=vocab_size - 2,
        eos_token_id=vocab_size - 1,
        pad_token_id=vocab_size - 1,
        hidden_act="quick_gelu",
    )
    if projection is not None:
        kwargs["projection_dim"] = projection
    return CLIPTextConfig(**kwargs)


def _vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=(32, 64),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        layers_per_block=1,
        sample_size=64,
    )


def _sd1_unet():
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=CLIP_L_WIDTH,
        attention_head_dim=(2, 4),
        norm_num_groups=32,
    )


def _sd_scheduler():
    from diffusers import PNDMScheduler

    return PNDMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", skip_prk_steps=True, steps_offset=1,
        set_alpha_to_one=False,
    )


def _tokenizer(folder: Path):
    from transformers import CLIPTokenizer

    write_clip_tokenizer(folder)
    return CLIPTokenizer(vocab=str(folder / "vocab.json"), merges=str(folder / "merges.txt"), model_max_length=SD_TOKEN_LIMIT)


def _two_clip_tokenizers(scratch: Path):
    """The two CLIP tokenizers of SDXL/SD3-style pipelines (the same tiny vocabulary) and that vocabulary's size."""
    tok1 = _tokenizer(scratch / "tok1")
    tok2 = _tokenizer(scratch / "tok2")
    return tok1, tok2, len(tok1.get_vocab())


def sd1_pipeline(scratch: Path):
    """The tiny sd1 StableDiffusionPipeline, in memory (built from SEED)."""
    from diffusers import StableDiffusionPipeline
    from transformers import CLIPTextModel

    torch.manual_seed(SEED)
    tokenizer = _tokenizer(scratch / "tok")
    text_encoder = CLIPTextModel(_text_config(len(tokenizer.get_vocab()))).eval()
    return StableDiffusionPipeline(
        vae=_vae(), text_encoder=text_encoder, tokenizer=tokenizer, unet=_sd1_unet(), scheduler=_sd_scheduler(),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )


def _manifest(out: Path, name: str, layout: str, base: str | None, files: list[str], **extra) -> dict:
    data = {"name": name, "layout": layout, "base": base, "files": sorted(files), **extra}
    (out / "mgen-tiny.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return data


def _files(out: Path) -> list[str]:
    return [str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and p.name != "mgen-tiny.json"]


def build_tiny_sd(out: Path) -> dict:
    pipe = sd1_pipeline(out / ".scratch")
    pipe.save_pretrained(out, safe_serialization=True)
    _rmtree(out / ".scratch")
    return _manifest(out, "tiny-sd", "diffusers-folder", None, _files(out), pipeline="StableDiffusionPipeline", family="sd1")


def build_tiny_sd_single(out: Path) -> dict:
    """The same sd1 weights as one original-layout (LDM) checkpoint, plus the diffusers folder that configures it."""
    from safetensors.torch import save_file

    pipe = sd1_pipeline(out / ".scratch")
    _rmtree(out / ".scratch")
    config_dir = out / "config"
    pipe.save_pretrained(config_dir, safe_serialization=True)
    state = diffusers_to_ldm_sd1(pipe.unet.state_dict(), pipe.vae.state_dict(), pipe.text_encoder.state_dict())
    save_file({k: v.contiguous() for k, v in state.items()}, str(out / "tiny-sd.safetensors"), metadata={"format": "pt"})
    return _manifest(out, "tiny-sd-single", "single-file", "tiny-sd", ["tiny-sd.safetensors"], file="tiny-sd.safetensors",
                     config="config", pipeline="StableDiffusionPipeline", family="sd1")


def _lora_targets(pipe) -> tuple[list[str], list[str]]:
    unet = [n for n, m in pipe.unet.named_modules() if isinstance(m, torch.nn.Linear) and n.rsplit(".", 1)[-1] in ("to_q", "to_k", "to_v")
            or (isinstance(m, torch.nn.Linear) and n.endswith("to_out.0"))]
    te = [n for n, m in pipe.text_encoder.named_modules() if isinstance(m, torch.nn.Linear) and n.rsplit(".", 1)[-1] in ("q_proj", "k_proj", "v_proj", "out_proj")]
    return unet, te


def _lora_pair(module: torch.nn.Linear, rank: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    down = torch.randn(rank, module.in_features, generator=gen) * 0.5
    up = torch.randn(module.out_features, rank, generator=gen) * 0.5
    return down, up


_LORA_RANK = 4


def _lora_base(out: Path, seed: int):
    """The tiny sd1 pipeline a LoRA is shaped for, a seeded generator, and the (unet, text encoder) target modules."""
    out.mkdir(parents=True, exist_ok=True)
    pipe = sd1_pipeline(out / ".scratch")
    _rmtree(out / ".scratch")
    return pipe, torch.Generator().manual_seed(seed), _lora_targets(pipe)


def build_tiny_sd_lora_kohya(out: Path) -> dict:
    """A LoRA over the tiny sd1 UNet attention and text-encoder attention, kohya-ss naming (lora_unet_*, lora_te_*)."""
    from safetensors.torch import save_file

    pipe, gen, (unet_targets, te_targets) = _lora_base(out, SEED + 1)
    rank = _LORA_RANK
    state: dict[str, torch.Tensor] = {}
    modules = dict(pipe.unet.named_modules())
    for name in unet_targets:
        down, up = _lora_pair(modules[name], rank, gen)
        key = "lora_unet_" + name.replace(".", "_")
        state[f"{key}.lora_down.weight"], state[f"{key}.lora_up.weight"] = down, up
        state[f"{key}.alpha"] = torch.tensor(float(rank))
    te_modules = dict(pipe.text_encoder.named_modules())
    for name in te_targets:
        down, up = _lora_pair(te_modules[name], rank, gen)
        # kohya names the text encoder's modules as transformers 4 laid them out (text_model.encoder.layers...).
        key = "lora_te_text_model_" + name.replace(".", "_")
        state[f"{key}.lora_down.weight"], state[f"{key}.lora_up.weight"] = down, up
        state[f"{key}.alpha"] = torch.tensor(float(rank))
    meta = {"ss_network_module": "networks.lora", "ss_network_dim": str(rank), "ss_network_alpha": str(rank), "ss_base_model_version": "sd_v1"}
    save_file(state, str(out / "tiny-sd-lora-kohya.safetensors"), metadata=meta)
    return _manifest(out, "tiny-sd-lora-kohya", "lora-kohya", "tiny-sd", _files(out), file="tiny-sd-lora-kohya.safetensors")


def build_tiny_sd_lora_peft(out: Path) -> dict:
    """The same kind of LoRA in diffusers/PEFT naming (unet.*.lora_A/lora_B, text_encoder.*)."""
    from safetensors.torch import save_file

    pipe, gen, (unet_targets, te_targets) = _lora_base(out, SEED + 2)
    rank = _LORA_RANK
    state: dict[str, torch.Tensor] = {}
    for prefix, model, targets, inner in (("unet", pipe.unet, unet_targets, ""), ("text_encoder", pipe.text_encoder, te_targets, "text_model.")):
        modules = dict(model.named_modules())
        for name in targets:
            down, up = _lora_pair(modules[name], rank, gen)
            state[f"{prefix}.{inner}{name}.lora_A.weight"] = down
            state[f"{prefix}.{inner}{name}.lora_B.weight"] = up
    save_file(state, str(out / "pytorch_lora_weights.safetensors"), metadata={"format": "pt"})
    return _manifest(out, "tiny-sd-lora-peft", "lora-peft", "tiny-sd", _files(out), file="pytorch_lora_weights.safetensors")


def build_tiny_sd_ti(out: Path) -> dict:
    """A two-vector textual-inversion embedding for the tiny text encoder, A1111 safetensors layout (emb_params)."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(SEED + 3)
    emb = torch.randn(2, TEXT_WIDTH, generator=gen)
    save_file({"emb_params": emb}, str(out / "tiny-sd-ti.safetensors"), metadata={"name": "tinyti"})
    return _manifest(out, "tiny-sd-ti", "textual-inversion", "tiny-sd", _files(out), file="tiny-sd-ti.safetensors", token="<tinyti>")


def _tiny_controlnet(out: Path):
    """The tiny sd1 ControlNet (built from SEED), in memory."""
    from diffusers import ControlNetModel

    pipe = sd1_pipeline(out / ".scratch")
    _rmtree(out / ".scratch")
    torch.manual_seed(SEED + 4)
    # Two conditioning blocks downsample the control image 2x: the tiny VAE's scale factor.
    controlnet = ControlNetModel.from_unet(pipe.unet, conditioning_embedding_out_channels=(16, 32))
    with torch.no_grad():
        # from_unet zero-initialises the output convs and the conditioning embedding's last conv, which would
        # make the ControlNet a no-op (the control image could not change a pixel).
        for block in list(controlnet.controlnet_down_blocks) + [controlnet.controlnet_mid_block,
                                                                controlnet.controlnet_cond_embedding.conv_out]:
            block.weight.normal_(0, 0.05)
    return controlnet


def build_tiny_sd_controlnet(out: Path) -> dict:
    _tiny_controlnet(out).save_pretrained(out, safe_serialization=True)
    return _manifest(out, "tiny-sd-controlnet", "diffusers-folder", "tiny-sd", _files(out), component="ControlNetModel")


def build_tiny_sd_controlnet_single(out: Path) -> dict:
    """The same ControlNet weights as tiny-sd-controlnet in one file, original ControlNet layout (`control_model.*`)
    and no config beside it: the runtime derives the config from the base model's UNet and the file's shapes."""
    from safetensors.torch import save_file

    state = controlnet_to_ldm(_tiny_controlnet(out).state_dict())
    name = "tiny-sd-controlnet.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(out / name), metadata={"format": "pt"})
    return _manifest(out, "tiny-sd-controlnet-single", "single-file", "tiny-sd", [name], file=name, component="ControlNetModel")


def _sdxl_unet():
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=256,
        transformer_layers_per_block=(1, 2),
        # pooled bigG projection + six 256-wide time ids, as in SDXL base
        projection_class_embeddings_input_dim=CLIP_G_WIDTH + 6 * 256,
        # the two encoders' hidden states concatenated: 768 + 1280
        cross_attention_dim=CLIP_L_WIDTH + CLIP_G_WIDTH,
        norm_num_groups=32,
    )


def build_tiny_sdxl(out: Path) -> dict:
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(SEED)
    scratch = out / ".scratch"
    tok1, tok2, vocab = _two_clip_tokenizers(scratch)
    # Two layers each: SDXL conditions on the penultimate hidden state and clip_skip counts back from there, which
    # a one-layer encoder cannot express. Stored in float16 (the runtime always loads with an explicit dtype) to keep
    # the 1280-wide bigG encoder near 30 MB.
    te1 = CLIPTextModel(_text_config(vocab, layers=2)).eval().to(torch.float16)
    te2 = CLIPTextModelWithProjection(_text_config(vocab, projection=CLIP_G_WIDTH, width=CLIP_G_WIDTH, layers=2)).eval().to(torch.float16)
    unet = _sdxl_unet()
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1,
                                       timestep_spacing="leading")
    pipe = StableDiffusionXLPipeline(vae=_vae(), text_encoder=te1, text_encoder_2=te2, tokenizer=tok1, tokenizer_2=tok2,
                                     unet=unet, scheduler=scheduler)
    _rmtree(scratch)
    pipe.save_pretrained(out, safe_serialization=True)
    return _manifest(out, "tiny-sdxl", "diffusers-folder", None, _files(out), pipeline="StableDiffusionXLPipeline", family="sdxl")


def _t5_tokenizer():
    """A T5 (Unigram) tokenizer over lowercase letters, built in memory."""
    from transformers import T5TokenizerFast

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -1.0)]
    pieces += [(c, -2.0) for c in "abcdefghijklmnopqrstuvwxyz0123456789<>"]
    return T5TokenizerFast(vocab=pieces, extra_ids=0, model_max_length=SD_TOKEN_LIMIT)


def _t5_encoder(vocab_size: int):
    """A T5-XXL-wide (d_model 4096) encoder with a narrow attention/MLP inside: one layer, 4 heads of 8."""
    from transformers import T5Config, T5EncoderModel

    return T5EncoderModel(T5Config(
        vocab_size=vocab_size, d_model=T5_XXL_WIDTH, d_kv=8, d_ff=32, num_layers=1, num_heads=4,
        relative_attention_num_buckets=8, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1,
    )).eval()


def _dit_vae():
    """The 16-channel VAE of FLUX.1/SD3 with the real 8x downscale (four levels of 4 channels): with the transformer's
    2x2 patches the image side is a multiple of 16, as on the real models, and a 1024x1024 default stays 128x128 latents."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        sample_size=32, in_channels=3, out_channels=3, block_out_channels=(4, 4, 4, 4), layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=16,
        norm_num_groups=1, use_quant_conv=False, use_post_quant_conv=False, shift_factor=0.0609, scaling_factor=1.5035,
    )


def build_tiny_flux(out: Path) -> dict:
    """A Flux-structured pipeline: CLIP + T5 text encoders, FluxTransformer2DModel with packed latents, a 1-level VAE."""
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import CLIPTextModel

    torch.manual_seed(SEED)
    scratch = out / ".scratch"
    tokenizer = _tokenizer(scratch / "tok")
    text_encoder = CLIPTextModel(_text_config(len(tokenizer.get_vocab()))).eval()
    tokenizer_2 = _t5_tokenizer()
    text_encoder_2 = _t5_encoder(len(tokenizer_2.get_vocab()))
    # FLUX.1's decisive widths: packed latents 16 channels x 2x2 = 64 in, T5-XXL 4096 context, CLIP-L 768 pooled.
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=64, num_layers=1, num_single_layers=1, attention_head_dim=16, num_attention_heads=2,
        joint_attention_dim=T5_XXL_WIDTH, pooled_projection_dim=CLIP_L_WIDTH, axes_dims_rope=[4, 4, 8],
    )
    vae = _dit_vae()
    pipe = FluxPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                        text_encoder_2=text_encoder_2, tokenizer_2=tokenizer_2, transformer=transformer)
    _rmtree(scratch)
    pipe.save_pretrained(out, safe_serialization=True)
    return _manifest(out, "tiny-flux", "diffusers-folder", None, _files(out), pipeline="FluxPipeline", family="flux")


def build_tiny_sd3(out: Path) -> dict:
    """An SD3-structured pipeline: two projected CLIP encoders + T5, SD3Transformer2DModel, flow-matching scheduler."""
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Pipeline
    from transformers import CLIPTextModelWithProjection

    torch.manual_seed(SEED)
    scratch = out / ".scratch"
    tok1, tok2, vocab = _two_clip_tokenizers(scratch)
    # The pooled conditioning is the two CLIP projections concatenated: 768 (CLIP-L) + 1280 (bigG) = 2048, as in SD3.
    # The CLIP hidden widths stay narrow (SD3_CLIP_HIDDEN): the real 768/1280-wide encoders would add ~45 MB, and
    # the SD3 rule reads the transformer, not the text encoders.
    te1 = CLIPTextModelWithProjection(_text_config(vocab, projection=CLIP_L_WIDTH, width=SD3_CLIP_HIDDEN)).eval()
    te2 = CLIPTextModelWithProjection(_text_config(vocab, projection=CLIP_G_WIDTH, width=SD3_CLIP_HIDDEN)).eval()
    tok3 = _t5_tokenizer()
    te3 = _t5_encoder(len(tok3.get_vocab()))  # the CLIP hidden states are concatenated and padded to the T5 width
    transformer = SD3Transformer2DModel(
        sample_size=32, patch_size=2, in_channels=16, out_channels=16, num_layers=1, attention_head_dim=8,
        num_attention_heads=4, caption_projection_dim=32, joint_attention_dim=T5_XXL_WIDTH,
        pooled_projection_dim=CLIP_L_WIDTH + CLIP_G_WIDTH,
    )
    vae = _dit_vae()
    pipe = StableDiffusion3Pipeline(transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0), vae=vae,
                                    text_encoder=te1, tokenizer=tok1, text_encoder_2=te2, tokenizer_2=tok2,
                                    text_encoder_3=te3, tokenizer_3=tok3)
    _rmtree(scratch)
    pipe.save_pretrained(out, safe_serialization=True)
    return _manifest(out, "tiny-sd3", "diffusers-folder", None, _files(out), pipeline="StableDiffusion3Pipeline", family="sd3")


def _extras():
    from . import tiny_extras

    return tiny_extras


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


BUILDERS: dict[str, Callable[[Path], dict]] = {
    "tiny-sd": build_tiny_sd,
    "tiny-sd-single": build_tiny_sd_single,
    "tiny-sdxl": build_tiny_sdxl,
    "tiny-sd-lora-kohya": build_tiny_sd_lora_kohya,
    "tiny-sd-lora-peft": build_tiny_sd_lora_peft,
    "tiny-sd-ti": build_tiny_sd_ti,
    "tiny-sd-controlnet": build_tiny_sd_controlnet,
    "tiny-sd-controlnet-single": build_tiny_sd_controlnet_single,
    "tiny-flux": build_tiny_flux,
    "tiny-sd3": build_tiny_sd3,
    # A1111 extras (tiny_extras.py)
    "tiny-sd-hypernetwork": lambda out: _extras().build_tiny_sd_hypernetwork(out),
    "tiny-sd-aesthetic": lambda out: _extras().build_tiny_sd_aesthetic(out),
    # upscalers (tiny_upscalers.py)
    "tiny-esrgan": lambda out: __import__("mgen_runtime.tiny_upscalers", fromlist=["x"]).build_tiny_esrgan(out),
    "tiny-sd-ip-adapter": lambda out: __import__("mgen_runtime.tiny_upscalers", fromlist=["x"]).build_tiny_sd_ip_adapter(out),
    "tiny-swinir": lambda out: __import__("mgen_runtime.tiny_upscalers", fromlist=["x"]).build_tiny_swinir(out),
    "tiny-dat": lambda out: __import__("mgen_runtime.tiny_upscalers", fromlist=["x"]).build_tiny_dat(out),
    "tiny-hat": lambda out: __import__("mgen_runtime.tiny_upscalers", fromlist=["x"]).build_tiny_hat(out),
    # FLUX IP-Adapter (tiny_ip_flux.py)
    "tiny-flux-ip-adapter": lambda out: __import__("mgen_runtime.tiny_ip_flux", fromlist=["x"]).build_tiny_flux_ip_adapter(out),
    # T2I-Adapters (tiny_t2i.py)
    "tiny-sd-t2i-adapter": lambda out: __import__("mgen_runtime.tiny_t2i", fromlist=["x"]).build_tiny_sd_t2i_adapter(out),
    "tiny-sdxl-t2i-adapter": lambda out: __import__("mgen_runtime.tiny_t2i", fromlist=["x"]).build_tiny_sdxl_t2i_adapter(out),
}
# Video and audio families (issue 13): tiny_video.py, imported when one is built (it imports helpers from here).
def _tiny_video(builder: str) -> Callable[[Path], dict]:
    def build(out: Path) -> dict:
        from . import tiny_video

        return getattr(tiny_video, builder)(out)
    return build


BUILDERS.update({name: _tiny_video("build_" + name.replace("-", "_")) for name in (
    "tiny-wan", "tiny-wan22", "tiny-cogvideox", "tiny-ltxv", "tiny-ltxv-i2v", "tiny-hunyuanvideo", "tiny-stable-audio")})
# Image-to-video for Wan 2.1, CogVideoX 1.5 and HunyuanVideo (issue 13): tiny_video_i2v.py.
def _tiny_video_i2v(builder: str) -> Callable[[Path], dict]:
    def build(out: Path) -> dict:
        from . import tiny_video_i2v

        return getattr(tiny_video_i2v, builder)(out)
    return build


BUILDERS.update({name: _tiny_video_i2v("build_" + name.replace("-", "_")) for name in (
    "tiny-wan-i2v", "tiny-cogvideox-i2v", "tiny-hunyuanvideo-i2v")})

# The other image families (tiny_dit.py: transformer families; tiny_unet.py: UNet families and Stable Cascade;
# tiny_single.py: transformer-only files in the original layouts). They
# import this module's helpers, so they are registered on the package's copy of it only (main() runs that copy).
if __name__ != "__main__":
    from . import tiny_dit, tiny_single, tiny_unet

    BUILDERS.update(tiny_dit.BUILDERS)
    BUILDERS.update(tiny_unet.BUILDERS)
    BUILDERS.update(tiny_single.BUILDERS)
# Kolors (tiny_kolors.py: ChatGLM text encoder, sentencepiece tokenizer trained locally).
if __name__ != "__main__":
    from . import tiny_kolors

    BUILDERS.update(tiny_kolors.BUILDERS)
# Wan transformers in the original layout (wan_single.py, issue 13).
if __name__ != "__main__":
    from . import wan_single

    BUILDERS.update(wan_single.BUILDERS)


def build(name: str, out_dir: str | os.PathLike) -> dict:
    """Build the named tiny model into out_dir (created; must be empty or absent) and return its manifest."""
    if name not in BUILDERS:
        raise KeyError(f"unknown tiny model {name!r}; known: {', '.join(sorted(BUILDERS))}")
    out = Path(out_dir).resolve()
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty")
    out.mkdir(parents=True, exist_ok=True)
    import diffusers  # noqa: F401 - imported first so their save/load bars can be turned off
    import transformers  # noqa: F401

    from . import quiet

    quiet.early()
    return BUILDERS[name](out)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: python -m mgen_runtime.tiny <{'|'.join(sorted(BUILDERS))}> <out_dir>", file=sys.stderr)
        return 2
    try:
        manifest = build(argv[0], argv[1])
    except (KeyError, FileExistsError) as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    print(json.dumps(manifest))
    return 0


if __name__ == "__main__":
    from mgen_runtime import tiny as _package_copy  # the copy with every family registered

    sys.exit(_package_copy.main(sys.argv[1:]))
