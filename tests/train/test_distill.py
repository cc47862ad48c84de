"""Progressive distillation of the bundled UNet: the targets and the step grid it relies on."""

import torch
from diffusers import DDIMScheduler, UNet2DConditionModel

from pixelgif.models.bundled.unet import scheduler_config
from pixelgif.train.bundled.distill import Schedule, ddim_step, distill_targets, trailing_grid


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


def test_student_step_on_the_target_lands_where_the_teachers_two_steps_do():
    teacher = _tiny_unet()
    schedule = Schedule()
    gen = torch.Generator().manual_seed(3)
    x_t = torch.randn(3, 4, 8, 8, generator=gen)
    context = torch.randn(3, 5, 16, generator=gen)
    grid = [*trailing_grid(12), -1]
    for k in (0, 4, 5):  # the noisiest step, one in the middle, the last (to the clean image)
        t, t_mid, t_next = (torch.full((3,), grid[2 * k + d]) for d in (0, 1, 2))
        target, _ = distill_targets(schedule, teacher, x_t, t, t_mid, t_next, context)
        with torch.no_grad():
            eps = teacher(x_t, t, encoder_hidden_states=context).sample
            x_mid = ddim_step(schedule, x_t, eps, t, t_mid)
            eps = teacher(x_mid, t_mid, encoder_hidden_states=context).sample
            two_steps = ddim_step(schedule, x_mid, eps, t_mid, t_next)
        one_step = ddim_step(schedule, x_t, target.detach(), t, t_next, clip=False)
        assert torch.allclose(one_step, two_steps, atol=1e-4), (k, (one_step - two_steps).abs().max())
        # The target is a different noise than the teacher's own single-step prediction.
        assert not torch.allclose(target, teacher(x_t, t, encoder_hidden_states=context).sample.detach(), atol=1e-3)
