"""Describing a loaded pipeline to the morph engine: the one place that asks a pipeline what it is.

`backend_of(pipe, presets)` reads the pipeline's layout and suggestions once and returns a
`pixelgif.morph.backend.Backend`; the engine only reads that. Presets (LCM, TCD, turbo models) put
their steps, guidance and scheduler into the backend, not onto the diffusers objects.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..morph.backend import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_GUIDANCE,
    DEFAULT_STEPS,
    Backend,
    LibrarySprite,
    SpriteFinder,
)
from ..morph.denoiser import Denoiser

if TYPE_CHECKING:
    from .presets import LoraPreset, ModelPreset


def backend_of(pipe: Any, presets: Iterable[ModelPreset | LoraPreset | None] = ()) -> Backend:
    """Return the `Backend` of diffusers pipeline ``pipe`` (placed on its device already).

    ``presets``: the model's and its LoRAs' presets, in that order; a later one's steps, guidance
    or scheduler win over an earlier one's, and any of them over the pipeline's own suggestions.
    ValueError when ``pipe`` has neither a UNet nor a transformer.
    """
    steps, guidance = _pipeline_defaults(pipe)
    scheduler = None
    for preset in presets:
        if preset is None:
            continue
        steps = preset.steps if preset.steps is not None else steps
        guidance = preset.guidance_scale if preset.guidance_scale is not None else guidance
        scheduler = preset.scheduler if preset.scheduler is not None else scheduler
    denoiser = denoiser_of(pipe)
    pixel_space = getattr(pipe, "vae", None) is None
    flow_matching = getattr(pipe, "unet", None) is None
    return Backend(
        pipe=pipe,
        family=family_of(pipe),
        denoiser=denoiser,
        device=getattr(pipe, "_execution_device", None) or pipe.device,
        steps=steps,
        guidance_scale=float(guidance),
        batch_size=getattr(pipe, "default_batch_size", DEFAULT_BATCH_SIZE),
        scheduler=scheduler,
        pixel_space=pixel_space,
        rgba=pixel_space and denoiser.channels == 4,
        flow_matching=flow_matching,
        # The bundled model was trained on binary alpha with white behind see-through pixels.
        binary_alpha=pixel_space,
        predict_noise=getattr(pipe, "predict_noise", None),
        library_sprite=_sprite_finder(pipe),
        colour_words=getattr(pipe, "colour_words", None),
        batch_invariant=getattr(pipe, "batch_invariant", None),
    )


def _pipeline_defaults(pipe: Any) -> tuple[int, float]:
    """Return the (steps, guidance) ``pipe`` suggests: its ``default_*`` attributes (the
    bundled model has them), else the family's ``__call__`` default guidance (7.5 for SD, 5 for
    SDXL, 7 for SD3, 3.5 for Flux), else pixelgif's fallbacks."""
    steps = getattr(pipe, "default_num_inference_steps", None) or DEFAULT_STEPS
    guidance = getattr(pipe, "default_guidance_scale", None)
    if guidance is None:
        parameter = inspect.signature(pipe.__call__).parameters.get("guidance_scale")
        own = None if parameter is None else parameter.default
        guidance = own if isinstance(own, (int, float)) else DEFAULT_GUIDANCE
    return steps, guidance


def denoiser_of(pipe: Any) -> Denoiser:
    """Return the denoiser of diffusers pipeline ``pipe``; ValueError when it has neither a UNet nor a transformer."""
    scale = int(pipe.vae_scale_factor)
    unet = getattr(pipe, "unet", None)
    if unet is not None:
        config = unet.config
        # Each UNet level halves the latent; below one cell at the bottom level it cannot run.
        smallest = scale * 2 ** (len(config.block_out_channels) - 1)
        return Denoiser(unet, config.in_channels, scale, scale, smallest, config.sample_size)
    transformer = getattr(pipe, "transformer", None)
    if transformer is None:
        raise ValueError(f"{type(pipe).__name__} has neither a UNet nor a transformer")
    config = transformer.config
    native = getattr(pipe, "default_sample_size", None) or config.get("sample_size") or 128
    pack = getattr(pipe, "_pack_latents", None)
    if pack is not None:  # Flux: in_channels counts a 2x2 patch of latent cells
        return Denoiser(transformer, config.in_channels // 4, scale, scale * 2, scale * 2, native, pack)
    patch = int(config.get("patch_size") or 1)
    return Denoiser(transformer, config.in_channels, scale, scale * patch, scale * patch, native)


def family_of(pipe: Any) -> str:
    """Return the model family of ``pipe``: "sd", "sdxl", "sd3", "flux" or "sprite" (pixel space)."""
    if getattr(pipe, "unet", None) is None:
        return "flux" if getattr(pipe, "_pack_latents", None) is not None else "sd3"
    if getattr(pipe, "vae", None) is None:
        return "sprite"
    return "sdxl" if getattr(pipe, "text_encoder_2", None) is not None else "sd"


def _sprite_finder(pipe: Any) -> SpriteFinder | None:
    """Return the pipeline's sprite-library lookup as the engine takes it, or None without one."""
    find = getattr(pipe, "library_sprite", None)
    if find is None:
        return None

    def library_sprite(prompt: str, seed: int) -> LibrarySprite | None:
        found = find(prompt, seed)
        return None if found is None else LibrarySprite(*found)

    return library_sprite
