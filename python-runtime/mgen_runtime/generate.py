"""One generate request -> files (images, a video or audio; media.py encodes them): seeds, scheduler swap, input
images, extra params, progress (steps, then decoding), cancel."""

from __future__ import annotations

import inspect
import math
import threading
from contextlib import nullcontext
import time
from pathlib import Path
from typing import Any, Callable

from . import hires as hires_fix
from .compat import clip_skip_alias
from .image_format import normalize as normalize_image_format, write_image
from .plans import Loaded, diffusers_class
from . import compile_cache, media
from .png import write_png
from .preview import decode_latents, preview_steps
from .quant_load import simulate_oom, with_next_plan
from .protocol import WorkerError, from_exception
from .schema import REQUEST_FIELDS, check_value, user_params

ProgressFn = Callable[..., None]  # (step, steps, image index, preview=path of a partial image, phase="decoding" | "encoding")

_DEFAULTS: dict[str, Any] = {
    "negative_prompt": None, "width": None, "height": None, "steps": 20, "guidance_scale": None, "seed": 0,
    "num_images": 1, "scheduler": None, "scheduler_config": None, "image": None, "mask": None, "strength": None, "control_image": None,
    "params": {}, "file_stem": "mgen", "png_text": [], "durable": True, "previews": 0, "frames": None, "fps": None, "duration": None,
    "format": None, "prompt_syntax": None, "embeddings": None, "hires": None, "image_format": None,
}
MAX_SEED = 2**64 - 1


class _Cancelled(Exception):
    """Raised from the step-end callback to leave the denoising loop at once."""


def normalize_request(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise WorkerError("bad_request", "`request` must be an object")
    req = {**_DEFAULTS, **{k: v for k, v in raw.items() if v is not None or k not in _DEFAULTS}}
    if not isinstance(req.get("prompt"), str):
        raise WorkerError("bad_request", "request.prompt must be a string")
    if not isinstance(req.get("out_dir"), str) or not req["out_dir"]:
        raise WorkerError("bad_request", "request.out_dir must be a folder path")
    for key, lo in (("steps", 1), ("num_images", 1), ("seed", 0)):
        v = req[key]
        if not isinstance(v, int) or isinstance(v, bool) or v < lo:
            raise WorkerError("bad_request", f"request.{key} must be an integer >= {lo}")
    if req["seed"] + req["num_images"] - 1 > MAX_SEED:
        raise WorkerError("bad_request", f"request.seed must be below {MAX_SEED - req['num_images'] + 2}")
    for key in ("width", "height"):
        v = req[key]
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 8):
            raise WorkerError("bad_request", f"request.{key} must be an integer >= 8")
    if not isinstance(req["previews"], int) or isinstance(req["previews"], bool) or not 0 <= req["previews"] <= 8:
        raise WorkerError("bad_request", "request.previews must be an integer from 0 to 8")
    for key in ("frames",):
        v = req[key]
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
            raise WorkerError("bad_request", f"request.{key} must be an integer >= 1")
    for key in ("fps", "duration"):
        v = req[key]
        if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool) or not v > 0):
            raise WorkerError("bad_request", f"request.{key} must be a number > 0")
    if req["format"] is not None and not isinstance(req["format"], str):
        raise WorkerError("bad_request", "request.format must be a string")
    if not isinstance(req["durable"], bool):
        raise WorkerError("bad_request", "request.durable must be true or false")
    if not isinstance(req["params"], dict):
        raise WorkerError("bad_request", "request.params must be an object")
    if not isinstance(req["png_text"], list) or not all(isinstance(d, dict) for d in req["png_text"]):
        raise WorkerError("bad_request", "request.png_text must be a list of objects")
    if req["prompt_syntax"] not in (None, "a1111", "plain"):
        raise WorkerError("bad_request", "request.prompt_syntax must be a1111 or plain")
    stem = req["file_stem"]
    if not isinstance(stem, str) or not stem or "/" in stem or "\\" in stem or stem.startswith("."):
        raise WorkerError("bad_request", "request.file_stem must be a plain file name stem")
    return req


def _open_image(path: str, field: str, mode: str):
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.convert(mode)
    except FileNotFoundError:
        raise WorkerError("bad_params", f"request.{field}: no such file {path}") from None
    except Exception as exc:  # noqa: BLE001 - any unreadable image is the caller's input problem
        raise WorkerError("bad_params", f"request.{field}: cannot read {path} as an image ({exc})") from None


# Config keys a request may override on the scheduler it names (A1111 samplers and schedule types).
SCHEDULER_CONFIG_KEYS = frozenset({
    "use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas", "timestep_spacing", "algorithm_type",
    "solver_type", "solver_order", "skip_prk_steps",
})


def _scheduler_overrides(cls: Any, raw: Any) -> dict[str, Any]:
    """request.scheduler_config checked: known keys, scalar values, and keys the class's __init__ takes."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise WorkerError("bad_request", "request.scheduler_config must be an object")
    accepted = set(inspect.signature(cls.__init__).parameters)
    for key, value in raw.items():
        if key not in SCHEDULER_CONFIG_KEYS:
            raise WorkerError("bad_params", f"request.scheduler_config.{key} is not a scheduler option mgen sets")
        if not isinstance(value, (bool, int, float, str)):
            raise WorkerError("bad_params", f"request.scheduler_config.{key} must be a boolean, number or string")
        if key not in accepted:
            raise WorkerError("bad_params", f"request.scheduler_config.{key} is not supported by {cls.__name__}")
    return dict(raw)


def configured_scheduler(loaded: Loaded, pipe: Any, name: str | None, config: Any, field: str = "") -> tuple[str, Any, dict[str, Any]]:
    """The named scheduler class (default: the model's own) made from the model's scheduler config with overrides."""
    from diffusers import SchedulerMixin

    base = loaded.base_scheduler_config
    name = name or (base["_class_name"] if base is not None else type(pipe.scheduler).__name__)
    try:
        cls = diffusers_class(name, "scheduler")
    except WorkerError:
        raise WorkerError("bad_params", f"{field}unknown scheduler {name!r}") from None
    if not isinstance(cls, type) or not issubclass(cls, SchedulerMixin):
        raise WorkerError("bad_params", f"{field}{name} is not a scheduler")
    overrides = _scheduler_overrides(cls, config)
    return name, cls.from_config(base if base is not None else pipe.scheduler.config, **overrides), overrides


def _swap_scheduler(loaded: Loaded, name: str | None, config: Any = None) -> tuple[str | None, dict[str, Any]]:
    """Puts the named scheduler (with config overrides) on the pipeline; returns what runs: class and overrides."""
    pipe = loaded.pipe
    if getattr(pipe, "scheduler", None) is None:
        if name or config:
            raise WorkerError("bad_params", f"{type(pipe).__name__} has no scheduler to replace")
        return None, {}
    base = loaded.base_scheduler_config
    if not name and not config:
        if base is not None and (type(pipe.scheduler).__name__ != base["_class_name"] or getattr(pipe, "_mgen_scheduler_overridden", False)):
            pipe.scheduler = diffusers_class(base["_class_name"], "scheduler").from_config(base)
            pipe._mgen_scheduler_overridden = False
        return type(pipe.scheduler).__name__, {}
    name, pipe.scheduler, overrides = configured_scheduler(loaded, pipe, name, config)
    pipe._mgen_scheduler_overridden = bool(overrides)
    return name, overrides


def pipe_for(loaded: Loaded, req: dict[str, Any]) -> Any:
    """The pipeline for one request: a text-to-image pipeline given an input image runs as its image-to-image
    sibling, and given a mask as its inpainting one, sharing the loaded components (from_pipe: no reload, no copy)."""
    pipe = loaded.pipe
    if req["image"] is None:
        return pipe
    accepted = set(inspect.signature(type(pipe).__call__).parameters)
    if req["mask"] is not None and "mask_image" not in accepted:
        want = "inpaint"
    elif "image" not in accepted:
        want = "image-to-image"
    else:
        return pipe
    import diffusers

    auto = diffusers.AutoPipelineForInpainting if want == "inpaint" else diffusers.AutoPipelineForImage2Image
    try:
        return auto.from_pipe(pipe)
    except Exception as exc:  # noqa: BLE001 - no sibling for this pipeline class
        first = str(exc).split("\n")[0]
        raise WorkerError("bad_params", f"request.image: {type(pipe).__name__} has no {want} counterpart ({first})") from exc


def build_kwargs(loaded: Loaded, req: dict[str, Any], schema: dict[str, Any], pipe: Any = None) -> dict[str, Any]:
    """The __call__ keyword arguments for one request (without generator/callback)."""
    pipe = pipe if pipe is not None else loaded.pipe
    accepted = set(inspect.signature(type(pipe).__call__).parameters)
    kwargs: dict[str, Any] = {"prompt": req["prompt"], "num_inference_steps": req["steps"]}

    def put(param: str, value: Any, field: str) -> None:
        if value is None:
            return
        if param not in accepted:
            raise WorkerError("bad_params", f"request.{field} is not supported by {type(pipe).__name__}")
        kwargs[param] = value

    put("negative_prompt", req["negative_prompt"], "negative_prompt")
    if "guidance_scale" not in accepted and "prior_guidance_scale" in accepted:
        # Stable Cascade: the stage C prior is the text-guided denoiser (its decoder runs unguided by default), and
        # --steps counts the prior's steps as well as the decoder's unless params say otherwise.
        put("prior_guidance_scale", req["guidance_scale"], "guidance_scale")
        if "prior_num_inference_steps" in accepted and "prior_num_inference_steps" not in req["params"]:
            kwargs["prior_num_inference_steps"] = req["steps"]
    else:
        put("guidance_scale", req["guidance_scale"], "guidance_scale")
    put("strength", req["strength"], "strength")
    size = (req["width"], req["height"]) if req["width"] is not None and req["height"] is not None else None
    # Image-to-image pipelines take their size from the input image, not width/height: resize the inputs instead.
    resize = size is not None and req["image"] is not None and "width" not in accepted
    if (req["width"] is not None or req["height"] is not None) and not resize:
        put("width", req["width"], "width")
        put("height", req["height"], "height")

    def open_input(field: str, mode: str):
        image = _open_image(req[field], field, mode)
        return image.resize(size) if resize and image.size != size else image

    kind = media.media_kind(pipe)
    if req["image"] is not None:
        if "image" not in accepted and kind != "image":
            what = {"video": "text-to-video", "audio": "text-to-audio"}.get(kind, "text-only")
            raise WorkerError("bad_request", f"request.image: {type(pipe).__name__} is a {what} pipeline and takes no input image")
        put("image", open_input("image", "RGB"), "image")
    elif kind == "video" and "image" in accepted and takes_first_frame(pipe):
        raise WorkerError("bad_request", f"request.image: {type(pipe).__name__} is an image-to-video pipeline and needs a first frame")
    if req["frames"] is not None:
        put("num_frames", req["frames"], "frames")
    if req["fps"] is not None and "frame_rate" in accepted:
        kwargs["frame_rate"] = req["fps"]  # LTX-Video conditions on it; others only get it in the container
    if req["duration"] is not None:
        put("audio_end_in_s" if "audio_end_in_s" in accepted else "audio_length_in_s", req["duration"], "duration")
    if req["mask"] is not None:
        put("mask_image", open_input("mask", "L"), "mask")
    if req["control_image"] is not None:
        control = open_input("control_image", "RGB")
        # ControlNet text-to-image pipelines take the control image as `image`; img2img/inpaint ones as `control_image`.
        put("control_image" if "control_image" in accepted else "image", control, "control_image")
    if req["image"] is not None and "strength" in accepted:
        # Image-to-image denoises int(steps x strength) steps; none at all fails deep inside the pipeline.
        strength = kwargs.get("strength", inspect.signature(type(pipe).__call__).parameters["strength"].default)
        if isinstance(strength, (int, float)) and strength > 0 and int(req["steps"] * strength) < 1:
            raise WorkerError("bad_params", f"request.steps: {req['steps']} steps at strength {strength} run no denoising step "
                                            f"(image-to-image runs steps x strength; try {math.ceil(1 / strength)})")
    if "output_type" in accepted and kind != "audio":
        kwargs["output_type"] = "np" if kind == "video" else "pil"

    allowed = user_params(schema)
    for name, value in req["params"].items():
        if name in REQUEST_FIELDS:
            raise WorkerError("bad_params", f"params.{name} is set through request.{REQUEST_FIELDS[name]}, not params")
        if name not in allowed:
            raise WorkerError("bad_params", f"unknown parameter {name!r} for {type(pipe).__name__}; valid: {', '.join(allowed)}")
        if problem := check_value(value, schema["properties"][name], f"params.{name}"):
            raise WorkerError("bad_params", problem)
        kwargs[name] = tuple(value) if isinstance(value, list) and "prefixItems" in schema["properties"][name] else value
    return kwargs


def takes_first_frame(pipe: Any) -> bool:
    """An image-to-video pipeline: its class says so, or its `image` has no default (LTX's defaults to None but cannot
    run without one). The CLI and serve refuse such a request first; this covers the RunPod handler and the protocol."""
    if "ImageToVideo" in type(pipe).__name__:
        return True
    param = inspect.signature(type(pipe).__call__).parameters.get("image")
    return param is not None and param.default is inspect.Parameter.empty


def run(loaded: Loaded, raw: Any, schema: dict[str, Any], progress: ProgressFn, cancel: threading.Event) -> dict[str, Any]:
    import torch

    started = time.perf_counter()
    req = normalize_request(raw)
    scheduler, scheduler_config = _swap_scheduler(loaded, req["scheduler"], req["scheduler_config"])
    t2i = getattr(loaded.pipe, "_mgen_t2i_scale", None) is not None
    if t2i:
        from . import t2i_adapter

        t2i_adapter.check_request(req)
    pipe = pipe_for(loaded, req)
    kwargs = build_kwargs(loaded, req, schema, pipe)
    if t2i:
        t2i_adapter.request_kwargs(pipe, kwargs, req["params"])  # the plan's scale; sizes the adapter can unshuffle
    if getattr(loaded.pipe, "_mgen_ip_image", None) is not None:
        from .ip_adapter import request_kwargs

        kwargs = request_kwargs(loaded.pipe, kwargs)
    if getattr(loaded.pipe, "_mgen_aesthetic", None) is not None:
        from .aesthetic import condition

        kwargs = condition(loaded.pipe, kwargs)  # the plan's aesthetic embedding tunes this prompt's conditioning
    else:
        apply_prompt_syntax(loaded, pipe, req, kwargs)
    kind = media.media_kind(pipe)
    try:
        fmt = media.check_format(kind, req["format"])
    except WorkerError as err:
        raise WorkerError("bad_request", err.message) from None
    hires_cfg = hires_fix.normalize(req["hires"], req)
    image_format = normalize_image_format(req["image_format"])
    second = hires_fix.SecondPass(loaded, pipe, hires_cfg, kwargs, req) if hires_cfg else None
    call_params = inspect.signature(type(pipe).__call__).parameters
    accepts_callback = "callback_on_step_end" in call_params
    # The T2I-Adapter pipelines still take only the older per-step `callback(step, timestep, latents)`.
    legacy_callback = t2i and not accepts_callback and "callback" in call_params and "callback_steps" in call_params
    out_dir = Path(req["out_dir"])
    steps, count = req["steps"], req["num_images"]
    state = {"stepped": False, "last_step_at": 0.0}
    images: list[dict[str, Any]] = []
    denoise = 0.0
    # Where the time goes (seconds): request checks + kwargs, the pipeline calls, after the last step (VAE decode,
    # postprocess), PNG encode + write.
    phases = {"prepare_s": time.perf_counter() - started, "pipeline_s": 0.0, "decode_s": 0.0, "png_s": 0.0}

    def on_step_end(_pipe: Any, i: int, _t: Any, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
        state["stepped"] = True
        state["last_step_at"] = time.perf_counter()
        step, total = user_step(i, int(getattr(_pipe, "_num_timesteps", None) or steps), steps)
        if step > state["reported"]:
            state["reported"] = step
            preview = write_preview(_pipe, callback_kwargs, step, total) if req["previews"] else None
            progress(step, total, state["image"], **({"preview": preview} if preview else {}))
            if step >= total and kind != "image":
                progress(step, total, state["image"], phase="decoding")  # the VAE decode of a video/audio takes a while
        if cancel.is_set():
            raise _Cancelled()
        return callback_kwargs

    def legacy_step(step_idx: int, t: Any, latents: Any) -> None:
        # callback(i // order, ...) runs after each full step; the loop index and length as callback_on_step_end has them.
        order = int(getattr(pipe.scheduler, "order", 1) or 1)
        pipe._num_timesteps = len(pipe.scheduler.timesteps)
        on_step_end(pipe, step_idx * order + order - 1, t, {"latents": latents})

    def write_preview(_pipe: Any, callback_kwargs: dict[str, Any], step: int, total: int) -> str | None:
        if step not in preview_steps(req["previews"], total):
            return None
        image = decode_latents(_pipe, callback_kwargs.get("latents"), kwargs.get("width"), kwargs.get("height"))
        if image is None:
            return None
        name = f"{req['file_stem']}-{state['image']}-preview-{step}.png"
        return str(write_png(image, out_dir / name, None, False))

    for n in range(count):
        if cancel.is_set():
            raise WorkerError("cancelled", "generation cancelled")
        seed = req["seed"] + n
        generator = torch.Generator(device="cpu").manual_seed(seed)
        state["image"] = n
        state["reported"] = 0
        call_start = time.perf_counter()
        state["last_step_at"] = call_start
        try:
            extra = {"callback_on_step_end": on_step_end} if accepts_callback else {}
            if legacy_callback:
                extra = {"callback": legacy_step, "callback_steps": 1}
            with torch.inference_mode(), clip_skip_alias(pipe) if "clip_skip" in kwargs else nullcontext():
                simulate_oom("generate")
                output = pipe(**kwargs, generator=generator, **_one_per_prompt(pipe), **extra)
                if second is not None:  # hires fix: progress counts the second pass's steps afresh
                    state["reported"] = 0
                    output = second.run(output, generator, extra)
        except _Cancelled:
            raise WorkerError("cancelled", f"generation cancelled at image {n + 1}/{count}") from None
        except WorkerError:
            raise
        except Exception as exc:  # noqa: BLE001 - classified into one typed answer
            raise with_next_plan(classify_generate_error(exc, state["stepped"]), loaded.plan) from exc
        call_end = time.perf_counter()
        denoise += state["last_step_at"] - call_start
        phases["pipeline_s"] += call_end - call_start
        phases["decode_s"] += call_end - state["last_step_at"]
        text = req["png_text"][n] if n < len(req["png_text"]) else {}
        text = {str(k): str(v) for k, v in text.items()}
        target = out_dir / f"{req['file_stem']}-{n}{media.extension(fmt)}"
        if kind != "image":
            progress(steps, steps, n, phase="encoding")
        images.append({"seed": seed, **_write_output(loaded, kind, fmt, output, target, text, req, image_format)})
        phases["png_s"] += time.perf_counter() - call_end

    metadata = {
        "pipeline": type(pipe).__name__, "scheduler": scheduler, "scheduler_config": scheduler_config, "steps": steps,
        "guidance_scale": kwargs.get("guidance_scale"), "seed": req["seed"], "num_images": count,
        "width": images[0].get("width") if images else None, "height": images[0].get("height") if images else None,
        "media": kind, "format": fmt,
        "strength": kwargs.get("strength"), "params": req["params"],
        **({"hires": hires_cfg} if hires_cfg else {}),
    }
    return {"images": images, "metadata": metadata,
            "timings": {"denoise_s": round(denoise, 4), "total_s": round(time.perf_counter() - started, 4), "steps": steps,
                        "phases": {k: round(v, 4) for k, v in phases.items()},
                        **({"compile_cache": compile_cache.counters()} if loaded.plan.get("compile") else {})}}


def _one_per_prompt(pipe: Any) -> dict[str, int]:
    """One output per call, under the name the pipeline gives it (images, videos, waveforms)."""
    accepted = inspect.signature(type(pipe).__call__).parameters
    for name in ("num_images_per_prompt", "num_videos_per_prompt", "num_waveforms_per_prompt"):
        if name in accepted:
            return {name: 1}
    return {}


def _write_output(loaded: Loaded, kind: str, fmt: str, output: Any, target: Path, text: dict[str, str], req: dict[str, Any],
                  image_format: dict[str, Any]) -> dict[str, Any]:
    """One pipeline output -> its file: an image (PNG, or the request's JPEG / WebP), a video at the request's (or the
    family's) fps, or audio."""
    if kind == "video":
        frames = media.to_uint8_frames(output.frames[0])
        fps = float(req["fps"] or loaded_fps(loaded))
        return media.write_video(frames, fps, target, fmt, text, req["durable"])
    if kind == "audio":
        audio = output.audios[0]
        rate = int(getattr(getattr(loaded.pipe, "vae", None), "config", {}).get("sampling_rate", 0) or 16000)
        return media.write_audio(media.to_waveform(audio), rate, target, fmt, text, req["durable"])
    image = output.images[0]
    path = write_image(image, target.with_suffix(""), text, req["durable"], image_format)
    media_type = {"jpeg": "image/jpeg", "webp": "image/webp"}.get(image_format["format"], "image/png")
    return {"path": str(path), "width": image.width, "height": image.height, "media_type": media_type}


# Frames per second each video pipeline's models were trained at (the container's rate when a request names none).
_FPS = {"Wan": 16, "CogVideoX": 8, "LTX": 25, "HunyuanVideo": 24}


def loaded_fps(loaded: Loaded) -> float:
    name = type(loaded.pipe).__name__
    config = getattr(getattr(loaded.pipe, "transformer", None), "config", None)
    if name.startswith("CogVideoX") and getattr(config, "patch_size_t", None):
        return 16  # CogVideoX 1.5 (3-D patches): 16 fps, against 1.0's 8
    for prefix, fps in _FPS.items():
        if name.startswith(prefix):
            return fps
    return 16


def apply_prompt_syntax(loaded: Loaded, pipe: Any, req: dict[str, Any], kwargs: dict[str, Any]) -> None:
    """A1111 prompt syntax (the default where the pipeline's text encoders are CLIP only): the prompts become
    prompt_embeds computed as A1111 does, with the request's textual inversions in them."""
    from . import prompt_weighting
    from .embeddings import load_embedding, normalize_request_embeddings

    wanted = req["prompt_syntax"]
    items = normalize_request_embeddings(req["embeddings"])
    if wanted == "plain":
        if items:
            raise WorkerError("bad_params", "request.embeddings need prompt_syntax a1111")
        return
    if not prompt_weighting.supports(pipe):
        if wanted == "a1111" or items:
            raise WorkerError("bad_params", f"request.prompt_syntax: a1111 needs CLIP text encoders (SD1, SD2, SDXL); "
                                            f"{type(pipe).__name__} has others")
        return
    allow_pickle = bool(loaded.plan.get("allow_pickle"))
    embeddings = [load_embedding(e["path"], e["token"], allow_pickle) for e in items]
    clip_skip = kwargs.pop("clip_skip", None) or 0
    cond = prompt_weighting.conditioning(pipe, kwargs.pop("prompt"), kwargs.pop("negative_prompt", None),
                                         int(clip_skip), embeddings)
    kwargs.update(cond)


def user_step(i: int, loop_total: int, requested: int) -> tuple[int, int]:
    """The progress (step, steps) to report after denoising-loop iteration i (0-based) of loop_total.

    Progress counts the steps the user asked for. Some schedulers run more loop iterations than that (PNDM's PLMS
    warm-up repeats the first timestep: 4 steps run 5 iterations); those are folded into the requested total, the
    last iteration being the last step, and a step is reported once (the caller skips repeats). A loop shorter than
    the request (image-to-image and inpainting run only `strength` of the steps) counts its own iterations, since
    that is all the work there is.
    """
    if loop_total <= requested:
        return i + 1, loop_total
    return (i + 1) * requested // loop_total, requested


def classify_generate_error(exc: BaseException, stepped: bool) -> WorkerError:
    import torch

    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)) or "out of memory" in str(exc).lower():
        return from_exception(exc, "out_of_memory")
    if isinstance(exc, (ValueError, TypeError)) and not stepped:
        # The pipeline's own input checks run before the first denoising step.
        return from_exception(exc, "bad_params")
    return from_exception(exc, "generation_failed")
