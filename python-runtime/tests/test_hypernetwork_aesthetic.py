"""A1111 hypernetworks (layout, layer building, the k/v context hooks) and aesthetic gradients (blend, tuning) on the
tiny builtins, against direct reference computations."""

from __future__ import annotations

import copy
import tempfile
import unittest
from pathlib import Path

import torch

from tests.support import tiny

from mgen_runtime import aesthetic, hypernetwork
from mgen_runtime.protocol import WorkerError


def _sd_pipe():
    from diffusers import StableDiffusionPipeline

    return StableDiffusionPipeline.from_pretrained(str(tiny("tiny-sd")), dtype=torch.float32, local_files_only=True)


class HypernetworkTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.file = tiny("tiny-sd-hypernetwork") / "tinyhypernet.pt"
        cls.pipe = _sd_pipe()

    def test_the_file_is_in_a1111s_layout(self) -> None:
        raw = torch.load(str(self.file), weights_only=True)
        self.assertEqual([k for k in raw if isinstance(k, int)], [768])
        self.assertEqual(len(raw[768]), 2)
        self.assertEqual(raw["activation_func"], "relu")
        self.assertTrue(raw["is_layer_norm"])
        # Linear 0, ReLU 1, LayerNorm 2, Dropout 3, Linear 4, ReLU 5, LayerNorm 6, Linear 7, LayerNorm 8
        self.assertEqual(sorted({k.rsplit(".", 1)[0] for k in raw[768][0]}), [f"linear.{i}" for i in (0, 2, 4, 6, 7, 8)])

    def test_layers_follow_the_settings(self) -> None:
        hn = hypernetwork.load(self.file)
        kinds = [type(m).__name__ for m in hn.layers[768][0].linear]
        self.assertEqual(kinds, ["Linear", "ReLU", "LayerNorm", "Dropout", "Linear", "ReLU", "LayerNorm", "Linear", "LayerNorm"])
        self.assertEqual(hypernetwork.dropout_structure([1, 2, 1], True, False), [0.0, 0.0, 0.0])
        self.assertEqual(hypernetwork.dropout_structure([1, 2, 2, 1], True, True), [0.0, 0.3, 0.3, 0.0])

    def test_keys_and_values_see_the_rewritten_context_and_detach_restores_the_attention(self) -> None:
        hn = hypernetwork.load(self.file)
        attn = self.pipe.unet.down_blocks[1].attentions[0].transformer_blocks[0].attn2
        ctx = torch.randn(1, 5, 768, generator=torch.Generator().manual_seed(1))
        k_mlp, v_mlp = hn.layers[768][0].linear, hn.layers[768][1].linear
        with torch.no_grad():
            want_k = attn.to_k(ctx + k_mlp(ctx) * 0.6)
            want_v = attn.to_v(ctx + v_mlp(ctx) * 0.6)
            base_k = attn.to_k(ctx)
            hooks = hypernetwork.attach(self.pipe, [(hn, 0.6)])
            got_k, got_v = attn.to_k(ctx), attn.to_v(ctx)
            hooks.detach()
            after = attn.to_k(ctx)
        torch.testing.assert_close(got_k, want_k)
        torch.testing.assert_close(got_v, want_v)
        self.assertTrue(torch.equal(after, base_k))
        # Self-attention of another width is left alone (no 32- or 64-wide pair in the file).
        self_attn = self.pipe.unet.down_blocks[1].attentions[0].transformer_blocks[0].attn1
        x = torch.randn(1, 4, self_attn.to_k.in_features)
        with torch.no_grad():
            before = self_attn.to_k(x)
            hooks = hypernetwork.attach(self.pipe, [(hn, 1.0)])
            self.assertTrue(torch.equal(self_attn.to_k(x), before))
            hooks.detach()

    def test_a_pickle_with_code_is_refused_by_the_weights_only_loader(self) -> None:
        import pickle

        class Evil:
            def __reduce__(self):
                return (print, ("x",))

        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "evil.pt"
            torch.save({768: (Evil(), {}), "name": "x"}, str(path))
            with self.assertRaises(WorkerError) as ctx:
                hypernetwork.load(path)
            self.assertEqual(ctx.exception.type, "unsafe_model")
            del pickle


class AestheticTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        folder = tiny("tiny-sd-aesthetic")
        cls.spec = {"path": str(folder / "tiny-sd-aesthetic.pt"), "clip_path": str(folder / "clip"), "weight": 0.7, "steps": 2, "lr": 0.01}
        cls.pipe = _sd_pipe()

    def test_tuning_is_adam_on_the_text_tower_toward_the_embedding(self) -> None:
        a = aesthetic.Aesthetic(self.spec)
        tokens = self.pipe.tokenizer("a cat", padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
        ref = copy.deepcopy(a.clip())
        opt = torch.optim.Adam(ref.text_model.parameters(), lr=0.01)
        for _ in range(2):
            f = ref.text_projection(ref.text_model(input_ids=tokens).pooler_output)
            f = f / f.norm(dim=-1, keepdim=True)
            loss = -(f @ a.embedding.T).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            want = ref.text_model(input_ids=tokens).last_hidden_state
        torch.testing.assert_close(a.tuned_hidden_state(tokens), want)

    def test_the_blend_and_weight_zero(self) -> None:
        a = aesthetic.Aesthetic(self.spec)
        kwargs = {"prompt": "a cat", "negative_prompt": "dog", "guidance_scale": 5.0, "num_inference_steps": 2}
        out = a.condition(self.pipe, kwargs)
        self.assertNotIn("prompt", out)
        z, neg = self.pipe.encode_prompt("a cat", "cpu", 1, True, "dog")
        tokens = self.pipe.tokenizer("a cat", padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
        zn = a.tuned_hidden_state(tokens)
        torch.testing.assert_close(out["prompt_embeds"], z * 0.3 + zn * 0.7)
        torch.testing.assert_close(out["negative_prompt_embeds"], neg)
        zero = aesthetic.Aesthetic({**self.spec, "weight": 0})
        self.assertEqual(zero.condition(self.pipe, kwargs), kwargs)

    def test_slerp_is_the_extensions(self) -> None:
        low, high = torch.randn(1, 3, 4), torch.randn(1, 3, 4)
        got = aesthetic.slerp(low, high, 0.3)
        ln, hn = low / low.norm(dim=1, keepdim=True), high / high.norm(dim=1, keepdim=True)
        omega = torch.acos((ln * hn).sum(1))
        want = (torch.sin(0.7 * omega) / torch.sin(omega)).unsqueeze(1) * low + (torch.sin(0.3 * omega) / torch.sin(omega)).unsqueeze(1) * high
        torch.testing.assert_close(got, want)

    def test_an_embedding_that_is_not_one_vector_is_refused(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "x.pt"
            torch.save(torch.zeros(3, 32), str(path))
            with self.assertRaises(WorkerError) as ctx:
                aesthetic.read_embedding(path)
            self.assertIn("not an aesthetic embedding", ctx.exception.message)


if __name__ == "__main__":
    unittest.main()
