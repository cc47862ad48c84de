"""`Limits`: what one `pixelgif serve` accepts (frames, resolution, upload size, queue). No heavy imports."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import PixelgifError


@dataclass
class Limits:
    """What one server accepts; ``pixelgif serve`` flags set them."""

    max_frames: int = 200  # frames of one morph
    max_resolution: int = 1024  # render width and height, in pixels
    max_upload_bytes: int = 1_000_000  # an uploaded palette file or keyframe image
    queue_size: int = 8  # jobs waiting behind the one that renders

    def __post_init__(self) -> None:
        for name in ("max_frames", "max_resolution", "max_upload_bytes", "queue_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name.replace('_', ' ')} must be a whole number of at least 1, got {value!r}")

    def check_frames(self, count: int) -> None:
        """Raise PixelgifError when a morph of ``count`` frames is over the limit."""
        if count > self.max_frames:
            raise PixelgifError(f"too many frames: this morph has {count}, the server allows {self.max_frames} "
                                "(fewer keyframes or frames per transition; pixelgif serve --max-frames)")  # fmt: skip

    def check_size(self, width: int, height: int) -> None:
        """Raise PixelgifError when a render of ``width`` x ``height`` pixels is over the limit."""
        if max(width, height) > self.max_resolution:
            raise PixelgifError(f"resolution too large: {width}x{height}, the server allows up to "
                                f"{self.max_resolution} px a side (pixelgif serve --max-resolution)")  # fmt: skip
