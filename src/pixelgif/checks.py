"""Value checks shared by every stage's config: one wording for every "must be" message.

Each returns the checked value (normalised: numpy integers become ``int``) or raises ``ValueError``
naming the setting, what it accepts and what it got, so the CLI and the web UI can show it as is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def is_whole(value: Any) -> bool:
    """Return True for an int or numpy integer (not a bool, which Python counts as an int)."""
    return not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, np.integer))


def _range(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f" from {low} to {high}"
    if low is not None:
        return f" of at least {low}"
    return f" of at most {high}" if high is not None else ""


def check_int(what: str, value: Any, low: int | None = None, high: int | None = None, hint: str = "") -> int:
    """Return ``value`` as an int if it is a whole number in [low, high] (either bound optional)."""
    if not is_whole(value) or (low is not None and value < low) or (high is not None and value > high):
        extra = f" ({hint})" if hint else ""
        raise ValueError(f"{what} must be a whole number{_range(low, high)}{extra}, got {value!r}")
    return int(value)


def check_number(what: str, value: Any, low: float | None = None, high: float | None = None, hint: str = "") -> float:
    """Return ``value`` as a float if it is a finite number in [low, high] (either bound optional)."""
    number = not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, float, np.integer, np.floating))
    if (
        not number
        or not math.isfinite(value)
        or (low is not None and value < low)
        or (high is not None and value > high)
    ):
        extra = f" ({hint})" if hint else ""
        raise ValueError(f"{what} must be a number{_range(low, high)}{extra}, got {value!r}")
    return float(value)


def check_bool(what: str, value: Any) -> bool:
    """Return ``value`` if it is True or False."""
    if not isinstance(value, bool):
        raise ValueError(f"{what} must be true or false, got {value!r}")
    return value


def check_choice(what: str, value: Any, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; choose one of: {', '.join(choices)}")
    return value
