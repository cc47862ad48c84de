"""What a format's writer is given: the output's final path, the temporary paths to write, keyframes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .frames import FrameSet

if TYPE_CHECKING:
    from .config import EncodeConfig


@dataclass
class Target:
    """Where a writer puts one output: ``files`` are temporary paths (the file or folder, then a
    data file) that are renamed onto the output once every one is written."""

    path: Path
    files: list[Path]
    keyframes: list[int] = field(default_factory=list)


Writer = Callable[[FrameSet, Target, "EncodeConfig"], None]
