"""MP4 writer: H.264 in yuv420p through the ffmpeg binary (the ``imageio-ffmpeg`` package ships one).

Frames are upscaled with nearest neighbour before ffmpeg sees them, so art pixels stay square and
sharp, and odd sides are padded by repeating the last row or column (yuv420p needs even sides).
Variable frame durations become a constant frame rate with frames repeated.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..errors import PixelgifError
from .frames import FrameSet, scale_frames, to_rgba
from .target import Target

if TYPE_CHECKING:
    from .config import EncodeConfig

MAX_FPS = 50
CRF = 16  # x264 quality (0 = lossless .. 51); flat pixel art stays crisp and small at this level


def write_mp4(frameset: FrameSet, target: Target, config: EncodeConfig) -> None:
    """Write ``frameset`` (transparent pixels over white) as an H.264 MP4 to ``target``."""
    exe = find_ffmpeg()
    tmp = target.files[0]
    rgb = scale_frames(to_rgba(frameset, background=(255, 255, 255)), config.scale)
    fps, repeats = constant_rate(rgb.durations)
    frames = [even_sides(a[..., :3]) for a in rgb.arrays]
    height, width = frames[0].shape[:2]
    command = [
        exe, "-hide_banner", "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(fps), "-i", "-",
        # RGB -> BT.709 video range, tagged as such, so players show the palette's colours.
        "-vf", "scale=out_color_matrix=bt709:out_range=tv",
        "-c:v", "libx264", "-preset", "slow", "-tune", "animation", "-crf", str(CRF), "-pix_fmt", "yuv420p",
        "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv",
        "-movflags", "+faststart", "-f", "mp4", str(tmp),
    ]  # fmt: skip
    stream = b"".join(np.ascontiguousarray(a).tobytes() * n for a, n in zip(frames, repeats, strict=True))
    try:
        subprocess.run(command, input=stream, check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise PixelgifError(f"ffmpeg could not write the MP4: {stderr_line(exc)}") from exc


def even_sides(rgb: np.ndarray) -> np.ndarray:
    """Return ``rgb`` with an odd height or width padded by repeating its last row or column."""
    height, width = rgb.shape[:2]
    return np.pad(rgb, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")


def find_ffmpeg() -> str:
    """Return the ffmpeg executable (the imageio-ffmpeg package's, else PATH), or raise PixelgifError."""
    try:
        import imageio_ffmpeg  # a dependency: ships a static ffmpeg with libx264

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:
        exe = shutil.which("ffmpeg")
        if exe:
            return exe
        raise PixelgifError(
            "writing .mp4 needs ffmpeg: pip install imageio-ffmpeg (or install ffmpeg on PATH); "
            "or write .gif, .webp or .png instead"
        ) from None


def constant_rate(durations: Sequence[int]) -> tuple[int, list[int]]:
    """Return a frame rate and how many times to repeat each frame to match ``durations`` (ms)."""
    step = int(np.gcd.reduce(np.asarray(durations, dtype=np.int64)))
    fps = max(1, min(MAX_FPS, round(1000 / step)))
    repeats, shown, elapsed = [], 0, 0
    for ms in durations:
        elapsed += ms
        target = int(elapsed * fps / 1000 + 0.5)
        repeats.append(max(1, target - shown))
        shown += repeats[-1]
    return fps, repeats


def stderr_line(exc: BaseException) -> str:
    """Return the last line a failed subprocess printed, or the exception text."""
    err = getattr(exc, "stderr", None)
    if isinstance(err, bytes) and err.strip():
        return err.decode(errors="replace").strip().splitlines()[-1]
    return str(exc)
