"""Image keyframes on flow-matching models (SD3/3.5, Flux): the sampler's own schedule, the
transformer's velocity, and the inversion of Euler sampling back to the starting noise.

Flow matching samples x(sigma) from sigma = 1 (noise) to 0 (the image) with Euler steps
x_next = x + (sigma_next - sigma) v(x, sigma). Inverting a step solves x = x_next - (sigma_next -
sigma) v(x, sigma) by fixed-point iteration, as the DDIM inversion of UNet models does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from .fixed_point import ANDERSON_DEPTH, AndersonMixing

if TYPE_CHECKING:
    from .denoiser import Denoiser
    from .results import Conditioning


class _Captured(Exception):
    """Stops the pipeline once its schedule is known."""


def sampling_sigmas(pipe, conditioning: Conditioning, latents: torch.Tensor, steps: int, size: tuple[int, int]):
    """Return (sigmas, timesteps) that ``pipe`` samples ``latents`` (in its own layout) with in ``steps`` steps: read from
    the pipeline's scheduler during a run stopped at its first step (every family shifts its
    schedule its own way, Flux by image size), so inversion walks exactly the sampler's path."""
    seen: dict[str, torch.Tensor] = {}

    def stop(pipeline, step, timestep, kwargs):
        seen["sigmas"] = pipeline.scheduler.sigmas.detach().clone().cpu().double()
        seen["timesteps"] = pipeline.scheduler.timesteps.detach().clone().cpu()
        raise _Captured

    height, width = size
    positive = {name: tensor for name, tensor in conditioning.items() if not name.startswith("negative_")}
    try:  # guidance 1: no unconditional half (guidance does not change the schedule)
        pipe(**positive, latents=latents, num_inference_steps=steps, guidance_scale=1.0, height=height, width=width,
             output_type="latent", callback_on_step_end=stop)  # fmt: skip
    except _Captured:
        return seen["sigmas"], seen["timesteps"]
    raise RuntimeError(f"{type(pipe).__name__} did not call back at its first step")


def velocity(pipe, denoiser: Denoiser, sample: torch.Tensor, timestep: torch.Tensor, conditioning: Conditioning,
             guidance: float) -> torch.Tensor:  # fmt: skip
    """Return the transformer's velocity (float32, spatial layout) for ``sample`` (B, C, h, w) at
    ``timestep`` (the scheduler's, sigma x 1000), called as the family's pipeline calls it."""
    transformer, dtype = denoiser.module, denoiser.dtype
    batch, _, rows, columns = sample.shape
    device = sample.device
    timesteps = timestep.to(device).expand(batch)
    arguments: dict[str, Any] = {
        "encoder_hidden_states": conditioning["prompt_embeds"].to(device, dtype),
        "pooled_projections": conditioning["pooled_prompt_embeds"].to(device, dtype),
        "return_dict": False,
    }
    if denoiser.pack is None:  # SD3
        return transformer(hidden_states=sample.to(dtype), timestep=timesteps, **arguments)[0].float()
    # Flux: packed 2x2 patches with their positions, the text's (zero) positions, and the distilled guidance.
    text_ids = torch.zeros(conditioning["prompt_embeds"].shape[1], 3, device=device, dtype=dtype)
    image_ids = pipe._prepare_latent_image_ids(batch, rows // 2, columns // 2, device, dtype)
    embedded = None
    if transformer.config.guidance_embeds:
        embedded = torch.full([batch], guidance, device=device, dtype=torch.float32)
    packed = transformer(hidden_states=denoiser.to_pipeline(sample).to(dtype),
                         timestep=timesteps.to(dtype) / 1000, guidance=embedded, txt_ids=text_ids, img_ids=image_ids,
                         **arguments)[0]  # fmt: skip
    scale = denoiser.scale
    return pipe._unpack_latents(packed, rows * scale, columns * scale, scale).float()


def invert(clean: torch.Tensor, sigmas: torch.Tensor, timesteps: torch.Tensor, predict, refine: int) -> torch.Tensor:
    """Return the noise that Euler sampling on ``sigmas`` (ending at 0) turns into ``clean``;
    ``predict(x, timestep)`` is the velocity; each step is refined ``refine`` times (Anderson-accelerated)."""
    x = clean.double()
    for index in reversed(range(len(timesteps))):
        step = sigmas[index + 1] - sigmas[index]  # negative: sampling goes down to sigma 0
        end = x
        mixing = AndersonMixing(ANDERSON_DEPTH)
        x = mixing(end, end - step * predict(end, timesteps[index]).double())
        for _ in range(refine):
            x = mixing(x, end - step * predict(x, timesteps[index]).double())
    return x.float()
