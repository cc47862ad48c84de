"""Encode stage: frames -> GIF, WebP, APNG, MP4, spritesheet + Aseprite JSON, or a folder of PNGs.

``write_animation(frames, path, config, keyframes)`` writes one output atomically; ``EncodeConfig``
holds every setting; ``FORMATS`` is the one registry of formats (``formats.py``). No torch.
"""

from .config import AUTO_SCALE_MIN_SIDE, MAX_SCALE, EncodeConfig, auto_scale
from .formats import FORMATS, Format, lookup
from .gif import encode_gif, run_gifsicle
from .writer import check_output, output_paths, write_animation

__all__ = [
    "AUTO_SCALE_MIN_SIDE", "FORMATS", "MAX_SCALE", "EncodeConfig", "Format", "auto_scale", "check_output",
    "encode_gif", "lookup", "output_paths", "run_gifsicle", "write_animation",
]  # fmt: skip
