"""numba, loaded only when a run needs compiled code (importing it and its CPU target costs ~0.5 s).

``HAVE_NUMBA`` tells callers whether numba is installed (found without importing it). ``njit``
compiles at once (it imports numba): for modules that are themselves imported only when needed,
such as the GIF encoder's LZW. ``lazy_njit`` leaves a function plain Python until it is first
called compiled; ``compile_for(work)`` says whether a job of ``work`` elementary steps is worth
loading numba for, so that small jobs (one small image) run as the same code in plain Python.
"""

from __future__ import annotations

import importlib.util
import sys

HAVE_NUMBA = importlib.util.find_spec("numba") is not None

# Below this many inner-loop steps, the plain version finishes before numba would have loaded
# (~0.5 s): a loop in plain Python (~10 us a step), or a numpy twin of the kernel (~10 ns a step).
MIN_COMPILED_WORK = 20_000
MIN_COMPILED_NUMPY_WORK = 5_000_000
# True or False: every job compiled, or none (tests compare the two); None: by job size.
FORCE_COMPILED: bool | None = None


def njit(*args, **kwargs):
    """numba's ``njit`` (imports numba now), or a stand-in that leaves functions plain Python."""
    if HAVE_NUMBA:
        from numba import njit as numba_njit

        return numba_njit(*args, **kwargs)
    return args[0] if args and callable(args[0]) else (lambda function: function)


def compile_for(work: int, numpy_twin: bool = False) -> bool:
    """Return True if a job of ``work`` inner-loop steps should run compiled rather than as plain
    Python (or, with ``numpy_twin``, as numpy code that gives the same results); always once numba is loaded."""
    if FORCE_COMPILED is not None:
        return FORCE_COMPILED and HAVE_NUMBA
    threshold = MIN_COMPILED_NUMPY_WORK if numpy_twin else MIN_COMPILED_WORK
    return HAVE_NUMBA and (work >= threshold or "numba" in sys.modules)


class LazyKernel:
    """A function compiled with ``njit(cache=True, nogil=True)`` on its first compiled call.

    Calling it runs the compiled version; ``py_func`` is the same function as plain Python (the
    same arithmetic, so the same results, for jobs too small to be worth loading numba).
    """

    def __init__(self, function):
        self.py_func = function
        self.__name__ = function.__name__
        self.__doc__ = function.__doc__
        self._compiled = None

    def __call__(self, *args):
        if self._compiled is None:
            self._compiled = njit(cache=True, nogil=True)(self.py_func) if HAVE_NUMBA else self.py_func
        return self._compiled(*args)

    def run(self, work: int, *args):
        """Call the compiled version if ``compile_for(work)``, else the plain Python one."""
        return self(*args) if compile_for(work) else self.py_func(*args)


def lazy_njit(function) -> LazyKernel:
    """Decorator: ``function`` compiled by numba on its first compiled call (see ``LazyKernel``)."""
    return LazyKernel(function)


__all__ = [
    "FORCE_COMPILED",
    "HAVE_NUMBA",
    "MIN_COMPILED_NUMPY_WORK",
    "MIN_COMPILED_WORK",
    "LazyKernel",
    "compile_for",
    "lazy_njit",
    "njit",
]
