"""Schedulers whose extra dependencies the runtime pins: LMS (A1111's "LMS" sampler) needs scipy, and the SDE
schedulers (Stable Audio Open's CosineDPMSolverMultistepScheduler, DPMSolverSDEScheduler) need torchsde. Without
those pins diffusers replaces them with stand-ins that fail at first use."""

from __future__ import annotations

import unittest

import torch

from tests import support  # noqa: F401 - puts python-runtime on sys.path


def _denoise(scheduler, steps: int = 4) -> torch.Tensor:
    scheduler.set_timesteps(steps)
    x = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0)) * scheduler.init_noise_sigma
    for t in scheduler.timesteps:
        model_in = scheduler.scale_model_input(x, t)
        x = scheduler.step(model_in * 0.1, t, x).prev_sample
    return x


class SchedulerDependencies(unittest.TestCase):
    def test_lms_runs(self) -> None:
        from diffusers import LMSDiscreteScheduler

        self.assertTrue(torch.isfinite(_denoise(LMSDiscreteScheduler())).all())

    def test_sde_schedulers_run(self) -> None:
        from diffusers import CosineDPMSolverMultistepScheduler, DPMSolverSDEScheduler

        for cls in (DPMSolverSDEScheduler, CosineDPMSolverMultistepScheduler):
            with self.subTest(cls=cls.__name__):
                self.assertTrue(torch.isfinite(_denoise(cls())).all())


if __name__ == "__main__":
    unittest.main()
