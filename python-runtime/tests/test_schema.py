"""JSON Schema from call signatures: type mapping, defaults, exclusions, and the value check generate uses."""

from __future__ import annotations

import typing
import unittest
from typing import Callable, Literal, Optional, Union

import tests.support  # noqa: F401 - puts the runtime on sys.path
from mgen_runtime.schema import call_schema, check_value, docstring_args, type_schema, user_params


class FakeTensor:
    pass


class FakePipeline:
    def __call__(
        self,
        prompt: Union[str, list[str]] = None,
        height: Optional[int] = None,
        num_inference_steps: int = 28,
        guidance_scale: float = 3.5,
        sigmas: Optional[list[float]] = None,
        original_size: Optional[tuple[int, int]] = None,
        mode: Literal["fast", "slow"] = "fast",
        joint_attention_kwargs: Optional[dict[str, typing.Any]] = None,
        image: Union[FakeTensor, list[FakeTensor]] = None,
        latents: Optional[FakeTensor] = None,
        prompt_embeds: Optional[FakeTensor] = None,
        generator: object = None,
        callback_on_step_end: Optional[Callable[[int], None]] = None,
        prior_callback_on_step_end_tensor_inputs: list[str] = ["latents"],
        output_type: str = "pil",
        weird_default: float = float("nan"),
        **kwargs,
    ):
        r"""
        The call function to the pipeline for generation.

        Args:
            prompt (`str` or `List[str]`, *optional*):
                The prompt or prompts to guide image generation. If not defined, you need to pass
                `prompt_embeds`.
            height (`int`, *optional*, defaults to `self.unet.config.sample_size * self.vae_scale_factor`):
                The height in pixels of the generated image.
            num_inference_steps (`int`, *optional*, defaults to 28):
                The number of denoising steps. See [`~schedulers.DDIMScheduler`].

                More denoising steps usually lead to a higher quality image.
            mode:
                How fast to go.

        Examples:
            mode (`str`): not an argument
        """
        raise NotImplementedError


class TypeSchemaTest(unittest.TestCase):
    def test_simple_and_composite_types(self) -> None:
        self.assertEqual(type_schema(int), {"type": "integer"})
        self.assertEqual(type_schema(Optional[float]), {"anyOf": [{"type": "number"}, {"type": "null"}]})
        self.assertEqual(type_schema(list[str]), {"type": "array", "items": {"type": "string"}})
        self.assertEqual(type_schema(tuple[int, int])["prefixItems"], [{"type": "integer"}, {"type": "integer"}])
        self.assertEqual(type_schema(Literal["a", "b"]), {"enum": ["a", "b"]})
        self.assertEqual(type_schema(int | None), {"anyOf": [{"type": "integer"}, {"type": "null"}]})

    def test_unrepresentable_types_are_none(self) -> None:
        self.assertIsNone(type_schema(FakeTensor))
        self.assertIsNone(type_schema(Optional[FakeTensor]))
        self.assertIsNone(type_schema(list[FakeTensor]))
        self.assertIsNone(type_schema(Callable[[int], None]))
        self.assertEqual(type_schema(Union[FakeTensor, float]), {"type": "number"})


class CallSchemaTest(unittest.TestCase):
    def setUp(self) -> None:
        self.schema = call_schema(FakePipeline())
        self.props = self.schema["properties"]

    def test_settable_parameters_with_defaults(self) -> None:
        self.assertEqual(self.schema["additionalProperties"], False)
        self.assertEqual(self.schema["title"], "FakePipeline")
        steps = {k: v for k, v in self.props["num_inference_steps"].items() if k != "description"}
        self.assertEqual(steps, {"type": "integer", "default": 28, "x-mgen-request-field": "steps"})
        self.assertEqual(self.props["mode"], {"enum": ["fast", "slow"], "default": "fast", "description": "How fast to go."})
        self.assertEqual(self.props["original_size"]["default"], None)
        self.assertNotIn("default", self.props["weird_default"])  # NaN is not JSON

    def test_tensors_callbacks_generators_and_embeds_are_left_out(self) -> None:
        for name in ("image", "latents", "prompt_embeds", "generator", "callback_on_step_end", "output_type", "kwargs", "self",
                     "prior_callback_on_step_end_tensor_inputs"):
            self.assertNotIn(name, self.props)

    def test_user_params_exclude_request_fields(self) -> None:
        self.assertEqual(user_params(self.schema), ["joint_attention_kwargs", "mode", "original_size", "sigmas", "weird_default"])


class CheckValueTest(unittest.TestCase):
    def test_values_against_the_schema(self) -> None:
        props = call_schema(FakePipeline())["properties"]
        self.assertIsNone(check_value([1.0, 0.5], props["sigmas"], "sigmas"))
        self.assertIsNone(check_value(None, props["sigmas"], "sigmas"))
        self.assertIn("wrong type", check_value("x", props["sigmas"], "sigmas"))
        self.assertIsNone(check_value([1024, 1024], props["original_size"], "original_size"))
        self.assertIn("2 items", check_value([1024], props["original_size"], "original_size"))
        self.assertIn("one of", check_value("medium", props["mode"], "mode"))
        self.assertIn("wrong type", check_value(True, {"type": "integer"}, "n"))
        self.assertIsNone(check_value(3, {"type": "number"}, "n"))


if __name__ == "__main__":
    unittest.main()


class DescriptionTest(unittest.TestCase):
    def test_descriptions_come_from_the_docstring_args_section(self) -> None:
        props = call_schema(FakePipeline())["properties"]
        self.assertEqual(props["prompt"]["description"],
                         "The prompt or prompts to guide image generation. If not defined, you need to pass prompt_embeds.")
        self.assertEqual(props["height"]["description"], "The height in pixels of the generated image.")
        self.assertEqual(props["num_inference_steps"]["description"],
                         "The number of denoising steps. See schedulers.DDIMScheduler. More denoising steps usually lead to a higher quality image.")
        self.assertEqual(props["mode"]["description"], "How fast to go.")
        self.assertNotIn("description", props["guidance_scale"])  # undocumented: no description, not a wrong one

    def test_a_real_diffusers_pipeline_documents_its_settable_parameters(self) -> None:
        import diffusers

        docs = docstring_args(diffusers.StableDiffusionPipeline.__call__.__doc__)
        for name in ("prompt", "num_inference_steps", "guidance_scale", "eta", "clip_skip", "guidance_rescale"):
            self.assertTrue(docs.get(name), name)
        self.assertTrue(docs["eta"].startswith("Corresponds to parameter eta"))
        self.assertEqual(docstring_args(None), {})
        self.assertEqual(docstring_args("No sections here."), {})
