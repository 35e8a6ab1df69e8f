"""A1111 prompt syntax (mgen_runtime.prompt_weighting) against a reference computation of A1111's algorithm,
written here from its description, on the tiny builtins' CLIP encoders; and textual inversions in each stored form."""

from __future__ import annotations

import threading
import unittest

import torch

from tests.support import pixel_digest, scratch_dir, sd_plan, tiny

from mgen_runtime import prompt_weighting as pw
from mgen_runtime.embeddings import load_embedding, vectors_of
from mgen_runtime.protocol import WorkerError

LONG = ", ".join(f"word{i} cat dog" for i in range(40))  # far past 77 tokens with the byte-level tiny vocabulary


class NotATensor:
    """An object a weights-only load must refuse."""


class ParseTest(unittest.TestCase):
    """The examples in A1111's parse_prompt_attention docstring."""

    def test_a1111_examples(self) -> None:
        cases = {
            "normal text": [("normal text", 1.0)],
            "an (important) word": [("an ", 1.0), ("important", 1.1), (" word", 1.0)],
            "(unbalanced": [("unbalanced", 1.1)],
            "\\(literal\\]": [("(literal]", 1.0)],
            "(unnecessary)(parens)": [("unnecessaryparens", 1.1)],
            "a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).": [
                ("a ", 1.0), ("house", 1.5730000000000004), (" ", 1.1), ("on", 1.0), (" a ", 1.1), ("hill", 0.55),
                (", sun, ", 1.1), ("sky", 1.4641000000000006), (".", 1.1)],
            "[word]": [("word", 1 / 1.1)],
            "a BREAK b": [("a", 1.0), ("BREAK", -1.0), ("b", 1.0)],
            "": [("", 1.0)],
        }
        for text, want in cases.items():
            got = pw.parse_attention(text)
            self.assertEqual([t for t, _ in got], [t for t, _ in want], text)
            for (_, g), (_, w) in zip(got, want):
                self.assertAlmostEqual(g, w, places=12, msg=text)

    def test_a_bad_weight_is_literal_text_as_in_a1111(self) -> None:
        self.assertEqual(pw.parse_attention("(a:x)"), [("a:x", 1.1)])
        self.assertEqual(pw.parse_attention("(a:1.0)"), [("a", 1.0)])


def reference(tokenizer, encoder, text: str, penultimate: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """A1111's conditioning for one encoder, computed the plain way: chunks of 75 weighted tokens (BREAK and the
    comma backtrack of 20), [BOS] + chunk + EOS padding + [EOS], tokens after the first EOS as the pad token,
    z * weights scaled back to the original mean, chunks side by side; pooled output of the first chunk."""
    bos, eos, pad = tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id
    comma = tokenizer.get_vocab().get(",</w>")
    chunks: list[tuple[list[int], list[float]]] = []
    toks: list[int] = []
    ws: list[float] = []
    last_comma = -1
    for piece, w in pw.parse_attention(text):
        if w == -1 and piece == "BREAK":
            chunks.append((toks, ws))
            toks, ws, last_comma = [], [], -1
            continue
        for t in tokenizer(piece, add_special_tokens=False)["input_ids"]:
            if t == comma:
                last_comma = len(toks)
            elif len(toks) == 75 and last_comma != -1 and 75 - last_comma <= 20:
                chunks.append((toks[:last_comma + 1], ws[:last_comma + 1]))
                toks, ws, last_comma = toks[last_comma + 1:], ws[last_comma + 1:], -1
            if len(toks) == 75:
                chunks.append((toks, ws))
                toks, ws, last_comma = [], [], -1
            toks.append(t)
            ws.append(w)
    if toks or not chunks:
        chunks.append((toks, ws))
    zs, pooled = [], None
    for toks, ws in chunks:
        ids = [bos] + toks + [eos] * (76 - len(toks))
        if pad != eos:
            first = ids.index(eos)
            ids = ids[:first + 1] + [pad] * (76 - first)
        weights = torch.tensor([1.0] + ws + [1.0] * (76 - len(ws)))
        with torch.no_grad():
            out = encoder(torch.tensor([ids]), output_hidden_states=True)
        z = out.hidden_states[-2] if penultimate else out.last_hidden_state
        if pooled is None and penultimate:
            pooled = out[0]
        mean = z.mean()
        z = z * weights.to(z.dtype)[None, :, None]
        zs.append(z * (mean / z.mean()))
    return torch.cat(zs, dim=1), pooled


class Sd1ConditioningTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        from diffusers import StableDiffusionPipeline

        cls.pipe = StableDiffusionPipeline.from_pretrained(str(tiny("tiny-sd")), local_files_only=True)
        # The tiny encoder's untrained final layer norm (bias 0) gives outputs of mean 0, where restoring the mean
        # is undefined; a trained CLIP's is not. Give it a bias so the comparison exercises the mean restoration.
        with torch.no_grad():
            getattr(cls.pipe.text_encoder, "text_model", cls.pipe.text_encoder).final_layer_norm.bias.copy_(
                torch.rand(768, generator=torch.Generator().manual_seed(5)) - 0.3)

    def ref(self, text: str) -> torch.Tensor:
        return reference(self.pipe.tokenizer, self.pipe.text_encoder, text, False)[0]

    def test_weights_nesting_long_prompts_and_break_equal_the_reference(self) -> None:
        for text in ("a (cat:1.3) and [dog]", "((cat)) \\(dog\\)", LONG, "cat BREAK dog", f"(cat:1.2), {LONG} BREAK [dog]",
                     "unbalanced (cat"):
            cond = pw.conditioning(self.pipe, text, None)["prompt_embeds"]
            want = self.ref(text)
            self.assertEqual(tuple(cond.shape), tuple(want.shape), text)
            torch.testing.assert_close(cond, want, rtol=0, atol=1e-6, msg=text)

    def test_long_prompts_and_break_make_chunks_of_77(self) -> None:
        self.assertEqual(pw.conditioning(self.pipe, "cat BREAK dog", None)["prompt_embeds"].shape[1], 154)
        self.assertGreaterEqual(pw.conditioning(self.pipe, LONG, None)["prompt_embeds"].shape[1], 3 * 77)

    def test_negative_is_padded_to_the_prompts_chunk_count_with_the_empty_prompt(self) -> None:
        c = pw.conditioning(self.pipe, "cat BREAK dog", "blurry")
        self.assertEqual(c["negative_prompt_embeds"].shape, c["prompt_embeds"].shape)
        torch.testing.assert_close(c["negative_prompt_embeds"][:, :77], self.ref("blurry"), rtol=0, atol=1e-6)
        torch.testing.assert_close(c["negative_prompt_embeds"][:, 77:], self.ref(""), rtol=0, atol=1e-6)

    def test_an_unweighted_short_prompt_equals_diffusers_own_encoding(self) -> None:
        ours = pw.conditioning(self.pipe, "a cat", None)["prompt_embeds"]
        theirs, _ = self.pipe.encode_prompt("a cat", "cpu", 1, False)
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)

    def test_sd2_style_padding_tokens_after_the_end_become_the_pad_token(self) -> None:
        import copy

        pipe = copy.copy(self.pipe)
        pipe.tokenizer = copy.deepcopy(self.pipe.tokenizer)
        pipe.tokenizer.pad_token = "!"  # SD2's OpenCLIP tokenizer pads with "!" (id 0), not with the end token
        self.assertNotEqual(pipe.tokenizer.pad_token_id, pipe.tokenizer.eos_token_id)
        for text in ("a (cat:1.3)", f"{LONG} BREAK dog"):
            torch.testing.assert_close(pw.conditioning(pipe, text, None)["prompt_embeds"],
                                       reference(pipe.tokenizer, pipe.text_encoder, text, False)[0], rtol=0, atol=1e-6)
        theirs, _ = pipe.encode_prompt("a cat", "cpu", 1, False)
        torch.testing.assert_close(pw.conditioning(pipe, "a cat", None)["prompt_embeds"], theirs, rtol=0, atol=0)

    def test_clip_skip_reads_an_earlier_layer_through_the_final_layer_norm(self) -> None:
        ours = pw.conditioning(self.pipe, "a cat", None, clip_skip=1)["prompt_embeds"]
        from mgen_runtime.compat import clip_skip_alias

        with clip_skip_alias(self.pipe):
            theirs, _ = self.pipe.encode_prompt("a cat", "cpu", 1, False, clip_skip=1)
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)

    def test_textual_inversion_vectors_replace_the_name(self) -> None:
        vec = torch.randn(2, 768, generator=torch.Generator().manual_seed(1))
        emb = {"token": "tinyti", "vectors": {768: vec}}
        with_ti = pw.conditioning(self.pipe, "a tinyti cat", None, embeddings=[emb])["prompt_embeds"]
        self.assertFalse(torch.equal(with_ti, pw.conditioning(self.pipe, "a tinyti cat", None)["prompt_embeds"]))
        chunk = pw.tokenize_line(pw.sides_of(self.pipe, [emb])[0], "a tinyti cat")[0]
        a = len(self.pipe.tokenizer("a", add_special_tokens=False)["input_ids"])
        self.assertEqual(chunk.fixes[0][0], a)
        self.assertEqual(chunk.tokens[1 + a:3 + a], [0, 0])


class SdxlConditioningTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        from diffusers import StableDiffusionXLPipeline

        cls.pipe = StableDiffusionXLPipeline.from_pretrained(str(tiny("tiny-sdxl")), local_files_only=True, dtype=torch.float32)

    def test_both_encoders_weighted_and_pooled_from_the_first_chunk(self) -> None:
        for text in ("a (cat:1.4) [dog]", f"{LONG} BREAK (cat)"):
            c = pw.conditioning(self.pipe, text, "bad (dog:0.5)")
            z1, _ = reference(self.pipe.tokenizer, self.pipe.text_encoder, text, True)
            z2, pooled = reference(self.pipe.tokenizer_2, self.pipe.text_encoder_2, text, True)
            torch.testing.assert_close(c["prompt_embeds"], torch.cat([z1, z2], dim=-1), rtol=0, atol=1e-5)
            torch.testing.assert_close(c["pooled_prompt_embeds"], pooled, rtol=0, atol=1e-6)
            self.assertEqual(c["negative_prompt_embeds"].shape, c["prompt_embeds"].shape)

    def test_an_unweighted_short_prompt_equals_diffusers_own_encoding(self) -> None:
        c = pw.conditioning(self.pipe, "a cat", "ugly")
        pe, ne, pp, npp = self.pipe.encode_prompt("a cat", device="cpu", num_images_per_prompt=1, do_classifier_free_guidance=True,
                                                  negative_prompt="ugly")
        for ours, theirs in ((c["prompt_embeds"], pe), (c["negative_prompt_embeds"], ne), (c["pooled_prompt_embeds"], pp),
                             (c["negative_pooled_prompt_embeds"], npp)):
            torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)

    def test_an_empty_negative_prompt_is_zeros(self) -> None:
        c = pw.conditioning(self.pipe, "cat", "")
        self.assertEqual(float(c["negative_prompt_embeds"].abs().sum()), 0.0)
        self.assertEqual(float(c["negative_pooled_prompt_embeds"].abs().sum()), 0.0)

    def test_sdxl_embedding_pairs_go_to_their_encoder(self) -> None:
        g = torch.Generator().manual_seed(2)
        vecs = vectors_of({"clip_l": torch.randn(1, 768, generator=g), "clip_g": torch.randn(1, 1280, generator=g)})
        self.assertEqual(sorted(vecs), [768, 1280])
        sides = pw.sides_of(self.pipe, [{"token": "tinyxl", "vectors": vecs}])
        self.assertTrue(all(side.embeddings for side in sides))
        with self.assertRaises(WorkerError) as ctx:  # an SD1 embedding on SDXL: nothing for the 1280-wide encoder
            pw.sides_of(self.pipe, [{"token": "sd1ti", "vectors": {768: vecs[768]}}])
        self.assertIn("width 1280", ctx.exception.message)


class PlanEmbeddingTest(unittest.TestCase):
    def test_a_multi_vector_embedding_loaded_with_the_plan_uses_all_its_vectors_as_diffusers_does(self) -> None:
        from mgen_runtime import plans

        ti = str(tiny("tiny-sd-ti") / "tiny-sd-ti.safetensors")
        pipe = plans.load(sd_plan(embeddings=[{"path": ti, "token": "<tinyti>"}])).pipe
        ours = pw.conditioning(pipe, "a <tinyti> cube", None)["prompt_embeds"]
        theirs, _ = pipe.encode_prompt("a <tinyti> cube", "cpu", 1, False)
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)


class EmbeddingFormsTest(unittest.TestCase):
    def test_each_stored_form_gives_its_vectors(self) -> None:
        from safetensors.torch import save_file

        d = scratch_dir()
        vec = torch.randn(2, 768, generator=torch.Generator().manual_seed(3))
        torch.save({"string_to_param": {"*": vec}, "name": "a1111pt", "step": 10}, d / "a1111pt.pt")
        save_file({"emb_params": vec}, str(d / "civitai.safetensors"))
        torch.save({"<cat-toy>": vec[0]}, d / "learned_embeds.bin")
        save_file({"<cat-toy>": vec}, str(d / "learned_embeds.safetensors"))
        for name, n in (("a1111pt.pt", 2), ("civitai.safetensors", 2), ("learned_embeds.bin", 1), ("learned_embeds.safetensors", 2)):
            got = load_embedding(str(d / name), "x", allow_pickle=True)["vectors"][768]
            torch.testing.assert_close(got, vec[:n], msg=name)
        with self.assertRaises(WorkerError) as ctx:
            load_embedding(str(d / "a1111pt.pt"), "x")
        self.assertEqual(ctx.exception.type, "unsafe_model")

    def test_a_pickle_with_objects_is_refused_by_the_weights_only_loader(self) -> None:
        d = scratch_dir()
        torch.save({"string_to_param": {"*": torch.zeros(1, 768)}, "x": NotATensor()}, d / "evil.pt")
        with self.assertRaises(WorkerError) as ctx:
            load_embedding(str(d / "evil.pt"), "x", allow_pickle=True)
        self.assertEqual(ctx.exception.type, "unsafe_model")


class GenerateTest(unittest.TestCase):
    """The worker's generate with prompt_syntax: weights change the image, (a:1.0) equals a, embeddings apply."""

    @classmethod
    def setUpClass(cls) -> None:
        from mgen_runtime import plans
        from mgen_runtime.schema import call_schema

        cls.loaded = plans.load(sd_plan(allow_pickle=True))
        cls.schema = call_schema(cls.loaded.pipe)

    def generate(self, prompt: str, **extra) -> str:
        from mgen_runtime import generate

        req = {"prompt": prompt, "steps": 2, "width": 64, "height": 64, "seed": 7, "out_dir": str(scratch_dir()), **extra}
        out = generate.run(self.loaded, req, self.schema, lambda *_: None, threading.Event())
        return pixel_digest(out["images"][0]["path"])

    def test_weights_change_the_image_and_weight_one_does_not(self) -> None:
        base = self.generate("a cat")
        self.assertEqual(self.generate("(a cat:1.0)"), base)
        self.assertEqual(self.generate("a cat", prompt_syntax="plain"), base)
        self.assertNotEqual(self.generate("a (cat:1.5)"), base)
        self.assertNotEqual(self.generate("(a cat:1.0)", prompt_syntax="plain"), base)

    def test_a_request_embedding_changes_the_image_only_where_its_name_is_written(self) -> None:
        ti = str(tiny("tiny-sd-ti") / "tiny-sd-ti.safetensors")
        emb = [{"path": ti, "token": "tinyti"}]
        base = self.generate("a tinyti cat")
        self.assertNotEqual(self.generate("a tinyti cat", embeddings=emb), base)
        self.assertEqual(self.generate("a cat", embeddings=emb), self.generate("a cat"))

    def test_each_stored_form_changes_the_image_when_its_file_name_is_in_the_prompt(self) -> None:
        from safetensors.torch import save_file

        d = scratch_dir()
        vec = torch.randn(2, 768, generator=torch.Generator().manual_seed(9)) * 3
        torch.save({"string_to_param": {"*": vec}, "name": "pt", "step": 1}, d / "formpt.pt")
        save_file({"emb_params": vec}, str(d / "formst.safetensors"))
        (d / "formdf").mkdir()
        save_file({"<formdf>": vec}, str(d / "formdf" / "learned_embeds.safetensors"))
        base = self.generate("a formxx cube")
        for path, token in ((d / "formpt.pt", "formpt"), (d / "formst.safetensors", "formst"), (d / "formdf" / "learned_embeds.safetensors", "formdf")):
            self.assertNotEqual(self.generate(f"a {token} cube", embeddings=[{"path": str(path), "token": token}]), base, token)


class SdxlGenerateTest(unittest.TestCase):
    def test_an_sdxl_clip_l_clip_g_embedding_changes_the_image(self) -> None:
        from safetensors.torch import save_file

        from mgen_runtime import generate, plans
        from mgen_runtime.schema import call_schema

        loaded = plans.load(sd_plan(path=str(tiny("tiny-sdxl")), pipeline="StableDiffusionXLPipeline"))
        schema = call_schema(loaded.pipe)
        g = torch.Generator().manual_seed(4)
        d = scratch_dir()
        save_file({"clip_l": torch.randn(2, 768, generator=g), "clip_g": torch.randn(2, 1280, generator=g)}, str(d / "xlti.safetensors"))

        def run(**extra) -> str:
            req = {"prompt": "a xlti cube", "steps": 2, "width": 64, "height": 64, "seed": 3, "out_dir": str(scratch_dir()), **extra}
            return pixel_digest(generate.run(loaded, req, schema, lambda *_: None, threading.Event())["images"][0]["path"])

        self.assertNotEqual(run(embeddings=[{"path": str(d / "xlti.safetensors"), "token": "xlti"}]), run())
