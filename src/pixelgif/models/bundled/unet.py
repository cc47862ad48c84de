"""Architecture of the bundled sprite denoiser: a small pixel-space UNet2DConditionModel."""

from __future__ import annotations

from .text import EMBED_DIM

SPRITE_SIZE = 32
# RGB on a white background plus alpha.
SPRITE_CHANNELS = 4


def unet_config() -> dict:
    """Return the config of the bundled UNet: attention only at the two low resolutions."""
    return dict(
        sample_size=SPRITE_SIZE,
        in_channels=SPRITE_CHANNELS,
        out_channels=SPRITE_CHANNELS,
        block_out_channels=(32, 64, 128),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        mid_block_type="UNetMidBlock2DCrossAttn",
        cross_attention_dim=EMBED_DIM,
        attention_head_dim=8,
        norm_num_groups=16,
    )


def scheduler_config() -> dict:
    """Return the training noise schedule: DDPM's linear betas.

    Not the cosine schedule: its last betas are capped at 0.999, so at t=999 almost no signal is
    left and few-step solvers (DPM-Solver++, DDIM with trailing spacing) blew up when measured.
    """
    return dict(
        num_train_timesteps=1000,
        beta_schedule="linear",
        beta_start=0.0001,
        beta_end=0.02,
        prediction_type="epsilon",
    )
