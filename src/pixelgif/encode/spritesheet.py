"""Spritesheet (PNG grid + Aseprite ``json-array`` data) and folder-of-PNGs writers.

The JSON sidecar follows what Aseprite writes with ``--sheet x.png --data x.json --format
json-array --list-tags``, so importers of Aseprite sheets (Phaser's ``load.aseprite``, Godot and
Unity importers) read it as is. Frames keep the palette when they have one (an indexed PNG, "I8").
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from .. import __version__
from .frames import FrameSet, scale_frames
from .target import Target

if TYPE_CHECKING:
    from .config import EncodeConfig

MAX_TEXTURE_SIDE = 16_384  # the largest texture most GPUs and engines accept
FRAME_FILE = re.compile(r"frame_\d{4,}\.png")


def frame_file_name(index: int) -> str:
    """Return the file name of frame ``index`` in a frames folder."""
    return f"frame_{index:04d}.png"


def is_frame_file(path: Path) -> bool:
    """Return True for a file that a frames folder of ours holds (safe to replace)."""
    return bool(FRAME_FILE.fullmatch(path.name))


def sheet_columns(count: int, frame_width: int) -> int:
    """Return the number of columns of a grid of ``count`` frames.

    The grid is as square as possible while every cell holds a frame, so the frame rectangles
    cover the sheet exactly (a prime count makes one row); only when that row would be wider
    than a texture may be does the grid fall back to a square one with empty cells at the end.
    """
    exact = [c for c in range(math.isqrt(count - 1) + 1, count + 1) if count % c == 0]
    for columns in exact:
        if columns * frame_width <= MAX_TEXTURE_SIDE:
            return columns
    return max(1, min(math.ceil(math.sqrt(count)), MAX_TEXTURE_SIDE // frame_width))


def frame_tags(count: int, keyframes: Sequence[int], boomerang: bool, loop: int) -> list[dict]:
    """Return Aseprite frame tags: the whole animation, then one tag per keyframe-to-keyframe segment.

    The whole-animation tag plays ping-pong for a boomerang and carries the play count (Aseprite's
    ``repeat``) when it is not forever. A segment runs from its keyframe to the next one; the last
    segment of a looping morph runs to the last frame (it continues into frame 0).
    """
    whole = {"name": "animation", "from": 0, "to": count - 1, "direction": "pingpong" if boomerang else "forward"}
    if loop:
        whole["repeat"] = str(loop)
    tags = [whole]
    keys = sorted({int(k) % count for k in keyframes})
    if len(keys) > 1 or (keys and keys[0] != 0):
        starts = keys if keys[0] == 0 else [0, *keys]
        for number, start in enumerate(starts):
            end = starts[number + 1] if number + 1 < len(starts) else count - 1
            if end <= start:
                continue
            following = number + 1 if number + 1 < len(starts) else 0
            tags.append({"name": f"keyframe {number} to {following}", "from": start, "to": end, "direction": "forward"})
    for tag in tags:
        tag["color"] = "#000000ff"
    return tags


def build_sheet(frameset: FrameSet, scale: int) -> tuple[Image.Image, list[tuple[int, int, int, int]]]:
    """Return the sheet image (mode "P" with the palette, else RGBA/RGB) and each frame's x, y, w, h."""
    frameset = scale_frames(frameset, scale)
    height, width = frameset.arrays[0].shape[:2]
    count = len(frameset.arrays)
    columns = sheet_columns(count, width)
    rows = math.ceil(count / columns)
    first = frameset.arrays[0]
    fill = frameset.transparent if frameset.transparent is not None else 0
    sheet = np.full((rows * height, columns * width, *first.shape[2:]), fill, dtype=np.uint8)
    rects = []
    for i, array in enumerate(frameset.arrays):
        x, y = (i % columns) * width, (i // columns) * height
        sheet[y : y + height, x : x + width] = array
        rects.append((x, y, width, height))
    return to_image(sheet, frameset), rects


def to_image(array: np.ndarray, frameset: FrameSet) -> Image.Image:
    """Return ``array`` as a PIL image: "P" with the frames' palette and transparency, else RGB(A)."""
    if frameset.palette is None:
        return Image.fromarray(array)
    image = Image.frombytes("P", (array.shape[1], array.shape[0]), np.ascontiguousarray(array).tobytes())
    image.putpalette(frameset.palette.tobytes())
    if frameset.transparent is not None:
        image.info["transparency"] = frameset.transparent
    return image


def aseprite_data(
    image_name: str,
    sheet: Image.Image,
    rects: Sequence[tuple[int, int, int, int]],
    durations: Sequence[int],
    tags: list[dict],
    scale: int,
) -> dict:
    """Return the Aseprite json-array document of a sheet (frames, then meta)."""
    stem = Path(image_name).stem
    frames = []
    for i, ((x, y, w, h), duration) in enumerate(zip(rects, durations, strict=True)):
        frames.append({
            "filename": f"{stem} {i}.png",
            "frame": {"x": x, "y": y, "w": w, "h": h},
            "rotated": False,
            "trimmed": False,
            "spriteSourceSize": {"x": 0, "y": 0, "w": w, "h": h},
            "sourceSize": {"w": w, "h": h},
            "duration": int(duration),
        })  # fmt: skip
    meta = {
        "app": "pixelgif",
        "version": f"pixelgif {__version__}",
        "image": image_name,
        "format": "I8" if sheet.mode == "P" else "RGBA8888",
        "size": {"w": sheet.width, "h": sheet.height},
        "scale": str(scale),
        "frameTags": tags,
        "layers": [{"name": "Layer 1", "opacity": 255, "blendMode": "normal"}],
        "slices": [],
    }
    return {"frames": frames, "meta": meta}


def write_spritesheet(frameset: FrameSet, target: Target, config: EncodeConfig) -> None:
    """Write the sheet PNG and its Aseprite JSON (frame tags from the keyframes) to ``target``."""
    image_tmp, data_tmp = target.files
    tags = frame_tags(len(frameset.arrays), target.keyframes, config.boomerang, config.loop)
    sheet, rects = build_sheet(frameset, config.scale)
    sheet.save(image_tmp, format="PNG", optimize=True, **_png_params(sheet))
    data = aseprite_data(target.path.name, sheet, rects, frameset.durations, tags, config.scale)
    data_tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def write_frames_folder(frameset: FrameSet, target: Target, config: EncodeConfig) -> None:
    """Write every frame as ``frame_0000.png``, ``frame_0001.png``, ... into the ``target`` folder."""
    frameset = scale_frames(frameset, config.scale)
    for i, array in enumerate(frameset.arrays):
        image = to_image(array, frameset)
        image.save(target.files[0] / frame_file_name(i), format="PNG", optimize=True, **_png_params(image))


def _png_params(image: Image.Image) -> dict:
    return {"transparency": image.info["transparency"]} if "transparency" in image.info else {}
