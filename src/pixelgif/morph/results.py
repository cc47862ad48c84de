"""What the morph engine's stages pass on: per-frame inputs, prepared keyframes, the finished morph."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image

from .backend import LibraryMatch
from .config import MorphConfig
from .images import ImageBlend
from .schedule import FramePlan
from .shapes import ShapeTransport

if TYPE_CHECKING:
    from ..pixelate import PixelateConfig

# One keyframe's text conditioning: `__call__` keyword -> tensor of batch 1, as the backend's
# `encode_prompt` returns them (prompt_embeds, negative_prompt_embeds, and for SDXL the pooled ones).
Conditioning = dict[str, torch.Tensor]


@dataclass
class FrameInputs:
    """What one frame is rendered from: its initial noise and its text conditioning, each batch size 1."""

    latents: torch.Tensor
    conditioning: Conditioning

    @property
    def prompt_embeds(self) -> torch.Tensor:
        """Return the frame's text embeddings (every backend has them)."""
        return self.conditioning["prompt_embeds"]


@dataclass
class PreparedKeyframes:
    """Steps 1-3 of a morph: the resolved settings and each keyframe's text conditioning and noise."""

    config: MorphConfig
    pixelate: object  # pixelgif.pixelate.PixelateConfig
    conditionings: list[Conditioning]
    latents: list[torch.Tensor]
    images: dict[int, Image.Image] = field(default_factory=dict)  # image keyframes, fitted to the render size
    blend: ImageBlend | None = None  # how frames next to image keyframes are made (None: no image keyframes)
    library: dict[int, LibraryMatch] = field(
        default_factory=dict
    )  # keyframes drawn from the sprite library: their match
    recoloured: dict[int, str] = field(default_factory=dict)  # keyframe renders turned to their prompt's colour
    # Prompt keyframes the model drew (in ``images``, so that they morph like drawings): pixelated as
    # frames, not kept exactly as a user's drawing is.
    rendered: frozenset[int] = frozenset()
    # Segments joining two drawings: their pixels' transport (`MorphPipeline.drawing_transports`).
    transports: dict[tuple[int, int], ShapeTransport | None] = field(default_factory=dict)


@dataclass
class MorphResult:
    """A finished morph: raw and pixel-art frames, the shared palette, timings and resolved settings."""

    frames: list[Image.Image]
    pixel_frames: list[Image.Image]
    palette: np.ndarray
    transparent_index: int | None
    keyframe_indices: list[int]
    config: MorphConfig
    pixelate_config: PixelateConfig
    timings: dict[str, float] = field(default_factory=dict)
    plan: list[FramePlan] = field(default_factory=list)  # per frame: its keyframes and t
    renders: int = 0  # frames rendered in total (even spacing renders some it does not keep)
    library: dict[int, LibraryMatch] = field(default_factory=dict)  # keyframe number -> its sprite-library match
    recoloured: dict[int, str] = field(default_factory=dict)  # keyframe number -> the colour its render was turned to

    @property
    def frame_t(self) -> list[float]:
        """Return each frame's position between its two keyframes (0 = its start keyframe)."""
        return [frame.t for frame in self.plan]

    @property
    def linear_renders(self) -> int:
        """Return how many frames linear spacing renders for the same frame count."""
        return len(self.frames)

    @property
    def size(self) -> tuple[int, int]:
        """Return (width, height) of the pixel-art frames."""
        return self.pixel_frames[0].size

    @property
    def settings(self) -> dict:
        """Return the resolved morph and pixelate settings as JSON-ready dicts."""
        from ..settings import config_to_dict

        return {"morph": self.config.to_dict(), "pixelate": config_to_dict(self.pixelate_config)}
