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
    """The backend's denoising network and its latent layout."""

    module: Any  # the UNet or transformer (a torch module with a diffusers config)
    channels: int  # latent channels in the spatial layout
    scale: int  # image pixels per latent cell (the VAE's factor; 1 for a pixel-space model)
    multiple: int  # width and height must be multiples of this
    smallest: int  # ... and at least this
    native_cells: int | tuple[int, int]  # the model's own size, in latent cells
    pack: Callable[..., torch.Tensor] | None = None  # the pipeline's own packing into patch tokens (Flux)

    @classmethod
    def of(cls, pipe) -> Denoiser:
        """Return the denoiser of diffusers pipeline ``pipe``; ValueError when it has neither a UNet nor a transformer."""
        scale = int(pipe.vae_scale_factor)
        unet = getattr(pipe, "unet", None)
        if unet is not None:
            config = unet.config
            # Each UNet level halves the latent; below one cell at the bottom level it cannot run.
            smallest = scale * 2 ** (len(config.block_out_channels) - 1)
            return cls(unet, config.in_channels, scale, scale, smallest, config.sample_size)
        transformer = getattr(pipe, "transformer", None)
        if transformer is None:
            raise ValueError(f"{type(pipe).__name__} has neither a UNet nor a transformer")
        config = transformer.config
        native = getattr(pipe, "default_sample_size", None) or config.get("sample_size") or 128
        pack = getattr(pipe, "_pack_latents", None)
        if pack is not None:  # Flux: in_channels counts a 2x2 patch of latent cells
            return cls(transformer, config.in_channels // 4, scale, scale * 2, scale * 2, native, pack)
        patch = int(config.get("patch_size") or 1)
        return cls(transformer, config.in_channels, scale, scale * patch, scale * patch, native)

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
