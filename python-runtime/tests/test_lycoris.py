"""LyCORIS weight deltas (mgen_runtime.lycoris) against direct reference computations, key resolution on the tiny
pipelines (kohya, SGM and FLUX BFL names), and bit-exact restore."""

from __future__ import annotations

import tempfile
import unittest
from pathlib import Path

import torch

from tests.support import tiny

from mgen_runtime import lycoris
from mgen_runtime.protocol import WorkerError


def rnd(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed + sum(shape)))


class DeltaMathTest(unittest.TestCase):
    def test_loha_is_the_hadamard_product_of_two_low_rank_products_times_alpha_over_rank(self) -> None:
        t = {"hada_w1_a": rnd(6, 2), "hada_w1_b": rnd(2, 5, seed=1), "hada_w2_a": rnd(6, 2, seed=2), "hada_w2_b": rnd(2, 5, seed=3),
             "alpha": torch.tensor(1.0)}
        ref = torch.empty(6, 5)
        for i in range(6):
            for j in range(5):
                a = sum(t["hada_w1_a"][i, r] * t["hada_w1_b"][r, j] for r in range(2))
                b = sum(t["hada_w2_a"][i, r] * t["hada_w2_b"][r, j] for r in range(2))
                ref[i, j] = a * b * 0.5
        torch.testing.assert_close(lycoris.module_delta(t, torch.zeros(6, 5)), ref)

    def test_cp_factors_contract_the_core_with_both_projections(self) -> None:
        core, wa, wb = rnd(2, 2, 3, 3), rnd(2, 4, seed=1), rnd(2, 5, seed=2)
        ref = torch.zeros(4, 5, 3, 3)
        for p in range(4):
            for q in range(5):
                for i in range(2):
                    for j in range(2):
                        ref[p, q] += core[i, j] * wa[i, p] * wb[j, q]
        torch.testing.assert_close(lycoris.tucker(core, wa, wb), ref)

    def test_lokr_is_the_kronecker_product_with_full_or_low_rank_factors(self) -> None:
        w1, w2 = rnd(2, 3), rnd(4, 5, seed=1)
        ref = torch.zeros(8, 15)
        for i in range(2):
            for j in range(3):
                ref[i * 4:(i + 1) * 4, j * 5:(j + 1) * 5] = w1[i, j] * w2
        # both factors full: no alpha scaling even when alpha is present
        torch.testing.assert_close(lycoris.module_delta({"lokr_w1": w1, "lokr_w2": w2, "alpha": torch.tensor(4.0)}, torch.zeros(8, 15)), ref)
        a, b = rnd(4, 2, seed=2), rnd(2, 5, seed=3)
        got = lycoris.module_delta({"lokr_w1": w1, "lokr_w2_a": a, "lokr_w2_b": b, "alpha": torch.tensor(1.0)}, torch.zeros(8, 15))
        torch.testing.assert_close(got, torch.kron(w1, a @ b) * 0.5)

    def test_oft_turns_each_block_of_output_rows_by_an_orthogonal_matrix(self) -> None:
        blocks, weight = rnd(3, 4, 4) * 0.3, rnd(12, 7, seed=1)
        eye = torch.eye(4)
        rs = []
        for k in range(3):
            q = blocks[k] - blocks[k].T
            r = (eye + q) @ torch.linalg.inv(eye - q)
            torch.testing.assert_close(r @ r.T, eye, atol=1e-5, rtol=1e-5)
            rs.append(r.T)
        ref = torch.block_diag(*rs) @ weight - weight
        torch.testing.assert_close(lycoris.module_delta({"oft_blocks": blocks, "alpha": torch.tensor(0.0)}, weight), ref, atol=1e-5, rtol=1e-5)

    def test_oft_alpha_constrains_the_norm_of_the_skew_part(self) -> None:
        blocks, weight = rnd(2, 4, 4), rnd(8, 3, seed=1)
        q = blocks - blocks.transpose(1, 2)
        scaled = blocks * (0.1 / (torch.norm(q) + 1e-8))
        torch.testing.assert_close(lycoris.module_delta({"oft_blocks": blocks, "alpha": torch.tensor(0.1)}, weight),
                                   lycoris.module_delta({"oft_blocks": scaled, "alpha": torch.tensor(0.0)}, weight), atol=1e-5, rtol=1e-5)

    def test_one_stage_boft_is_a_block_rotation_of_interleaved_rows(self) -> None:
        blocks, weight = rnd(1, 2, 4, 4) * 0.3, rnd(8, 3, seed=1)
        eye = torch.eye(4)
        rs = [(eye + (b - b.T)) @ torch.linalg.inv(eye - (b - b.T)) for b in blocks[0]]
        # rows within each group of 4 are interleaved (0, 2, 1, 3) before the rotation and put back after
        perm = torch.tensor([0, 2, 1, 3, 4, 6, 5, 7])
        p = torch.eye(8)[perm]
        ref = p.T @ torch.block_diag(*rs) @ p @ weight - weight
        torch.testing.assert_close(lycoris.module_delta({"oft_blocks": blocks}, weight), ref, atol=1e-5, rtol=1e-5)

    def test_ia3_scales_rows_or_with_on_input_columns(self) -> None:
        weight = rnd(4, 3)
        out_vec, in_vec = rnd(4, seed=1), rnd(3, seed=2)
        torch.testing.assert_close(lycoris.module_delta({"weight": out_vec, "on_input": torch.tensor(False)}, weight), weight * out_vec[:, None])
        torch.testing.assert_close(lycoris.module_delta({"weight": in_vec, "on_input": torch.tensor(True)}, weight), weight * in_vec[None, :])

    def test_dora_renormalises_each_input_column_to_the_learned_magnitude(self) -> None:
        weight, down, up = rnd(5, 4), rnd(2, 4, seed=1), rnd(5, 2, seed=2)
        scale = rnd(1, 4, seed=3).abs() + 1
        w = weight + up @ down
        ref = torch.stack([w[:, j] * scale[0, j] / w[:, j].norm() for j in range(4)], 1) - weight
        got = lycoris.module_delta({"lora_down.weight": down, "lora_up.weight": up, "dora_scale": scale}, weight)
        torch.testing.assert_close(got, ref)

    def test_locon_with_a_cp_mid_core(self) -> None:
        down, mid, up = rnd(2, 5, 1, 1), rnd(2, 2, 3, 3, seed=1), rnd(4, 2, 1, 1, seed=2)
        ref = torch.zeros(4, 5, 3, 3)
        for p in range(4):
            for q in range(5):
                for i in range(2):
                    for j in range(2):
                        ref[p, q] += up[p, i, 0, 0] * mid[i, j] * down[j, q, 0, 0]
        got = lycoris.module_delta({"lora_down.weight": down, "lora_mid.weight": mid, "lora_up.weight": up}, torch.zeros(4, 5, 3, 3))
        torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)


class KeyTest(unittest.TestCase):
    def test_sgm_unet_names_map_to_diffusers_blocks(self) -> None:
        # SDXL's layout: two layers per block, cross-attention in up blocks 0 and 1
        cases = {"input_blocks_4_1_transformer_blocks_0_attn1_to_q": "down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q",
                 "input_blocks_1_0_in_layers_2": "down_blocks_0_resnets_0_conv1",
                 "input_blocks_3_0_op": "down_blocks_0_downsamplers_0_conv", "output_blocks_2_2_conv": "up_blocks_0_upsamplers_0_conv",
                 "middle_block_1_proj_in": "mid_block_attentions_0_proj_in", "middle_block_2_out_layers_3": "mid_block_resnets_1_conv2",
                 "output_blocks_1_1_proj_out": "up_blocks_0_attentions_1_proj_out", "output_blocks_5_0_skip_connection": "up_blocks_1_resnets_2_conv_shortcut"}
        for sgm, want in cases.items():
            self.assertEqual(lycoris._sgm_to_diffusers(sgm, 2, {0, 1}), want, sgm)

    def test_which_files_are_patched_here(self) -> None:
        self.assertTrue(lycoris.needs_patch(["lora_unet_x.hada_w1_a"], object()))
        self.assertTrue(lycoris.needs_patch(["lora_unet_x.lora_down.weight", "lora_unet_x.dora_scale"], object()))
        self.assertTrue(lycoris.needs_patch(["lora_unet_x.weight", "lora_unet_x.on_input"], object()))
        self.assertFalse(lycoris.needs_patch(["lora_unet_x.lora_down.weight", "lora_unet_x.lora_up.weight", "lora_unet_x.alpha"], object()))
        self.assertFalse(lycoris.needs_patch(["unet.x.lora_A.weight", "unet.x.lora_B.weight", "unet.x.lora_magnitude_vector"], object()))


def _pipe(name: str):
    import diffusers
    import json

    folder = tiny(name)
    cls = json.loads((folder / "model_index.json").read_text())["_class_name"]
    return folder, getattr(diffusers, cls).from_pretrained(str(folder), dtype=torch.float32, local_files_only=True)


def _params(pipe) -> dict[str, torch.Tensor]:
    return {f"{c}.{k}": v.clone() for c in ("unet", "transformer", "text_encoder", "text_encoder_2")
            if getattr(pipe, c, None) is not None for k, v in getattr(pipe, c).state_dict().items()}


class PatchTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        from mgen_runtime.tiny_lycoris import write_for

        cls.tmp = tempfile.TemporaryDirectory()
        cls.out = Path(cls.tmp.name)
        cls.pipes = {}
        for name in ("tiny-sd", "tiny-sdxl", "tiny-flux"):
            folder, pipe = _pipe(name)
            cls.pipes[name] = pipe
            write_for(folder, cls.out / name)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.tmp.cleanup()

    def _apply_all_and_restore(self, name: str, fname: str) -> int:
        pipe = self.pipes[name]
        before = _params(pipe)
        state = lycoris.read_tensors(self.out / name / fname, False)
        self.assertTrue(lycoris.needs_patch(state, pipe) or fname in ("locon.safetensors",))
        modules = lycoris.group(state)
        targets, missing = lycoris.resolve(pipe, modules)
        self.assertEqual(missing, [], f"{fname}: unmatched modules")
        patches = lycoris.WeightPatches(pipe)
        n = patches.apply(state, 0.7, fname)
        changed = [k for k, v in _params(pipe).items() if not torch.equal(v, before[k])]
        self.assertTrue(changed, fname)
        patches.restore()
        after = _params(pipe)
        self.assertEqual([k for k, v in after.items() if not torch.equal(v, before[k])], [], f"{fname}: not restored bit for bit")
        return n

    def test_every_sd1_format_resolves_fully_and_restores_exactly(self) -> None:
        for fname in sorted(p.name for p in (self.out / "tiny-sd").iterdir()):
            with self.subTest(fname):
                self.assertGreater(self._apply_all_and_restore("tiny-sd", fname), 0)

    def test_sdxl_sgm_names_and_both_text_encoders(self) -> None:
        self._apply_all_and_restore("tiny-sdxl", "sdxl-loha.safetensors")
        state = lycoris.read_tensors(self.out / "tiny-sdxl" / "sdxl-loha.safetensors", False)
        self.assertTrue(any(k.startswith("lora_unet_input_blocks_") for k in state))
        self.assertTrue(any(k.startswith("lora_te2_") for k in state))

    def test_flux_fused_bfl_weights_split_over_q_k_v(self) -> None:
        pipe = self.pipes["tiny-flux"]
        self._apply_all_and_restore("tiny-flux", "flux-dora.safetensors")
        state = lycoris.read_tensors(self.out / "tiny-flux" / "flux-lokr.safetensors", False)
        attn = pipe.transformer.transformer_blocks[0].attn
        fused = torch.cat([attn.to_q.weight, attn.to_k.weight, attn.to_v.weight]).detach().clone()
        t = lycoris.group(state)["lora_unet_double_blocks_0_img_attn_qkv"]
        want = fused + 0.5 * lycoris.module_delta(t, fused)
        patches = lycoris.WeightPatches(pipe)
        patches.apply(state, 0.5, "flux-lokr")
        got = torch.cat([attn.to_q.weight, attn.to_k.weight, attn.to_v.weight]).detach()
        patches.restore()
        torch.testing.assert_close(got, want)
        self._apply_all_and_restore("tiny-flux", "flux-lokr.safetensors")

    def test_a_file_for_another_model_is_refused_by_name(self) -> None:
        state = lycoris.read_tensors(self.out / "tiny-flux" / "flux-lokr.safetensors", False)
        with self.assertRaises(WorkerError) as ctx:
            lycoris.WeightPatches(self.pipes["tiny-sd"]).apply(state, 1.0, "flux-lokr.safetensors")
        self.assertIn("flux-lokr.safetensors", ctx.exception.message)
        self.assertIn("matches", ctx.exception.message)


if __name__ == "__main__":
    unittest.main()
