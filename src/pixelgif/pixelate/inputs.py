"""Reading frames for ``pixelgif pixelate``: image files, animated GIF/WebP, or folders of frames."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageSequence, UnidentifiedImageError

from ..errors import PixelgifError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff")
_DEFAULT_DURATION_MS = 100


@dataclass
class InputFrames:
    """Frames read from the inputs (RGB or RGBA) and each frame's duration in ms, if the file had one."""

    images: list[Image.Image] = field(default_factory=list)
    durations: list[int | None] = field(default_factory=list)

    def frame_durations(self) -> tuple[int, ...]:
        """Return a duration per frame: the file's, or 100 ms where it had none (or an unusable 0)."""
        return tuple(d if d and d >= 20 else _DEFAULT_DURATION_MS for d in self.durations)


def _natural_key(path: Path) -> list:
    """Sort key that puts frame2 before frame10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def folder_images(folder: Path) -> list[Path]:
    """Return the image files of ``folder`` in natural name order; PixelgifError if there are none."""
    files = sorted(
        (p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES), key=_natural_key
    )
    if not files:
        raise PixelgifError(f"folder {str(folder)!r} has no images (PNG, JPEG, WebP or GIF)")
    return files


def read_image_frames(path: Path) -> InputFrames:
    """Return every frame of an image file (one for stills, all for animated GIF/WebP/APNG)."""
    out = InputFrames()
    try:
        with Image.open(path) as image:
            for frame in ImageSequence.Iterator(image):
                has_alpha = frame.mode in ("RGBA", "LA", "PA") or "transparency" in frame.info
                out.images.append(frame.convert("RGBA" if has_alpha else "RGB"))
                out.durations.append(frame.info.get("duration"))
    except UnidentifiedImageError:
        raise PixelgifError(f"cannot read {str(path)!r}: not an image (use PNG, JPEG, WebP or GIF)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise PixelgifError(f"cannot read {str(path)!r}: damaged or unsupported image ({exc})") from None
    return out


def read_inputs(paths: Sequence[str | Path]) -> InputFrames:
    """Return all frames of the inputs in order: files as they are, folders as sorted frames."""
    out = InputFrames()
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise PixelgifError(f"input not found: {str(path)!r}")
        files = folder_images(path) if path.is_dir() else [path]
        for file in files:
            frames = read_image_frames(file)
            out.images += frames.images
            out.durations += frames.durations
    if not out.images:
        raise PixelgifError("no input frames")
    return out
