"""The bundled model's own DPM-Solver++ and DDIM step exactly as diffusers' schedulers do."""

import json

import diffusers
import pytest
import torch

from pixelgif.models.bundled import WEIGHTS_DIR
from pixelgif.models.bundled.samplers import DDIM, DPMSolver, scheduler_for

SHIPPED = json.loads((WEIGHTS_DIR / "scheduler" / "scheduler_config.json").read_text())
CASES = [
    ("DPMSolverMultistepScheduler", {}),  # the shipped sampler: 2M, dynamic thresholding
    ("DPMSolverMultistepScheduler", {"thresholding": False, "solver_order": 1}),
    ("DPMSolverMultistepScheduler", {"solver_type": "heun", "timestep_spacing": "trailing"}),
    (
        "DPMSolverMultistepScheduler",
        {
            "final_sigmas_type": "sigma_min",
            "timestep_spacing": "leading",
            "steps_offset": 1,
            "beta_schedule": "scaled_linear",
        },
    ),
    ("DDIMScheduler", {"clip_sample": False, "thresholding": False}),  # "DDIM-exact": image keyframes
    ("DDIMScheduler", {}),
    ("DDIMScheduler", {"timestep_spacing": "trailing"}),
    ("DDIMScheduler", {"thresholding": True, "set_alpha_to_one": False}),
]


@pytest.mark.parametrize(("name", "options"), CASES)
@pytest.mark.parametrize("steps", [1, 2, 5, 12, 25])
def test_samples_equal_diffusers(name, options, steps):
    reference = getattr(diffusers, name).from_config(SHIPPED, **options)
    ours = scheduler_for(name, SHIPPED, **options)
    assert ours is not None
    reference.set_timesteps(steps)
    ours.set_timesteps(steps)
    assert torch.equal(reference.timesteps, ours.timesteps)
    assert ours.init_noise_sigma == reference.init_noise_sigma
    g = torch.Generator().manual_seed(steps)
    expected = torch.randn(3, 4, 8, 8, generator=g) * 2
    got = expected.clone()
    for t in reference.timesteps:
        noise = torch.randn(3, 4, 8, 8, generator=g)
        assert torch.equal(ours.scale_model_input(got, t), got)
        expected = reference.step(noise, t, expected).prev_sample
        got = ours.step(noise, t, got).prev_sample
    assert (got - expected).abs().max().item() <= 1e-6


def test_settings_not_implemented_fall_back_to_diffusers():
    assert scheduler_for("UniPCMultistepScheduler", SHIPPED) is None
    assert scheduler_for("DPMSolverMultistepScheduler", SHIPPED, use_karras_sigmas=True) is None
    assert scheduler_for("DPMSolverMultistepScheduler", SHIPPED, algorithm_type="sde-dpmsolver++") is None
    assert isinstance(scheduler_for("DDIMScheduler", SHIPPED), DDIM)


def test_config_works_with_diffusers_from_config():
    """--scheduler UniPC on the bundled model: diffusers builds it from our sampler's config."""
    ours = scheduler_for("DPMSolverMultistepScheduler", SHIPPED)
    assert isinstance(ours, DPMSolver)
    unipc = diffusers.UniPCMultistepScheduler.from_config(ours.config)
    assert unipc.config.beta_schedule == "linear" and unipc.config.num_train_timesteps == 1000


def test_engine_picks_the_own_ddim_for_image_keyframes():
    from pixelgif.models import backend_of
    from pixelgif.models.bundled import load_bundled_pipeline
    from pixelgif.morph.engine import MorphPipeline

    engine = MorphPipeline(backend_of(load_bundled_pipeline()), progress=False)
    engine.set_scheduler("DDIM-exact")
    assert isinstance(engine.pipe.scheduler, DDIM) and not engine.pipe.scheduler.config.clip_sample
    engine.set_scheduler("UniPC")
    assert type(engine.pipe.scheduler).__name__ == "UniPCMultistepScheduler"
    engine.set_scheduler(None)
    assert isinstance(engine.pipe.scheduler, DPMSolver)
