"""Timing code as a user runs it: with its modules compiled to bytecode.

``pip install`` compiles a package's modules; an editable install or a checkout compiles each
module on first import and caches it, unless PYTHONDONTWRITEBYTECODE is set (as on some CI and
sandbox machines), when every process compiles again what it imports: 0.5 s of a cold
``pixelgif morph`` of 5 frames (2.3 s against 1.8 s on a 2-core Xeon, session 12). The benchmarks
compile first, so they time what an installed copy runs, wherever they run.
"""

from __future__ import annotations

import compileall
from pathlib import Path


def compile_sources(src: Path) -> None:
    """Write the bytecode of every module under ``src`` (its __pycache__), as installing would."""
    compileall.compile_dir(str(src), quiet=1)
