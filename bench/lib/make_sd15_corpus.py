"""A random-weight SD 1.5 at real size built from the configs in ../shared/corpus/detect/invokeai-dreamshaper-8
(UNet, CLIP-L text encoder, VAE, tokenizer, scheduler), saved as a diffusers folder in fp32 safetensors. Used by
bench/realsize.mjs; built once into the folder given (temp folder + rename).

usage: python bench/lib/make_sd15_corpus.py CORPUS_DIR OUT_DIR
"""

import json
import os
import shutil
import sys
from pathlib import Path


def main(corpus: str, out: str) -> None:
    import torch
    import diffusers
    from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    src = Path(corpus)
    torch.manual_seed(0)
    unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(src / "unet"))
    vae = AutoencoderKL.from_config(AutoencoderKL.load_config(src / "vae"))
    text_encoder = CLIPTextModel(CLIPTextConfig.from_pretrained(src / "text_encoder"))
    tokenizer = CLIPTokenizer.from_pretrained(src / "tokenizer")
    sched_config = json.loads((src / "scheduler" / "scheduler_config.json").read_text())
    scheduler = getattr(diffusers, sched_config["_class_name"]).from_config(sched_config)  # the model's own (DEIS)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    tmp = Path(f"{out}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    pipe.save_pretrained(tmp, safe_serialization=True)
    os.replace(tmp, out)
    print(out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
