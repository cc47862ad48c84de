"""How smooth is a morph? Distances between consecutive frames and what they add up to.

The default distance is the mean OKLab colour difference per pixel between two frames, measured
on the final pixel-art frames (what the viewer sees; transparent pixels count as the white page
behind them). From the distances of a sequence come:

* **smoothness** = 1 - Gini(distances): 1 when every step changes the picture equally, near 0
  when one step carries all the change (a jump);
* **max/mean**: the largest step over the average one (1 is perfectly even);
* **mean**: the average step.

Per segment (keyframe to keyframe) and overall. numpy only; LPIPS (``metric="lpips"``) and the
plot (matplotlib) are optional and imported only when asked for.

    from pixelgif.quality import measure_morph
    print("\\n".join(measure_morph(result).summary_lines()))
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import PixelgifError
from ..pixelate.color import linear_to_oklab, srgb8_to_linear

METRICS = ("oklab", "lpips")
WHITE = (255, 255, 255)
REPORT_HINT = 'the --report plot needs matplotlib: pip install "pixelgif[report]"'
LPIPS_HINT = (
    'the lpips metric needs the lpips package and its AlexNet weights cached locally: pip install "pixelgif[lpips]"'
)


# -- distances -------------------------------------------------------------------------------------
def oklab_frames(frames: Sequence, background: tuple[int, int, int] = WHITE) -> np.ndarray:
    """Return the frames as one (N, H, W, 3) float32 OKLab array, transparency composited on ``background``.

    Frames are PIL images (any mode, palette transparency included) or HxWx3 / HxWx4 uint8 arrays.
    """
    arrays = [_rgba(frame) for frame in frames]
    if not arrays:
        return np.zeros((0, 0, 0, 3), np.float32)
    if len({a.shape[:2] for a in arrays}) > 1:
        raise ValueError("all frames must have the same size to be compared")
    if len({a.shape[-1] for a in arrays}) > 1:  # some with alpha, some without: all opaque ones get alpha 255
        arrays = [
            a if a.shape[-1] == 4 else np.concatenate([a, np.full((*a.shape[:2], 1), 255, np.uint8)], -1)
            for a in arrays
        ]
    stacked = np.stack(arrays)
    linear = srgb8_to_linear(stacked[..., :3])
    if stacked.shape[-1] == 4:
        alpha = stacked[..., 3:].astype(np.float32) / 255.0
        back = srgb8_to_linear(np.asarray(background, np.uint8))
        linear = linear * alpha + back * (1.0 - alpha)
    return linear_to_oklab(linear)


def _rgba(frame) -> np.ndarray:
    if isinstance(frame, Image.Image):
        has_alpha = frame.mode in ("RGBA", "LA", "PA") or "transparency" in frame.info
        return np.asarray(frame.convert("RGBA" if has_alpha else "RGB"))
    array = np.asarray(frame)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[-1] not in (3, 4):
        raise ValueError(f"frames must be PIL images or HxWx3/HxWx4 uint8 arrays, got {array.dtype} {array.shape}")
    return array


def oklab_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Return the mean per-pixel OKLab distance (deltaE) between two OKLab arrays of the same shape."""
    return float(np.sqrt(((a - b) ** 2).sum(-1)).mean())


def frame_distances(frames: Sequence, metric: str = "oklab", loop: bool = False) -> np.ndarray:
    """Return the distance between each frame and the next (and last-to-first when ``loop``)."""
    frames = list(frames)
    if loop and len(frames) > 1:
        frames = frames + frames[:1]
    if metric == "oklab":
        lab = oklab_frames(frames)
        return np.array([oklab_distance(lab[i], lab[i + 1]) for i in range(len(lab) - 1)], dtype=np.float64)
    if metric == "lpips":
        return _lpips_distances(frames)
    raise ValueError(f"unknown metric {metric!r}; choose one of: {', '.join(METRICS)}")


def _lpips_distances(frames: list) -> np.ndarray:
    """Return LPIPS (AlexNet) distances between consecutive frames; clear error when unavailable."""
    try:
        import lpips
        import torch
    except ImportError:
        raise PixelgifError(LPIPS_HINT) from None
    try:
        model = lpips.LPIPS(net="alex", verbose=False)
    except Exception as exc:
        raise PixelgifError(f"{LPIPS_HINT} ({type(exc).__name__}: {exc})") from None
    rgb = np.stack([np.asarray(Image.fromarray(_rgba(f)).convert("RGB")) for f in frames]).astype(np.float32)
    tensor = torch.from_numpy(rgb / 127.5 - 1.0).permute(0, 3, 1, 2)
    with torch.no_grad():
        values = model(tensor[:-1], tensor[1:])
    return values.reshape(-1).double().numpy()


# -- statistics of a sequence of distances ---------------------------------------------------------
def gini(values: Sequence[float] | np.ndarray) -> float:
    """Return the Gini coefficient of non-negative ``values``: 0 all equal, (n-1)/n one non-zero; 0 when all are 0."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    if x.size == 0 or x.sum() <= 0:
        return 0.0
    if x[0] < 0:
        raise ValueError("Gini needs non-negative values")
    ranks = np.arange(1, x.size + 1)
    return float((2.0 * (ranks * x).sum()) / (x.size * x.sum()) - (x.size + 1) / x.size)


def smoothness(distances: Sequence[float] | np.ndarray) -> float:
    """Return 1 - Gini(distances): 1 for equal steps (or no change at all), 1/n for one jump among n steps."""
    return 1.0 - gini(distances)


def max_mean_ratio(distances: Sequence[float] | np.ndarray) -> float:
    """Return the largest step over the mean step (1 when all are equal or all are 0)."""
    x = np.asarray(distances, dtype=np.float64)
    if x.size == 0 or x.mean() <= 0:
        return 1.0
    return float(x.max() / x.mean())


@dataclass(frozen=True)
class StepStats:
    """Statistics of one sequence of consecutive-frame distances."""

    distances: np.ndarray
    smoothness: float
    max_mean: float
    mean: float

    @classmethod
    def of(cls, distances: Sequence[float] | np.ndarray) -> StepStats:
        """Return the statistics of ``distances``."""
        x = np.asarray(distances, dtype=np.float64)
        return cls(x, smoothness(x), max_mean_ratio(x), float(x.mean()) if x.size else 0.0)

    def to_dict(self) -> dict:
        """Return the numbers as a JSON-ready dict (distances rounded)."""
        return {"smoothness": round(self.smoothness, 4), "max_mean": round(self.max_mean, 3),
                "mean": round(self.mean, 5), "distances": [round(float(d), 5) for d in self.distances]}  # fmt: skip


@dataclass(frozen=True)
class MorphQuality:
    """Smoothness of a morph: overall and per segment (keyframe to keyframe)."""

    overall: StepStats
    segments: list[StepStats]
    keyframe_steps: list[int]  # index of the first step of each segment
    metric: str = "oklab"

    def to_dict(self) -> dict:
        """Return a JSON-ready dict of all the numbers."""
        return {"metric": self.metric, "overall": self.overall.to_dict(),
                "segments": [s.to_dict() for s in self.segments]}  # fmt: skip

    def summary_lines(self, renders: int | None = None, linear_renders: int | None = None) -> list[str]:
        """Return the report as short lines of text (optionally with the render count)."""
        o = self.overall
        lines = [f"smoothness {o.smoothness:.3f} (1 = even steps), max/mean step {o.max_mean:.2f}, "
                 f"mean step {o.mean:.4f} ({self.metric} distance, {len(o.distances)} steps)"]  # fmt: skip
        if len(self.segments) > 1:
            for number, s in enumerate(self.segments, 1):
                lines.append(
                    f"  segment {number}: smoothness {s.smoothness:.3f}, max/mean {s.max_mean:.2f}, mean {s.mean:.4f}"
                )
        if renders is not None:
            extra = (
                f" ({renders / linear_renders:.2f}x the {linear_renders} of linear spacing)" if linear_renders else ""
            )
            lines.append(f"rendered {renders} frames{extra}")
        return lines


def segment_bounds(num_steps: int, keyframes: Sequence[int]) -> list[tuple[int, int]]:
    """Return (first step, end step) of each segment: steps between consecutive keyframes, the last to the end."""
    starts = sorted({k for k in keyframes if 0 <= k < num_steps}) or [0]
    if starts[0] != 0:
        starts = [0, *starts]
    ends = [*starts[1:], num_steps]
    return list(zip(starts, ends, strict=True))


def measure_frames(
    frames: Sequence, keyframes: Sequence[int] = (0,), loop: bool = False, metric: str = "oklab"
) -> MorphQuality:
    """Return the `MorphQuality` of ``frames`` whose keyframes are at indices ``keyframes``."""
    distances = frame_distances(frames, metric, loop)
    bounds = segment_bounds(len(distances), keyframes)
    return MorphQuality(
        overall=StepStats.of(distances),
        segments=[StepStats.of(distances[a:b]) for a, b in bounds],
        keyframe_steps=[a for a, _ in bounds],
        metric=metric,
    )


def measure_morph(result, metric: str = "oklab") -> MorphQuality:
    """Return the `MorphQuality` of a `MorphResult`, measured on its pixel-art frames."""
    return measure_frames(result.pixel_frames, result.keyframe_indices, result.config.loop, metric)


# -- plot ------------------------------------------------------------------------------------------
def report_path(output: str | os.PathLike) -> Path:
    """Return where the plot of ``output`` goes: ``out.gif`` -> ``out.report.png``."""
    output = Path(output)
    return output.with_name(f"{output.stem}.report.png")


def plot_quality(quality: MorphQuality, path: str | os.PathLike, title: str | None = None) -> Path:
    """Write a PNG plot of the distance of every step (keyframes marked) to ``path`` atomically; return it."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        raise PixelgifError(REPORT_HINT) from None
    from ..outputs import atomic_output

    o = quality.overall
    steps = np.arange(len(o.distances))
    figure, axes = plt.subplots(figsize=(8, 3.2), dpi=100)
    try:
        axes.bar(steps + 0.5, o.distances, width=0.85, color="#4c72b0", label="step distance")
        axes.axhline(o.mean, color="#dd8452", linestyle="--", linewidth=1, label=f"mean {o.mean:.4f}")
        for index, start in enumerate(quality.keyframe_steps):
            axes.axvline(start, color="#888888", linewidth=0.8, label="keyframe" if index == 0 else None)
        axes.set_xlabel("frame")
        axes.set_ylabel(f"distance to next frame ({quality.metric})")
        axes.set_xlim(0, max(1, len(o.distances)))
        axes.set_title(title or f"smoothness {o.smoothness:.3f}, max/mean {o.max_mean:.2f}")
        axes.legend(loc="upper right", fontsize=8)
        figure.tight_layout()
        with atomic_output(path) as tmp:
            figure.savefig(tmp, format="png")
    finally:
        plt.close(figure)
    return Path(path)
