"""``njit`` from numba, or a stand-in that leaves functions as plain Python when numba is missing.

``HAVE_NUMBA`` tells callers whether the compiled kernels are real, so they can pick numpy paths instead.
"""

from __future__ import annotations

from typing import Any

njit: Any  # numba's decorator, or the stand-in below
try:
    from numba import njit

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - numba is a dependency; this keeps the package importable
    HAVE_NUMBA = False

    def _plain(*args, **kwargs):
        return args[0] if args and callable(args[0]) else (lambda function: function)

    njit = _plain


__all__ = ["HAVE_NUMBA", "njit"]
