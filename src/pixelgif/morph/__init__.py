"""Morph stage: keyframe prompts -> interpolated frames -> pixel art, over any diffusers pipeline.

    from pixelgif.morph import MorphConfig
    from pixelgif.run import load_engine, morph
    result = morph(["a red dragon", "a blue whale"], frames=8)

The engine drives a `Backend` (``backend.py``: the pipeline, its defaults and abilities) that
`pixelgif.models` builds; nothing here imports ``pixelgif.models``.

``config`` (settings, scheduler names), ``keyframes`` (image keyframes), ``schedule`` (where frames sit), ``spacing`` and ``quality``
need no torch; ``engine`` (the pipeline) and ``interpolate`` (slerp) load torch, so the names
from them are imported on first use and ``from pixelgif.morph.config import MorphConfig`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import SCHEDULERS, MorphConfig
from .keyframes import Keyframe

if TYPE_CHECKING:
    from .backend import Backend, LibraryMatch
    from .engine import FrameInputs, MorphPipeline, MorphResult

_FROM_ENGINE = ("FrameInputs", "MorphPipeline", "MorphResult")
_FROM_BACKEND = ("Backend", "LibraryMatch")
__all__ = ["SCHEDULERS", "Backend", "FrameInputs", "Keyframe", "LibraryMatch", "MorphConfig", "MorphPipeline",
           "MorphResult"]  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _FROM_ENGINE:
        from . import engine

        return getattr(engine, name)
    if name in _FROM_BACKEND:
        from . import backend

        return getattr(backend, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
