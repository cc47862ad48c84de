"""GIF output: our own container and LZW writer (``writer``, ``palette``, ``lzw``), optionally gifsicle;
``helper`` runs the writer in a second process that starts loading numba early."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from ...errors import PixelgifError
from ..frames import FrameSet, scale_frames, to_indexed
from ..target import Target
from ..video import stderr_line
from .writer import encode_gif

if TYPE_CHECKING:
    from ..config import EncodeConfig

__all__ = ["encode_gif", "run_gifsicle", "write_gif"]


def write_gif(frameset: FrameSet, target: Target, config: EncodeConfig) -> None:
    """Write ``frameset`` as a GIF to ``target`` (then through gifsicle when ``config.gifsicle``)."""
    indexed = scale_frames(to_indexed(frameset), config.scale)
    assert indexed.palette is not None  # to_indexed always gives a palette
    from . import helper

    args = (indexed.arrays, indexed.palette, indexed.durations)
    options: dict[str, Any] = dict(loop=config.loop, transparent=indexed.transparent, optimize=config.optimize,
                                   compact=not config.keep_palette_order)  # fmt: skip
    started = helper.take()  # a process started early that has numba loaded (`helper.start`)
    data = started.encode(*args, **options) if started is not None else None
    if started is not None:
        started.close()
    if data is None:
        data = encode_gif(*args, **options)
    tmp = target.files[0]
    tmp.write_bytes(data)
    if config.gifsicle and len(indexed.arrays) > 1:
        run_gifsicle(tmp)


def run_gifsicle(path: Path) -> bool:
    """Re-optimise the GIF at ``path`` with ``gifsicle -O3``; return True if it was replaced.

    The result is kept only if it is smaller and every frame decodes to the same pixels and
    delays: gifsicle renumbers the palette, and it disagrees with browsers about clearing
    frames of transparent animations whose first frame has no transparent pixel.
    """
    exe = shutil.which("gifsicle")
    if exe is None:
        raise PixelgifError("gifsicle=True needs the gifsicle program on PATH (apt/brew install gifsicle)")
    out = path.with_name(path.name + ".gifsicle")
    try:
        subprocess.run([exe, "-O3", "--no-warnings", str(path), "-o", str(out)], check=True, capture_output=True)
        if out.stat().st_size >= path.stat().st_size or _decoded(out) != _decoded(path):
            return False
        os.replace(out, path)
        return True
    except (OSError, subprocess.CalledProcessError) as exc:
        raise PixelgifError(f"gifsicle failed: {stderr_line(exc)}") from exc
    finally:
        out.unlink(missing_ok=True)


def _decoded(path: Path) -> list[tuple[bytes, int]]:
    """Return each frame of an animation as (RGBA bytes, duration), transparent pixels zeroed."""
    frames = []
    with Image.open(path) as image:
        for i in range(getattr(image, "n_frames", 1)):
            image.seek(i)
            rgba = np.array(image.convert("RGBA"))
            rgba[rgba[..., 3] == 0] = 0
            frames.append((rgba.tobytes(), image.info.get("duration", 0)))
    return frames
