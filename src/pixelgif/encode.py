"""Encode stage: frames -> GIF, WebP, APNG, MP4, spritesheet + Aseprite JSON, or a folder of PNGs.

``write_animation(frames, path, config, keyframes)`` takes PIL images, either mode "P" sharing one
palette (the pixelate stage's output: written losslessly, indices and palette exact) or RGB/RGBA.
Timing (duration, hold on keyframes, boomerang) and the nearest-neighbour ``scale`` are applied
here, once, for every format; spritesheets and PNG folders keep the frames as given (their data
says "ping-pong" instead of repeating frames). No torch.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from PIL import Image

from .errors import PixelgifError
from .framesets import FrameSet, load_frames, merge_repeats, scale_frames, to_indexed, to_rgba
from .gifwriter import encode_gif
from .outputs import atomic_folder, atomic_output, atomic_outputs, check_folder_output, check_writable
from .spritesheet import frame_tags, is_frame_file, sheet_data_path, write_frames_folder, write_spritesheet
from .video import find_ffmpeg, stderr_line, write_mp4

# The output formats, each with one line saying what it is (the CLI and the web UI list these).
FORMATS = {
    "gif": "animated GIF: one shared palette (only the colours drawn), changed rectangles only, lossless (.gif)",
    "webp": "animated WebP, lossless (.webp)",
    "apng": "animated PNG, lossless, palette kept (.png or .apng)",
    "mp4": "H.264 video (yuv420p), pixels upscaled sharp, for video sites (.mp4)",
    "spritesheet": "PNG grid of the frames + Aseprite json-array data for game engines (sheet.png + sheet.json)",
    "frames": "a folder of PNG files, one per frame (a path without a suffix)",
}
SUFFIXES = {".gif": "gif", ".webp": "webp", ".png": "apng", ".apng": "apng", ".mp4": "mp4", "": "frames"}
DEFAULT_SUFFIXES = {"gif": ".gif", "webp": ".webp", "apng": ".png", "mp4": ".mp4", "spritesheet": ".png", "frames": ""}
LOSSLESS = ("gif", "webp", "apng", "spritesheet", "frames")
MIN_DURATION_MS = 10  # GIF stores hundredths of a second
MAX_DURATION_MS = 60_000
MAX_SCALE = 64
MAX_SIDE = 65_535  # GIF and APNG store sizes in 16 bits
AUTO_SCALE_MIN_SIDE = 256  # pixels: an automatic scale makes small art at least this wide


@dataclass
class EncodeConfig:
    """How frames become a file. Every default lives here; ``__post_init__`` validates."""

    duration: int | tuple[int, ...] = 100  # ms per frame: one value, or one per input frame
    hold: int = 0  # extra ms on each keyframe (indices given to write_animation)
    loop: int = 0  # how many times the animation plays; 0 = forever (GIF stores loop - 1 repeats)
    boomerang: bool = False  # play forward then backward, without repeating the two ends
    scale: int = 1  # nearest-neighbour upscale factor, so art pixels stay crisp
    format: str | None = None  # a name in FORMATS; None = from the output's suffix (none: frames)
    optimize: bool = True  # merge repeated frames; GIF: changed rectangles only
    gifsicle: bool = False  # GIF: also run `gifsicle -O3` (lossless) if it is installed
    # GIF: keep palette indices and order exactly (Aseprite imports the palette as made). Off: the
    # colour table holds only the colours drawn, reordered for shorter codes; pixels stay exact.
    keep_palette_order: bool = False

    def __post_init__(self) -> None:
        self.duration = _check_duration(self.duration)
        self.hold = _check_int("hold", self.hold, 0, MAX_DURATION_MS, "milliseconds added on keyframes")
        self.loop = _check_int("loop", self.loop, 0, 65_535, "plays; 0 means forever")
        self.scale = _check_int("scale", self.scale, 1, MAX_SCALE, "a whole upscale factor")
        for name in ("boomerang", "optimize", "gifsicle", "keep_palette_order"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.format is not None:
            fmt = str(self.format).lower().lstrip(".")
            fmt = "apng" if fmt == "png" else fmt
            if fmt not in FORMATS:
                raise ValueError(f"unknown format {self.format!r}; choose one of: {', '.join(FORMATS)}")
            self.format = fmt

    def resolve_format(self, path: str | os.PathLike) -> str:
        """Return the output format: ``format`` if set, else the one named by the suffix.

        A path without a suffix, or an existing folder, is a folder of PNG frames.
        """
        if self.format is not None:
            fmt = self.format
        elif Path(path).is_dir():
            fmt = "frames"
        else:
            suffix = Path(path).suffix.lower()
            if suffix not in SUFFIXES:
                known = ", ".join(f"{s} ({f})" for s, f in SUFFIXES.items() if s) + ", a folder (frames)"
                raise PixelgifError(
                    f"cannot tell the format of {str(path)!r} from its suffix; use one of {known}, "
                    f"or --format {'/'.join(FORMATS)}"
                )
            fmt = SUFFIXES[suffix]
        if fmt == "spritesheet" and Path(path).suffix.lower() != ".png":
            raise PixelgifError(f"a spritesheet is a .png image (its data goes next to it as .json), got {str(path)!r}")
        return fmt

    def durations(self, count: int, keyframes: Iterable[int] = ()) -> list[int]:
        """Return the milliseconds of each of ``count`` input frames, holds included."""
        if isinstance(self.duration, tuple):
            if len(self.duration) != count:
                raise ValueError(f"duration lists {len(self.duration)} values but there are {count} frames")
            durations = list(self.duration)
        else:
            durations = [self.duration] * count
        keys = set()
        for key in keyframes:
            if isinstance(key, bool) or not isinstance(key, (int, np.integer)) or not -count <= key < count:
                raise ValueError(f"keyframe index {key!r} is out of range for {count} frames")
            keys.add(int(key) % count)  # -1 and count-1 are one keyframe, held once
        for key in keys:
            durations[key] += self.hold
        return durations


def auto_scale(art_width: int, render_width: int | None = None, min_side: int = AUTO_SCALE_MIN_SIDE) -> int:
    """Return a display scale for art ``art_width`` pixels wide: back to ``render_width``, and at
    least ``min_side`` pixels wide, capped at the largest allowed scale."""
    back = round(render_width / art_width) if render_width else 1
    return max(1, min(MAX_SCALE, max(back, -(-min_side // art_width))))


def _check_int(name: str, value, low: int, high: int, what: str) -> int:
    """Return ``value`` if it is an int in [low, high]; raise ValueError saying what it means."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high} ({what}), got {value!r}")
    return int(value)


def _check_duration(value) -> int | tuple[int, ...]:
    """Return the duration as an int or a tuple of ints, each a valid frame time in ms."""
    what = f"milliseconds per frame; at least {MIN_DURATION_MS}"
    if isinstance(value, (list, tuple)):
        if not value:
            raise ValueError("duration list is empty; give one value per frame or a single number")
        return tuple(_check_int("duration", v, MIN_DURATION_MS, MAX_DURATION_MS, what) for v in value)
    return _check_int("duration", value, MIN_DURATION_MS, MAX_DURATION_MS, what)


def output_paths(path: str | os.PathLike, fmt: str) -> list[Path]:
    """Return what a writer of ``fmt`` creates at ``path``: the file, the sheet and its data, or the folder."""
    path = Path(path)
    return [path, sheet_data_path(path)] if fmt == "spritesheet" else [path]


def check_output(path: str | os.PathLike, config: EncodeConfig) -> str:
    """Return the format of ``path`` after checking it can be written (PixelgifError if not)."""
    fmt = config.resolve_format(path)
    if fmt == "frames":
        check_folder_output(path, is_frame_file)
    else:
        for target in output_paths(path, fmt):
            check_writable(target)
    if fmt == "mp4":
        find_ffmpeg()  # fail before any work when it is missing
    return fmt


def write_animation(
    frames: Sequence[Image.Image],
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
    fmt = check_output(path, config)
    keyframes = list(keyframes)
    frameset = load_frames(frames)
    frameset.durations = config.durations(len(frameset.arrays), keyframes)
    height, width = frameset.arrays[0].shape[:2]
    if max(height, width) * config.scale > MAX_SIDE:
        raise ValueError(f"{width}x{height} frames at scale {config.scale} exceed {MAX_SIDE} pixels")
    if fmt == "spritesheet":
        tags = frame_tags(len(frameset.arrays), keyframes, config.boomerang, config.loop)
        with atomic_outputs(output_paths(path, fmt)) as (image_tmp, data_tmp):
            write_spritesheet(frameset, image_tmp, data_tmp, Path(path).name, config.scale, tags)
    elif fmt == "frames":
        with atomic_folder(path, is_frame_file) as folder:
            write_frames_folder(frameset, folder, config.scale)
    else:
        frameset = _timeline(frameset, config)
        with atomic_output(path) as tmp:
            _WRITERS[fmt](frameset, tmp, config)
    return Path(path)


def _timeline(frameset: FrameSet, config: EncodeConfig) -> FrameSet:
    """Return the frames in play order (boomerang), with repeats merged when optimizing.

    Spritesheets and frame folders keep the frames as given: a sheet says "ping-pong" in its tag.
    """
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


def _write_gif(frameset: FrameSet, tmp: Path, config: EncodeConfig) -> None:
    indexed = scale_frames(to_indexed(frameset), config.scale)
    data = encode_gif(
        indexed.arrays,
        indexed.palette,
        indexed.durations,
        loop=config.loop,
        transparent=indexed.transparent,
        optimize=config.optimize,
        compact=not config.keep_palette_order,
    )
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


def _write_apng(frameset: FrameSet, tmp: Path, config: EncodeConfig) -> None:
    images, params = _pillow_frames(frameset, config, keep_palette=True)
    if len(images) > 1:
        params.update(save_all=True, append_images=images[1:], loop=config.loop, default_image=False)
        params["duration"] = frameset.durations
    images[0].save(tmp, format="PNG", **params)


def _write_webp(frameset: FrameSet, tmp: Path, config: EncodeConfig) -> None:
    images, params = _pillow_frames(frameset, config, keep_palette=False)
    params.update(lossless=True, quality=100, method=4, exact=True)
    if len(images) > 1:
        params.update(save_all=True, append_images=images[1:], loop=config.loop, duration=frameset.durations)
    images[0].save(tmp, format="WEBP", **params)


def _pillow_frames(frameset: FrameSet, config: EncodeConfig, keep_palette: bool):
    """Return scaled PIL images and save parameters (palette frames stay "P" if ``keep_palette``)."""
    if keep_palette and frameset.palette is not None:
        frameset = scale_frames(frameset, config.scale)
        palette = frameset.palette.tobytes()
        images = [_p_image(array, palette) for array in frameset.arrays]
        params = {} if frameset.transparent is None else {"transparency": frameset.transparent}
        return images, params
    rgba = scale_frames(to_rgba(frameset), config.scale)
    return [Image.fromarray(a) for a in rgba.arrays], {}


def _p_image(indices: np.ndarray, palette: bytes) -> Image.Image:
    """Return a mode "P" image of ``indices`` with ``palette`` (RGB bytes)."""
    image = Image.frombytes("P", (indices.shape[1], indices.shape[0]), np.ascontiguousarray(indices).tobytes())
    image.putpalette(palette)
    return image


def _write_mp4(frameset: FrameSet, tmp: Path, config: EncodeConfig) -> None:
    write_mp4(frameset, tmp, config.scale)


_WRITERS = {"gif": _write_gif, "webp": _write_webp, "apng": _write_apng, "mp4": _write_mp4}
