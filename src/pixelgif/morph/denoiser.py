"""What the engine needs to know about a backend's denoiser: a UNet (SD 1.x/2.x, SDXL, the bundled
model) or a transformer (SD3/3.5, Flux), its latent layout, and the sizes it can render.

Noise is always drawn in the spatial layout (batch, channels, height, width), so slerp and AdaIN
see the same kind of tensor for every family; Flux packs it into 2x2 patch tokens just before the
pipeline is called, as its own ``prepare_latents`` does with the noise it draws.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

FAMILIES = "SD 1.x, SD 2.x, SDXL, SD3/3.5, Flux and their fine-tunes"


@dataclass(frozen=True)
class Denoiser:
    """The backend's denoising network and its latent layout (`pixelgif.models.backend.denoiser_of` reads it)."""

    module: Any  # the UNet or transformer (a torch module with a diffusers config)
    channels: int  # latent channels in the spatial layout
    scale: int  # image pixels per latent cell (the VAE's factor; 1 for a pixel-space model)
    multiple: int  # width and height must be multiples of this
    smallest: int  # ... and at least this
    native_cells: int | tuple[int, int]  # the model's own size, in latent cells
    pack: Callable[..., torch.Tensor] | None = None  # the pipeline's own packing into patch tokens (Flux)

    @property
    def dtype(self) -> torch.dtype:
        """Return the dtype the denoiser computes in."""
        return self.module.dtype

    def default_size(self) -> tuple[int, int]:
        """Return the model's native (height, width) in pixels."""
        size = self.native_cells
        height, width = (size, size) if isinstance(size, int) else tuple(size)
        return height * self.scale, width * self.scale

    def check_size(self, height: int, width: int) -> None:
        """Raise ValueError unless the denoiser can render ``height`` x ``width`` pixels."""
        if height % self.multiple or width % self.multiple:
            raise ValueError(
                f"width and height must be multiples of {self.multiple} for this model, got {width}x{height}"
            )
        if min(height, width) < self.smallest:
            raise ValueError(f"width and height must be at least {self.smallest} for this model, got {width}x{height}")

    def latent_shape(self, height: int, width: int) -> tuple[int, int, int, int]:
        """Return the (1, channels, rows, columns) shape of one frame's noise."""
        return (1, self.channels, height // self.scale, width // self.scale)

    def to_pipeline(self, latents: torch.Tensor) -> torch.Tensor:
        """Return ``latents`` (batch, channels, rows, columns) in the layout the pipeline takes."""
        return latents if self.pack is None else self.pack(latents, *latents.shape)
