"""A JSON Schema (draft 2020-12) of the loaded pipeline's `__call__` parameters a user may set, and a check against it.

Built from inspect.signature + type hints + defaults, so it follows whatever pipeline class was loaded.
Parameters that cannot travel as JSON (tensors, generators, callbacks, PIL images, precomputed embeddings)
are left out; images arrive as file paths through the request's own fields instead.
"""

from __future__ import annotations

import inspect
import json
import re
import types
import typing
from typing import Any

DRAFT = "https://json-schema.org/draft/2020-12/schema"

# Set by the worker itself, never by a user.
_INTERNAL = {"generator", "latents", "output_type", "return_dict", "callback", "callback_steps", "callback_on_step_end",
             "callback_on_step_end_tensor_inputs", "num_images_per_prompt"}
_EMBED_SUFFIXES = ("_embeds", "_embeddings", "_latents")

# Request fields that feed these __call__ parameters; `params` may not set them a second time.
REQUEST_FIELDS = {"prompt": "prompt", "negative_prompt": "negative_prompt", "width": "width", "height": "height",
                  "num_inference_steps": "steps", "guidance_scale": "guidance_scale", "strength": "strength",
                  "image": "image", "mask_image": "mask", "control_image": "control_image"}

_SIMPLE = {str: {"type": "string"}, bool: {"type": "boolean"}, int: {"type": "integer"}, float: {"type": "number"},
           type(None): {"type": "null"}, dict: {"type": "object"}}


def type_schema(tp: Any) -> dict[str, Any] | None:
    """JSON Schema for a Python annotation, or None when values of that type cannot be given as JSON."""
    if tp is inspect.Parameter.empty or tp is Any:
        return None
    if tp in _SIMPLE:
        return dict(_SIMPLE[tp])
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        members = [s for s in (type_schema(a) for a in args) if s is not None]
        if not members or all(m == {"type": "null"} for m in members):
            return None
        return members[0] if len(members) == 1 else {"anyOf": members}
    if origin is typing.Literal:
        return {"enum": list(args)} if all(isinstance(a, (str, int, float, bool)) for a in args) else None
    if origin in (list, typing.List, set, frozenset) or (origin is tuple and len(args) == 2 and args[1] is Ellipsis):
        item = type_schema(args[0]) if args else {}
        return None if item is None else {"type": "array", "items": item}
    if origin is tuple:
        items = [type_schema(a) for a in args]
        if not items or any(i is None for i in items):
            return None
        return {"type": "array", "prefixItems": items, "minItems": len(items), "maxItems": len(items)}
    if origin is dict:
        if args and args[0] is not str:
            return None
        value = type_schema(args[1]) if len(args) == 2 else {}
        return {"type": "object"} if value is None else {"type": "object", "additionalProperties": value}
    return None


def _json_default(value: Any) -> tuple[bool, Any]:
    if isinstance(value, tuple):
        value = list(value)
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False, None
    return True, value


def _hints(fn: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - unresolved forward references: fall back to raw annotations
        return {}


_ARG_LINE = re.compile(r"^(\*{0,2}[A-Za-z_]\w*)\s*(\(.*\))?\s*:(.*)$")


def docstring_args(doc: str | None) -> dict[str, str]:
    """Parameter descriptions from a Google-style docstring's `Args:` section (diffusers' __call__ docstrings):

        Args:
            prompt (`str` or `List[str]`, *optional*):
                The prompt or prompts to guide image generation.

    Each description is its paragraph on one line, without the Markdown backticks."""
    if not doc:
        return {}
    lines = inspect.cleandoc(doc).splitlines()
    out: dict[str, str] = {}
    try:
        start = next(i for i, ln in enumerate(lines) if ln.strip() in ("Args:", "Arguments:", "Parameters:"))
    except StopIteration:
        return out
    base = len(lines[start]) - len(lines[start].lstrip())
    name_indent: int | None = None
    current: str | None = None
    for line in lines[start + 1:]:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if indent <= base:
            break  # the next section (Examples:, Returns:)
        text = line.strip()
        match = _ARG_LINE.match(text)
        if match and (name_indent is None or indent <= name_indent):
            name_indent = indent
            current = match.group(1).lstrip("*")
            out[current] = match.group(3).strip()
        elif current is not None:
            out[current] = f"{out[current]} {text}".strip()
    return {k: _plain_text(v) for k, v in out.items() if v}


def _plain_text(text: str) -> str:
    text = re.sub(r"\[`~?([^`\]]+)`\]", r"\1", text)  # [`~pipelines.Foo`] links
    text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", text)  # [text](url)
    text = text.replace("`", "")
    return " ".join(text.split())


def call_schema(pipe: Any) -> dict[str, Any]:
    fn = type(pipe).__call__
    hints = _hints(fn)
    docs = docstring_args(getattr(fn, "__doc__", None))
    properties: dict[str, Any] = {}
    for name, param in inspect.signature(fn).parameters.items():
        if name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        # Every callback hook is the worker's, whatever its prefix (Stable Cascade's prior_callback_on_step_end*).
        if name in _INTERNAL or "callback" in name or name.endswith(_EMBED_SUFFIXES) or name.startswith("ip_adapter"):
            continue
        prop = type_schema(hints.get(name, param.annotation))
        if prop is None:
            continue
        if param.default is not inspect.Parameter.empty:
            ok, default = _json_default(param.default)
            if ok:
                if default is None and "anyOf" not in prop and prop.get("type") != "null":
                    prop = {"anyOf": [prop, {"type": "null"}]}
                prop["default"] = default
        if name in docs:
            prop["description"] = docs[name]
        if name in REQUEST_FIELDS:
            prop["x-mgen-request-field"] = REQUEST_FIELDS[name]
        properties[name] = prop
    return {"$schema": DRAFT, "title": type(pipe).__name__, "type": "object", "properties": properties,
            "additionalProperties": False}


def user_params(schema: dict[str, Any]) -> list[str]:
    """The names `params` may carry: schema properties not already covered by a request field."""
    return sorted(k for k, v in schema["properties"].items() if "x-mgen-request-field" not in v)


# JSON Schema "type" names -> a check of a decoded JSON value (bool is not an integer in JSON).
JSON_TYPE_CHECKS = {
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "null": lambda v: v is None,
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}


def check_value(value: Any, schema: dict[str, Any], where: str) -> str | None:
    """A small JSON Schema check for the subset call_schema emits; returns a problem or None."""
    if "anyOf" in schema:
        problems = [check_value(value, s, where) for s in schema["anyOf"]]
        if any(p is None for p in problems):
            return None
        # A branch whose type matched explains better than "wrong type" (e.g. an array of the wrong length).
        specific = [p for p in problems if p and "wrong type" not in p]
        return specific[0] if specific else f"{where} has the wrong type ({type(value).__name__}); expected {describe(schema)}"
    if "enum" in schema:
        return None if value in schema["enum"] else f"{where} must be one of {schema['enum']}"
    kind = schema.get("type")
    if kind in JSON_TYPE_CHECKS and not JSON_TYPE_CHECKS[kind](value):
        return f"{where} has the wrong type ({type(value).__name__}); expected {describe(schema)}"
    if kind == "array":
        if "prefixItems" in schema:
            if len(value) != len(schema["prefixItems"]):
                return f"{where} must have {len(schema['prefixItems'])} items"
            for i, (v, s) in enumerate(zip(value, schema["prefixItems"])):
                if problem := check_value(v, s, f"{where}[{i}]"):
                    return problem
        elif "items" in schema:
            for i, v in enumerate(value):
                if problem := check_value(v, schema["items"], f"{where}[{i}]"):
                    return problem
    return None


def describe(schema: dict[str, Any]) -> str:
    if "anyOf" in schema:
        return " or ".join(describe(s) for s in schema["anyOf"])
    if "enum" in schema:
        return f"one of {schema['enum']}"
    return str(schema.get("type", "any"))
