"""Step distillation of the bundled UNet: the targets, the step grid they rely on, packed caption states."""

import itertools

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler, UNet2DConditionModel

from pixelgif.models.bundled.unet import scheduler_config
from pixelgif.train.bundled.distill import (
    Schedule,
    ddim_step,
    distill_targets,
    pack_states,
    trailing_grid,
    unpack_states,
)


def _tiny_unet() -> UNet2DConditionModel:
    torch.manual_seed(0)
    return UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        block_out_channels=(8, 16),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=4,
        norm_num_groups=4,
    ).eval()


def test_trailing_grid_is_diffusers_and_halves_exactly():
    scheduler = DDIMScheduler(**scheduler_config(), timestep_spacing="trailing")
    for steps in (3, 6, 12):
        scheduler.set_timesteps(steps)
        assert trailing_grid(steps) == scheduler.timesteps.tolist()
    # Every other point of the 12-step grid is the 6-step grid: one student step spans two teacher steps.
    assert trailing_grid(12)[::2] == trailing_grid(6)


def test_ddim_step_matches_diffusers_ddim():
    scheduler = DDIMScheduler(**scheduler_config(), timestep_spacing="trailing", clip_sample=False)
    scheduler.set_timesteps(6)
    schedule = Schedule()
    x = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    eps = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(2))
    for t in trailing_grid(6):
        t_next = t - 1000 // 6  # diffusers' DDIM steps to t - 1000 // steps, one off the grid at some points
        ours = ddim_step(schedule, x, eps, torch.tensor([t, t]), torch.tensor([t_next, t_next]), clip=False)
        theirs = scheduler.step(eps, t, x).prev_sample
        assert torch.allclose(ours, theirs, atol=1e-5), (t, (ours - theirs).abs().max())


@pytest.mark.parametrize("substeps", [2, 4])
def test_student_step_on_the_target_lands_where_the_teachers_steps_do(substeps):
    teacher = _tiny_unet()

    def predict(x, t, context):
        return teacher(x, t, encoder_hidden_states=context).sample

    schedule = Schedule()
    gen = torch.Generator().manual_seed(3)
    x_t = torch.randn(3, 4, 8, 8, generator=gen)
    context = torch.randn(3, 5, 16, generator=gen)
    student_steps = 12 // substeps
    grid = [*trailing_grid(12), -1]
    for k in (0, student_steps // 2, student_steps - 1):  # the noisiest step, one in the middle, the last
        path = [torch.full((3,), grid[substeps * k + d]) for d in range(substeps + 1)]
        with torch.no_grad():
            target, _ = distill_targets(schedule, predict, x_t, path, context)
            x = x_t
            for t, t_next in itertools.pairwise(path):
                x = ddim_step(schedule, x, predict(x, t, context), t, t_next)
        one_step = ddim_step(schedule, x_t, target, path[0], path[-1], clip=False)
        assert torch.allclose(one_step, x, atol=1e-4), (k, (one_step - x).abs().max())
        # The target is a different noise than the teacher's own single-step prediction.
        assert not torch.allclose(target, predict(x_t, path[0], context).detach(), atol=1e-3)


def test_packed_caption_states_keep_the_empty_caption_and_round_trip_closely():
    states = torch.randn(10, 24, 384, generator=torch.Generator().manual_seed(4)).half()
    packed = pack_states(states, np.array([3, 7, 7]))
    assert packed["int8"].dtype == torch.int8 and packed["rows"].tolist() == [0, 3, 7]
    unpacked, row_of = unpack_states(packed, 10)
    assert row_of.tolist() == [0, -1, -1, 1, -1, -1, -1, 2, -1, -1]
    error = (unpacked - states[[0, 3, 7]].float()).abs().max() / states.float().abs().max()
    assert 0 < error < 0.01
