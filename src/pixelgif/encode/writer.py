"""``write_animation``: frames -> one output of any format in ``FORMATS``, written atomically.

It takes PIL images, either mode "P" sharing one palette (the pixelate stage's output: written
losslessly, indices and palette exact) or RGB/RGBA. Timing (duration, hold on keyframes,
boomerang) and the nearest-neighbour ``scale`` are applied here, once, for every format;
spritesheets and PNG folders keep the frames as given (their data says "ping-pong" instead of
repeating frames).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from ..outputs import atomic_folder, atomic_outputs, check_folder_output, check_writable
from .config import MAX_SIDE, EncodeConfig
from .formats import FORMATS
from .frames import FrameSet, load_frames, merge_repeats
from .spritesheet import is_frame_file
from .target import Target


def output_paths(path: str | os.PathLike, fmt: str) -> list[Path]:
    """Return what a writer of ``fmt`` creates at ``path``: the file, the sheet and its data, or the folder."""
    return FORMATS[fmt].paths(path)


def check_output(path: str | os.PathLike, config: EncodeConfig) -> str:
    """Return the format of ``path`` after checking it can be written (PixelgifError if not)."""
    fmt = FORMATS[config.resolve_format(path)]
    if fmt.folder:
        check_folder_output(path, is_frame_file)
    else:
        for target in fmt.paths(path):
            check_writable(target)
    if fmt.requires is not None:
        fmt.requires()  # fail before any work when a tool it needs is missing
    return fmt.name


def write_animation(
    frames: Sequence[Image.Image | np.ndarray],
    path: str | os.PathLike,
    config: EncodeConfig | None = None,
    keyframes: Iterable[int] = (),
) -> Path:
    """Write ``frames`` to ``path`` atomically and return the path.

    ``keyframes`` are indices into ``frames`` that get ``config.hold`` extra milliseconds (and
    name the spritesheet's frame tags). The transparent index of "P" frames is read from
    ``frames[0].info["transparency"]``. One frame (or frames that are all the same, with
    ``optimize``) makes a still image. A spritesheet also writes ``path`` with suffix .json.
    """
    config = config or EncodeConfig()
    fmt = FORMATS[check_output(path, config)]
    keyframes = list(keyframes)
    frameset = load_frames(frames)
    frameset.durations = config.durations(len(frameset.arrays), keyframes)
    height, width = frameset.arrays[0].shape[:2]
    if max(height, width) * config.scale > MAX_SIDE:
        raise ValueError(f"{width}x{height} frames at scale {config.scale} exceed {MAX_SIDE} pixels")
    if fmt.play_order:
        frameset = _timeline(frameset, config)
    if fmt.folder:
        with atomic_folder(path, is_frame_file) as folder:
            fmt.write(frameset, Target(Path(path), [folder], keyframes), config)
    else:
        with atomic_outputs(fmt.paths(path)) as temps:
            fmt.write(frameset, Target(Path(path), temps, keyframes), config)
    return Path(path)


def _timeline(frameset: FrameSet, config: EncodeConfig) -> FrameSet:
    """Return the frames in play order (boomerang), with repeats merged when optimizing."""
    count = len(frameset.arrays)
    order = list(range(count))
    if config.boomerang and count > 2:
        order += list(range(count - 2, 0, -1))
    frameset = dataclasses.replace(
        frameset,
        arrays=[frameset.arrays[i] for i in order],
        durations=[frameset.durations[i] for i in order],
    )
    return merge_repeats(frameset) if config.optimize else frameset
