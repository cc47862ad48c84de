"""Image keyframes: a keyframe is a prompt or an image. No torch, so the CLI checks input in a blink.

A prompt keyframe stays a plain string in ``MorphConfig.prompts``; an image keyframe is a
`Keyframe` with an ``image`` (a path, or a PIL image in the Python API) and an optional
``caption`` (the text it is inverted under and that in-between frames blend from). On the command
line `parse_keyframe` tells them apart:

* ``image:PATH`` is always an image and ``prompt:TEXT`` always a prompt;
* otherwise an existing file whose name ends in an image suffix is an image, and any other text a
  prompt, except that text ending in an image suffix that names no file is an error (a typo in a
  file name should not silently become a prompt).

`fit_image` places an image in the render frame: inside it, aspect ratio kept, centred, the rest
transparent (RGBA models) or white (RGB models); smaller images are enlarged by the largest
whole factor with nearest neighbour (pixel art stays crisp), larger ones reduced by area averaging.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageSequence, UnidentifiedImageError

from ..errors import PixelgifError

# Suffixes that make an argument an image path. The readable formats: PNG, JPEG, WebP, GIF (first frame).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp")
IMAGE_PREFIX, PROMPT_PREFIX = "image:", "prompt:"
IN_MEMORY = "<in-memory image>"  # what the settings file records for a PIL image given in the API


@dataclass
class Keyframe:
    """One keyframe of a morph: an ``image`` (path or PIL image) with an optional ``caption``.

    ``sha256``: the file's hash as a settings file recorded it; when given, a file that changed
    since is an error (so ``--from`` never silently makes other frames). Filled in when the file is read. A keyframe made with only
    ``prompt`` is a prompt keyframe (`MorphConfig` stores it as the string).
    """

    image: Any = None  # str | os.PathLike | PIL.Image.Image | None
    caption: str | None = None
    prompt: str | None = None
    sha256: str | None = None
    _loaded: Image.Image | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if (self.image is None) == (self.prompt is None):
            raise ValueError("a keyframe is either a prompt or an image: give exactly one of them")
        if self.prompt is not None:
            if not isinstance(self.prompt, str) or not self.prompt.strip():
                raise ValueError("a prompt keyframe needs a non-empty prompt")
            return
        if self.caption is not None and not isinstance(self.caption, str):
            raise ValueError(f"an image keyframe's caption must be text, got {self.caption!r}")
        self.caption = (self.caption or "").strip() or None
        if isinstance(self.image, Image.Image):
            self._loaded = check_image(self.image, "the image keyframe")
        elif isinstance(self.image, (str, os.PathLike)):
            self.image = str(Path(self.image).expanduser().resolve())
            self._loaded, self.sha256 = _read(Path(self.image), self.sha256)
        else:
            raise ValueError(
                f"an image keyframe's image must be a path or a PIL image, got {type(self.image).__name__}"
            )

    @property
    def title(self) -> str:
        """Return what to call this keyframe for people: its prompt, caption, or image file stem."""
        if self.prompt is not None:
            return self.prompt
        if self.caption:
            return self.caption
        return Path(self.image).stem if isinstance(self.image, (str, os.PathLike)) else "image"

    @property
    def is_image(self) -> bool:
        """Return True for an image keyframe."""
        return self.image is not None

    @property
    def loaded(self) -> Image.Image:
        """Return the image as read: RGBA, full size."""
        assert self._loaded is not None
        return self._loaded

    @property
    def label(self) -> str:
        """Return a short name for messages: the file name or "image"."""
        return Path(self.image).name if isinstance(self.image, str) else "image"

    def to_dict(self) -> dict:
        """Return what a settings file records: the absolute path, its hash, the caption."""
        if self.prompt is not None:
            return {"prompt": self.prompt}
        path = self.image if isinstance(self.image, str) else IN_MEMORY
        digest = self.sha256 if path != IN_MEMORY else image_sha256(self.loaded)
        return {"image": path, "caption": self.caption, "sha256": digest}

    @classmethod
    def from_dict(cls, data: dict) -> Keyframe:
        """Return a keyframe from `to_dict` output (a settings file); unknown keys are an error."""
        unknown = sorted(set(data) - {"image", "caption", "prompt", "sha256"})
        if unknown:
            raise ValueError(f"unknown keyframe setting(s): {', '.join(unknown)}")
        if data.get("image") == IN_MEMORY:
            raise PixelgifError(
                "an image keyframe of this settings file was an in-memory image; give it as a file instead"
            )
        return cls(**data)


def as_keyframe(value) -> str | Keyframe:
    """Return a prompt string or an image `Keyframe` for one entry of ``MorphConfig.prompts``."""
    if isinstance(value, dict):
        value = Keyframe.from_dict(value)
    if isinstance(value, Image.Image):
        value = Keyframe(image=value)
    if isinstance(value, Keyframe):
        return value.prompt if value.prompt is not None else value
    return value


def parse_keyframe(text: str, caption: str | None = None) -> str | Keyframe:
    """Return what a command-line KEYFRAME means: a prompt string or an image `Keyframe`."""
    if text.startswith(PROMPT_PREFIX):
        return text[len(PROMPT_PREFIX) :]
    if text.startswith(IMAGE_PREFIX):
        path = Path(text[len(IMAGE_PREFIX) :]).expanduser()
        if not path.is_file():
            raise PixelgifError(f"image keyframe not found: {str(path)!r}")
        return Keyframe(image=path, caption=caption)
    path = Path(text).expanduser()
    if path.suffix.lower() in IMAGE_SUFFIXES:
        if path.is_file():
            return Keyframe(image=path, caption=caption)
        if path.is_dir():
            raise PixelgifError(f"keyframe {text!r} names a folder, not an image file")
        raise PixelgifError(
            f"keyframe {text!r} was read as an image file, but there is no such file; "
            f"write prompt:{text} to use it as a prompt"
        )
    return text


def looks_like_image(text: str) -> bool:
    """Return True when a command-line KEYFRAME is taken as an image (see `parse_keyframe`)."""
    if text.startswith(PROMPT_PREFIX):
        return False
    return text.startswith(IMAGE_PREFIX) or Path(text).suffix.lower() in IMAGE_SUFFIXES


def read_keyframe_image(path: str | os.PathLike, sha256: str | None = None) -> Image.Image:
    """Return the image at ``path`` as RGBA (a GIF's or WebP's first frame); PixelgifError for bad input."""
    return _read(Path(path), sha256)[0]


def _read(path: Path, sha256: str | None = None) -> tuple[Image.Image, str]:
    """Return (the image at ``path`` as RGBA, the sha256 of the bytes read)."""
    name = str(path)
    if not path.exists():
        raise PixelgifError(f"image keyframe not found: {name!r}")
    if not path.is_file():
        raise PixelgifError(f"image keyframe {name!r} is not a file")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if sha256 is not None and digest != sha256:
        raise PixelgifError(
            f"image keyframe {name!r} has changed since the settings file was written (its sha256 differs); "
            "give the keyframes on the command line to use it as it is now"
        )
    try:
        with Image.open(io.BytesIO(data)) as image:
            first = next(iter(ImageSequence.Iterator(image)), None)
            if first is None:
                raise PixelgifError(f"image keyframe {name!r} has no frames")
            first.load()
            has_alpha = first.mode in ("RGBA", "LA", "PA") or "transparency" in first.info
            rgba = first.convert("RGBA") if has_alpha else first.convert("RGB").convert("RGBA")
    except UnidentifiedImageError:
        if data.startswith((b"\x89PNG", b"GIF8", b"\xff\xd8")) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
            raise PixelgifError(
                f"cannot read image keyframe {name!r}: it is empty (no frames or no pixels) or damaged"
            ) from None
        raise PixelgifError(f"cannot read image keyframe {name!r}: not an image (use PNG, JPEG, WebP or GIF)") from None
    except Image.DecompressionBombError:
        raise PixelgifError(
            f"image keyframe {name!r} has too many pixels (a decompression bomb?); use a smaller picture"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise PixelgifError(f"cannot read image keyframe {name!r}: damaged or unsupported image ({exc})") from None
    return check_image(rgba, f"image keyframe {name!r}"), digest


def check_image(image: Image.Image, what: str) -> Image.Image:
    """Return ``image`` as RGBA after checking that it has pixels and that some of them show."""
    if image.width == 0 or image.height == 0:
        raise PixelgifError(f"{what} is empty ({image.width}x{image.height} pixels)")
    rgba = image.convert("RGBA")
    if not np.asarray(rgba)[..., 3].any():
        raise PixelgifError(f"{what} is fully transparent: there is nothing to morph from")
    return rgba


def image_sha256(image: Image.Image) -> str:
    """Return the hex sha256 of an image's size and RGBA pixels."""
    rgba = image.convert("RGBA")
    return hashlib.sha256(f"{rgba.width}x{rgba.height}".encode() + rgba.tobytes()).hexdigest()


def fit_image(image: Image.Image, width: int, height: int, rgba: bool = True) -> Image.Image:
    """Return ``image`` fitted into a ``width`` x ``height`` frame (see the module doc).

    ``rgba``: keep transparency (RGBA result), else composite it on white (RGB result).
    """
    image = image.convert("RGBA")
    w, h = image.size
    scale = min(width / w, height / h)
    if scale >= 1:
        factor = int(scale)
        size = (w * factor, h * factor)
        resized = image.resize(size, Image.Resampling.NEAREST) if factor > 1 else image
    else:
        size = (max(1, min(width, round(w * scale))), max(1, min(height, round(h * scale))))
        resized = _area_resize(image, size)
    canvas = Image.new("RGBA", (width, height), (255, 255, 255, 0))
    canvas.paste(resized, ((width - size[0]) // 2, (height - size[1]) // 2))
    if rgba:
        return canvas
    white = Image.new("RGBA", canvas.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, canvas).convert("RGB")


def _area_resize(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Return ``image`` reduced by area averaging with premultiplied alpha (no dark fringes)."""
    array = np.asarray(image, dtype=np.float64) / 255.0
    alpha = array[..., 3:]
    premultiplied = np.concatenate([array[..., :3] * alpha, alpha], axis=-1)
    channels = [
        np.asarray(
            Image.fromarray(premultiplied[..., c].astype(np.float32), mode="F").resize(size, Image.Resampling.BOX)
        )
        for c in range(4)
    ]
    out = np.stack(channels, axis=-1)
    a = out[..., 3:]
    rgb = np.where(a > 1e-6, out[..., :3] / np.maximum(a, 1e-6), 1.0)
    result = np.concatenate([rgb, a], axis=-1)
    return Image.fromarray(np.round(np.clip(result, 0, 1) * 255).astype(np.uint8), mode="RGBA")


def keyframe_label(keyframe: str | Keyframe) -> str:
    """Return what to call a keyframe of `MorphConfig.prompts` for people (file names, galleries)."""
    return keyframe if isinstance(keyframe, str) else keyframe.title
