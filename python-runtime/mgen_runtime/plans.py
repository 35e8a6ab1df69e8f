"""Execute a LOAD PLAN (docs/worker-protocol.md) decided by the CLI from its ModelReport.

The plan says what the model is and how to load it; nothing here guesses a family. Pipeline, model and
scheduler classes are looked up by name on the diffusers module.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .info import pick_device
from .protocol import WorkerError, from_exception

PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin", ".pkl", ".pickle")
STRATEGIES = ("diffusers-folder", "single-file", "component-file")
TASKS = ("text-to-image", "image-to-image", "inpaint")
DTYPES = ("float32", "float16", "bfloat16")
OFFLOADS = ("none", "model", "sequential")

_DEFAULTS: dict[str, Any] = {
    "task": "text-to-image", "config_repo": None, "component": None, "base_path": None, "variant": None,
    "dtype": "float32", "device": "auto", "offload": "none", "vae_tiling": False, "allow_pickle": False,
    "trust_remote_code": False, "compile": False, "loras": [], "embeddings": [], "controlnet": None, "vae": None,
    "hypernetworks": [], "aesthetic": None, "ip_adapter": None, "t2i_adapter": None,
    # The CLI's memory plan (memory-plan.ts): null means "from `offload`"; memory_next is the advice on OOM.
    "memory": None, "memory_next": None, "vae_slicing": False, "quantize": "none",
}


@dataclass
class Loaded:
    pipe: Any
    plan: dict[str, Any]
    device: str
    dtype: str
    offload: str
    load_seconds: float
    base_scheduler_config: Any = None
    components: dict[str, str] = field(default_factory=dict)
    # Request LoRAs loaded as named adapters (adapters.AdapterCache), made on first use.
    adapters: Any = None
    # The memory plan that applied ('cpu' on CPU) and what happened to quantized/low-precision weights.
    memory: str = "gpu"
    notes: list[str] = field(default_factory=list)

    def result(self) -> dict[str, Any]:
        return {"pipeline": type(self.pipe).__name__, "device": self.device, "dtype": self.dtype, "offload": self.offload,
                "load_seconds": round(self.load_seconds, 3), "components": self.components, "memory": self.memory,
                "notes": self.notes}


def normalize_plan(raw: Any) -> dict[str, Any]:
    """Fill defaults and check types; a malformed plan is a bad_request."""
    if not isinstance(raw, dict):
        raise WorkerError("bad_request", "`plan` must be an object")
    plan = {**_DEFAULTS, **raw}
    for key in ("strategy", "path", "pipeline"):
        if not isinstance(plan.get(key), str) or not plan[key]:
            raise WorkerError("bad_request", f"plan.{key} must be a non-empty string")
    for key, allowed in (("strategy", STRATEGIES), ("task", TASKS), ("dtype", DTYPES), ("offload", OFFLOADS),
                         ("device", ("cpu", "cuda", "mps", "auto"))):
        if plan[key] not in allowed:
            raise WorkerError("bad_request", f"plan.{key} is {plan[key]!r}; expected one of {', '.join(allowed)}")
    from .quant_load import MEMORY, QUANTIZE

    if plan["memory"] is not None and plan["memory"] not in MEMORY:
        raise WorkerError("bad_request", f"plan.memory is {plan['memory']!r}; expected one of {', '.join(MEMORY)}")
    if plan["quantize"] not in QUANTIZE:
        raise WorkerError("bad_request", f"plan.quantize is {plan['quantize']!r}; expected one of {', '.join(QUANTIZE)}")
    if plan["strategy"] == "component-file" and (plan["component"] not in ("unet", "transformer") or not plan["base_path"]):
        raise WorkerError("bad_request", "a component-file plan needs `component` (unet|transformer) and `base_path`")
    for key in ("loras", "embeddings"):
        if not isinstance(plan[key], list) or not all(isinstance(x, dict) and isinstance(x.get("path"), str) for x in plan[key]):
            raise WorkerError("bad_request", f"plan.{key} must be a list of objects with a `path`")
    for key in ("controlnet", "vae", "t2i_adapter"):
        if plan[key] is not None and not (isinstance(plan[key], dict) and isinstance(plan[key].get("path"), str)):
            raise WorkerError("bad_request", f"plan.{key} must be null or an object with a `path`")
    return plan


def diffusers_class(name: str, kind: str) -> Any:
    import diffusers

    cls = getattr(diffusers, name, None) if name.isidentifier() else None
    if cls is None or not isinstance(cls, type):
        raise WorkerError("load_failed", f"diffusers {diffusers.__version__} has no {kind} class {name!r}")
    return cls


def _is_pickle(path: Path) -> bool:
    return path.suffix.lower() in PICKLE_SUFFIXES


def _weight_files(path: Path) -> list[Path]:
    if path.is_dir():
        return [p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in PICKLE_SUFFIXES + (".safetensors",)]
    return [path]


def check_pickle(plan: dict[str, Any]) -> None:
    """Refuse pickled weights unless the plan allows them (then they go through torch's weights-only loader)."""
    if plan["allow_pickle"]:
        return
    single = [Path(plan["path"])] if plan["strategy"] != "diffusers-folder" else []
    single += [Path(x["path"]) for x in plan["loras"] + plan["embeddings"]]
    single += [Path(plan[k]["path"]) for k in ("controlnet", "vae", "t2i_adapter") if plan[k] and plan[k].get("single_file")]
    for p in single:
        if _is_pickle(p):
            raise WorkerError("unsafe_model", f"{p.name} is a pickle file ({p.suffix}); refusing it without allow_pickle")
    folders = [Path(plan["path"])] if plan["strategy"] == "diffusers-folder" else []
    folders += [Path(plan[k]["path"]) for k in ("controlnet", "vae", "t2i_adapter") if plan[k] and not plan[k].get("single_file")]
    for folder in folders:
        files = _weight_files(folder)
        if files and all(_is_pickle(f) for f in files):
            names = ", ".join(sorted(str(f.relative_to(folder)) for f in files)[:3])
            raise WorkerError("unsafe_model", f"{folder.name} holds only pickle weights ({names}); refusing them without allow_pickle")


def _torch_dtype(name: str, device: str) -> tuple[Any, str]:
    import torch

    if device == "cpu" and name != "float32":
        name = "float32"  # half precision on CPU is slow or unsupported for many ops
    return getattr(torch, name), name


def _read_state(path: Path, allow_pickle: bool) -> Any:
    """An adapter file's tensors: safetensors directly, pickles only through torch's weights-only loader."""
    if not _is_pickle(path):
        return str(path)
    if not allow_pickle:
        raise WorkerError("unsafe_model", f"{path.name} is a pickle file; refusing it without allow_pickle")
    import torch

    return torch.load(str(path), map_location="cpu", weights_only=True)


def _folder_class(folder: Path, fallback: str) -> str:
    try:
        return json.loads((folder / "config.json").read_text(encoding="utf-8")).get("_class_name") or fallback
    except (OSError, ValueError):
        return fallback


def _load_submodel(spec: dict[str, Any], default_class: str, config_folder: Path | None, common: dict[str, Any]) -> Any:
    path = Path(spec["path"])
    if spec.get("single_file") or path.is_file():
        cls = diffusers_class(spec.get("class") or default_class, "model")
        kwargs = dict(common)
        if config_folder is not None and config_folder.is_dir():
            kwargs["config"] = str(config_folder)
        return cls.from_single_file(str(path), **kwargs)
    cls = diffusers_class(_folder_class(path, default_class), "model")
    return cls.from_pretrained(str(path), **common)


# --- single-file ControlNets -------------------------------------------------------------------------------------
# diffusers' ControlNetModel.from_single_file without `config=` looks a config repo up on the HuggingFace Hub. Instead
# the config is derived locally: the base model's UNet config (the ControlNet copies its encoder) plus what only the
# file knows, read from its tensor shapes.

def _hint_convs(shapes: dict[str, tuple[int, ...]], pattern: str) -> list[tuple[int, ...]]:
    import re

    found = {int(m.group(1)): shape for key, shape in shapes.items() if (m := re.fullmatch(pattern, key))}
    return [found[i] for i in sorted(found)]


def controlnet_file_facts(shapes: dict[str, tuple[int, ...]]) -> dict[str, Any]:
    """What a ControlNet file's weight shapes fix in its config: the control image's channels, the conditioning
    embedding's widths and the latent channels. Works on the original layout (`[control_model.]input_hint_block.*`,
    as in lllyasviel's files) and on diffusers' (`controlnet_cond_embedding.*`)."""
    prefix = "control_model." if any(k.startswith("control_model.") for k in shapes) else ""
    if f"{prefix}input_hint_block.0.weight" in shapes:
        # The hint encoder is one Sequential with a SiLU between convolutions: convs at even indices, the first one
        # takes the control image, the last one projects to the UNet width.
        convs = _hint_convs(shapes, rf"{prefix}input_hint_block\.(\d+)\.weight")
        conv_in = f"{prefix}input_blocks.0.0.weight"
    elif "controlnet_cond_embedding.conv_in.weight" in shapes:
        convs = [shapes["controlnet_cond_embedding.conv_in.weight"],
                 *_hint_convs(shapes, r"controlnet_cond_embedding\.blocks\.(\d+)\.weight"),
                 shapes.get("controlnet_cond_embedding.conv_out.weight", ())]
        conv_in = "conv_in.weight"
    else:
        raise WorkerError("load_failed", "not a ControlNet file: it has neither input_hint_block.* nor controlnet_cond_embedding.* weights")
    first, blocks = convs[0], convs[1:-1]
    if len(convs) < 2 or len(blocks) % 2 or any(len(c) != 4 for c in convs) or len(shapes.get(conv_in, ())) != 4:
        raise WorkerError("load_failed", "the ControlNet file's conditioning encoder has an unexpected shape")
    # Each level is a same-width conv then a strided conv to the next width; the levels' widths are the strided
    # convs' outputs.
    return {"conditioning_channels": first[1],
            "conditioning_embedding_out_channels": [first[0], *(c[0] for c in blocks[1::2])],
            "in_channels": shapes[conv_in][1]}


def derive_controlnet_config(unet_config: Any, shapes: dict[str, tuple[int, ...]]) -> dict[str, Any]:
    """A ControlNetModel config.json for a single ControlNet file: the UNet config's values for the arguments
    ControlNetModel takes, overridden by what the file's shapes say."""
    import inspect

    cls = diffusers_class("ControlNetModel", "model")
    accepted = [n for n, p in inspect.signature(cls.__init__).parameters.items()
                if n != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    config = {k: _plain(unet_config[k]) for k in accepted if k in unet_config}
    config.update(controlnet_file_facts(shapes))
    return {"_class_name": "ControlNetModel", **config}


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _load_controlnet_file(spec: dict[str, Any], pipe: Any, common: dict[str, Any], allow_pickle: bool) -> Any:
    import tempfile

    unet = getattr(pipe, "unet", None)
    if (spec.get("class") or "ControlNetModel") != "ControlNetModel" or unet is None:
        return _load_submodel(spec, "ControlNetModel", None, common)
    path = Path(spec["path"])
    if not path.is_file():
        raise WorkerError("load_failed", f"{path} {'is not a file' if path.exists() else 'does not exist'}")
    source = _read_state(path, allow_pickle)  # a pickle only with allow_pickle, through the weights-only loader
    if isinstance(source, str):
        from safetensors.torch import load_file

        state = load_file(source)
    else:
        state = source
        while isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]
        if not isinstance(state, dict):
            raise WorkerError("load_failed", f"{path.name} holds no state dict")
        state = {k: v for k, v in state.items() if hasattr(v, "shape")}
    config = derive_controlnet_config(unet.config, {k: tuple(v.shape) for k, v in state.items()})
    cls = diffusers_class("ControlNetModel", "model")
    converted = _controlnet_to_diffusers(state, config)
    _check_complete(cls, config, converted, path)
    with tempfile.TemporaryDirectory(prefix="mgen-controlnet-config-") as tmp:
        (Path(tmp) / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
        return cls.from_single_file(converted, config=tmp, **common)


def _controlnet_to_diffusers(state: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """diffusers names for an original-layout ControlNet, through diffusers' own converter (the one from_single_file
    would run), plus SDXL's added conditioning: the original `label_emb.0.{0,2}`, which diffusers 0.42's ControlNet
    converter leaves out, becomes `add_embedding` (or `class_embedding`)."""
    from diffusers.loaders.single_file_utils import convert_controlnet_checkpoint

    converted = {k: v for k, v in convert_controlnet_checkpoint(state, config).items() if v is not None}
    prefix = "control_model." if any(k.startswith("control_model.") for k in state) else ""
    target = "add_embedding" if config.get("addition_embed_type") else "class_embedding" if config.get("class_embed_type") else None
    if target:
        for lin, idx in (("linear_1", 0), ("linear_2", 2)):
            for what in ("weight", "bias"):
                key = f"{prefix}label_emb.0.{idx}.{what}"
                if key in state and f"{target}.{lin}.{what}" not in converted:
                    converted[f"{target}.{lin}.{what}"] = state[key]
    return converted


def _check_complete(cls: Any, config: dict[str, Any], converted: dict[str, Any], path: Path) -> None:
    """Every weight the derived ControlNet has must come from the file (diffusers would leave a missing one unset)."""
    import torch

    with torch.device("meta"):
        expected = cls.from_config(config).state_dict()
    missing = sorted(k for k in expected if k not in converted)
    wrong = sorted(k for k in expected if k in converted and tuple(converted[k].shape) != tuple(expected[k].shape))
    if missing or wrong:
        names = ", ".join((missing + wrong)[:3]) + (" ..." if len(missing) + len(wrong) > 3 else "")
        what = "has no weights for" if missing else "has weights of another shape for"
        raise WorkerError("load_failed", f"{path.name} {what} {names}: this ControlNet does not fit the base model's UNet")


def _base_pipeline(plan: dict[str, Any], common: dict[str, Any], extra: dict[str, Any], notes: list[str]) -> Any:
    cls = diffusers_class(plan["pipeline"], "pipeline")
    path = Path(plan["path"])
    if not path.exists():
        raise WorkerError("load_failed", f"{path} does not exist")
    if plan["strategy"] == "diffusers-folder":
        kwargs = {**_public(common), **extra}
        if plan["variant"]:
            kwargs["variant"] = plan["variant"]
        if not plan["allow_pickle"]:
            kwargs["use_safetensors"] = True
        if plan["trust_remote_code"]:
            kwargs["trust_remote_code"] = True
        if _names_relocated(path):
            return _from_components(cls, path, _public(common), extra)
        return cls.from_pretrained(str(path), **kwargs)
    if plan["strategy"] == "single-file":
        kwargs = {**_public(common), **extra}
        if plan["config_repo"]:
            kwargs["config"] = plan["config_repo"]
            return cls.from_single_file(str(path), **kwargs)
        # No configs named (a local file): found or built locally, never fetched (single_file_config.py).
        import tempfile

        from .single_file_config import local_config

        with tempfile.TemporaryDirectory(prefix="mgen-single-file-config-") as tmp:
            kwargs["config"] = local_config(path, plan["allow_pickle"], Path(tmp))
            _quantized_single_file(path, kwargs["config"], plan, common, kwargs, notes)
            return cls.from_single_file(str(path), **kwargs)
    # component-file: the UNet/transformer from the file, everything else from the base folder.
    component = plan["component"]
    base = Path(plan["base_path"])
    model_cls = diffusers_class(_folder_class(base / component, "UNet2DConditionModel" if component == "unet" else ""), "model")
    from .quant_files import file_kind, load_denoiser

    kind = file_kind(path)
    if kind:
        model, note = load_denoiser(model_cls, path, kind, common["_device"], common["dtype"],
                                    {"config": str(base), "subfolder": component, **_public(common)})
        notes.append(note)
    else:
        source: Any = str(path)
        if model_cls.__name__ in ("FluxTransformer2DModel", "ChromaTransformer2DModel"):
            from .bfl_layout import narrow_bfl_state

            # A BFL-layout file narrower than the real models, which diffusers' converter cannot split: converted here.
            source = narrow_bfl_state(str(path), model_cls.load_config(str(base), subfolder=component)) or source
        model = model_cls.from_single_file(source, config=str(base), subfolder=component, **_public(common))
    return cls.from_pretrained(str(base), **{**_public(common), **extra, component: model})


def _public(common: dict[str, Any]) -> dict[str, Any]:
    """The from_pretrained/from_single_file keywords (without the `_device` the quantized loaders need)."""
    return {k: v for k, v in common.items() if not k.startswith("_")}


def _quantized_single_file(path: Path, config: str, plan: dict[str, Any], common: dict[str, Any], kwargs: dict[str, Any],
                           notes: list[str]) -> None:
    """A whole checkpoint whose denoiser is 4-bit or (scaled) fp8: the denoiser is loaded first (quant_files.py) and
    handed to the pipeline, which reads the rest of the file as usual."""
    from .quant_files import file_kind, load_denoiser

    kind = file_kind(path)
    if kind not in ("bnb-nf4", "bnb-fp4", "scaled-fp8", "fp8"):
        return
    name = "transformer" if (Path(config) / "transformer").is_dir() else "unet"
    model_cls = diffusers_class(_folder_class(Path(config) / name, "UNet2DConditionModel"), "model")
    model, note = load_denoiser(model_cls, path, kind, common["_device"], common["dtype"],
                                {"config": config, "subfolder": name, **_public(common)})
    notes.append(note)
    kwargs[name] = model


# diffusers 0.42 moved Wuerstchen, whose PaellaVQModel is Stable Cascade's stage A VQ-GAN, under pipelines.deprecated,
# and its folder loader then refuses the model_index.json entry (["wuerstchen", "PaellaVQModel"] in Stability's repos,
# ["diffusers", "PaellaVQModel"] as save_pretrained writes it), even for a component passed in. Such folders are
# loaded component by component here and the pipeline is built from them.
_RELOCATED = {"PaellaVQModel": "diffusers.pipelines.deprecated.wuerstchen"}


def _model_index(folder: Path) -> dict[str, Any]:
    try:
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return index if isinstance(index, dict) else {}


def _names_relocated(folder: Path) -> bool:
    return any(isinstance(v, list) and len(v) == 2 and v[1] in _RELOCATED for v in _model_index(folder).values())


def _from_components(cls: Any, folder: Path, common: dict[str, Any], given: dict[str, Any]) -> Any:
    import importlib

    import diffusers
    import transformers

    parts: dict[str, Any] = dict(given)
    for name, spec in _model_index(folder).items():
        if name.startswith("_") or name in parts or not isinstance(spec, list) or len(spec) != 2:
            continue
        library, class_name = spec
        if class_name is None:
            parts[name] = None
            continue
        if class_name in _RELOCATED:
            part_cls = getattr(importlib.import_module(_RELOCATED[class_name]), class_name)
        else:
            part_cls = getattr(transformers if library == "transformers" else diffusers, class_name, None)
        if part_cls is None:
            raise WorkerError("load_failed", f"{folder.name}/model_index.json names {library}.{class_name} for {name}, which is not installed")
        if issubclass(part_cls, diffusers.SchedulerMixin):
            parts[name] = part_cls.from_pretrained(str(folder), subfolder=name)
        elif issubclass(part_cls, (transformers.PreTrainedTokenizerBase, transformers.ProcessorMixin, transformers.ImageProcessingMixin)):
            parts[name] = part_cls.from_pretrained(str(folder / name))
        else:
            parts[name] = part_cls.from_pretrained(str(folder / name), **common)
    return cls(**parts)


def _for_task(pipe: Any, plan: dict[str, Any], controlnet: Any) -> Any:
    """Switch the loaded pipeline to the plan's task (and ControlNet) sharing its components, no reload."""
    import diffusers

    extra = {"controlnet": controlnet} if controlnet is not None else {}
    from .media import media_kind

    if controlnet is None and media_kind(pipe) != "image":
        return pipe  # video/audio models load as their own pipeline class (image-to-video has no Auto* mapping)
    if plan["task"] == "image-to-image":
        return diffusers.AutoPipelineForImage2Image.from_pipe(pipe, **extra)
    if plan["task"] == "inpaint":
        return diffusers.AutoPipelineForInpainting.from_pipe(pipe, **extra)
    if controlnet is not None:
        return diffusers.AutoPipelineForText2Image.from_pipe(pipe, **extra)
    return pipe


def _apply_adapters(pipe: Any, plan: dict[str, Any]) -> None:
    if plan["loras"]:
        from .lycoris import apply_plan_lora

        names, scales = [], []
        for i, lora in enumerate(plan["loras"]):
            if apply_plan_lora(pipe, lora, plan["allow_pickle"]):
                continue  # a LyCORIS-style file, merged into the weights (lycoris.py)
            name = str(lora.get("name") or f"l{i}")
            pipe.load_lora_weights(_read_state(Path(lora["path"]), plan["allow_pickle"]), adapter_name=name)
            names.append(name)
            scales.append(float(lora.get("scale", 1.0)))
        if names:
            pipe.set_adapters(names, adapter_weights=scales)
    if plan["hypernetworks"] or plan["aesthetic"]:
        from . import aesthetic, hypernetwork

        # Hypernetworks and aesthetic embeddings are pickles read with torch's weights-only loader only.
        hypernetwork.attach(pipe, [(hypernetwork.load(h["path"]), float(h.get("scale", 1.0))) for h in plan["hypernetworks"]])
        aesthetic.attach(pipe, plan["aesthetic"])
    if plan["ip_adapter"]:
        from . import ip_adapter

        ip_adapter.attach(pipe, plan["ip_adapter"])
    for emb in plan["embeddings"]:
        state = _read_state(Path(emb["path"]), plan["allow_pickle"])
        token = emb.get("token")
        if isinstance(state, str) and state.endswith(".safetensors"):
            from safetensors.torch import load_file

            tensors = load_file(state)
            if "clip_l" in tensors and "clip_g" in tensors and hasattr(pipe, "text_encoder_2"):
                # SDXL embeddings carry one tensor per text encoder.
                pipe.load_textual_inversion(tensors["clip_l"], token=token, text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer)
                pipe.load_textual_inversion(tensors["clip_g"], token=token, text_encoder=pipe.text_encoder_2, tokenizer=pipe.tokenizer_2)
                continue
        pipe.load_textual_inversion(state, token=token)


def load(raw_plan: Any) -> Loaded:
    plan = normalize_plan(raw_plan)
    check_pickle(plan)
    import diffusers  # noqa: F401 - imported here so its bars and notices can be turned off before loading
    import transformers  # noqa: F401

    from . import quiet

    quiet.libraries()
    start = time.perf_counter()
    device = pick_device(plan["device"])
    torch_dtype, dtype_name = _torch_dtype(plan["dtype"], device)
    # diffusers 0.42 renamed `torch_dtype` to `dtype` (the old name still works with a FutureWarning).
    common: dict[str, Any] = {"dtype": torch_dtype, "local_files_only": True, "_device": device}
    notes: list[str] = []
    try:
        from . import quant_load

        quant_load.simulate_oom("load")
        config_root = Path(plan["config_repo"] or plan["base_path"] or plan["path"])
        extra: dict[str, Any] = {}
        if plan["vae"]:
            extra["vae"] = _load_submodel(plan["vae"], "AutoencoderKL", config_root / "vae", _public(common))
        pipe = _base_pipeline(plan, common, extra, notes)
        controlnet = None
        if plan["controlnet"]:
            spec = plan["controlnet"]
            if spec.get("single_file") or Path(spec["path"]).is_file():
                controlnet = _load_controlnet_file(spec, pipe, _public(common), plan["allow_pickle"])
            else:
                controlnet = _load_submodel(spec, "ControlNetModel", None, _public(common))
        pipe = _for_task(pipe, plan, controlnet)
        from .compat import wan_text_cleaning

        wan_text_cleaning(pipe)  # Wan image-to-video without ftfy (diffusers 0.42.1)
        _apply_adapters(pipe, plan)
        if plan["t2i_adapter"]:
            from . import t2i_adapter

            # After the LoRAs and embeddings: SD1's adapter pipeline has no loaders of its own (they patch the shared
            # components, which it takes over).
            pipe = t2i_adapter.attach(pipe, plan["t2i_adapter"], _public(common), plan["allow_pickle"])
        note = quant_load.quantize(pipe, plan["quantize"], device, torch_dtype)
        if note:
            notes.append(note)
        memory = quant_load.place(pipe, plan, device, torch_dtype)
        offload = {"model": "model", "sequential": "sequential"}.get(memory, "none")
        if plan["compile"]:
            import torch

            for name in ("unet", "transformer"):
                if getattr(pipe, name, None) is not None:
                    setattr(pipe, name, torch.compile(getattr(pipe, name)))
        if hasattr(pipe, "set_progress_bar_config"):
            pipe.set_progress_bar_config(disable=True)
    except WorkerError:
        raise
    except Exception as exc:  # noqa: BLE001 - every load failure becomes one typed answer
        raise quant_load.with_next_plan(classify_load_error(exc), plan) from exc
    components = {k: type(v).__name__ for k, v in pipe.components.items() if v is not None}
    scheduler = getattr(pipe, "scheduler", None)
    _note_load(plan)
    return Loaded(pipe=pipe, plan=plan, device=device, dtype=dtype_name, offload=offload,
                  load_seconds=time.perf_counter() - start,
                  base_scheduler_config=getattr(scheduler, "config", None), components=components, memory=memory, notes=notes)


def _note_load(plan: dict[str, Any]) -> None:
    """With $MGEN_LOAD_LOG set, one line per model load is appended there (tests count loads across processes)."""
    log = os.environ.get("MGEN_LOAD_LOG")
    if not log:
        return
    try:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()} {plan['pipeline']} {plan['path']}\n")
    except OSError:
        pass


def classify_load_error(exc: BaseException) -> WorkerError:
    import torch

    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return from_exception(exc, "out_of_memory", "out of memory while loading: ")
    refusal = weights_only_refusal(exc)
    if refusal is not None:
        err = from_exception(exc, "unsafe_model")
        return WorkerError("unsafe_model", f"torch's weights-only loader refused a pickle file: {refusal}", err.detail)
    return from_exception(exc, "load_failed")


def weights_only_refusal(exc: BaseException) -> str | None:
    """Why torch's weights-only loader refused a pickle, in one line, or None when it was not that.

    diffusers wraps the refusal (`OSError: Unable to load weights from checkpoint file ...`), and torch's own
    message opens with a paragraph of advice; the reason (`Trying to load unsupported GLOBAL posix.system ...`,
    `Unsupported global: GLOBAL os.system ...`) sits in the middle of it, so it is dug out of the exception chain.
    """
    import pickle

    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        text = str(cur)
        if isinstance(cur, pickle.UnpicklingError) or "Weights only load failed" in text or "weights_only" in text:
            return _refusal_reason(text)
        cur = cur.__cause__ or cur.__context__
    return None


def _refusal_reason(text: str) -> str:
    import re

    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for line in lines:
        if re.search(r"unsupported global|not an allowed global|WeightsUnpickler error|is blocked|Unsupported operand", line, re.I):
            line = re.sub(r"^WeightsUnpickler error:\s*", "", line)
            # torch's advice on how to allow the global (add_safe_globals ...) is no reason.
            line = re.split(r"\s+(?:Please use|Check the documentation|To allowlist)", line)[0]
            return line.rstrip(" .") or "it holds an object that is not plain tensors"
    body = [ln for ln in lines if not ln.startswith(("Weights only load failed", "Check the documentation", "(1)", "(2)"))]
    return (body[0] if body else "it holds an object that is not plain tensors").rstrip(" .")
