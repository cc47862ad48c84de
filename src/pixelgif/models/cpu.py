"""What the machine offers a model, read without torch (a cold command asks before importing it)."""

from __future__ import annotations

import sys
from pathlib import Path

# A CPU batch of a small model is cut into at most this many slices, one per thread
# (`bundled.cpu_shards`): beyond it the Python side of each forward pass (it holds the GIL) dominates.
MAX_SHARDS = 4


def cpu_has_native_bf16() -> bool:
    """Return True when the CPU has bf16 arithmetic in hardware (x86 AMX-BF16 or AVX512-BF16, read from Linux's flags)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            return bool({"amx_bf16", "avx512_bf16"} & set(line.partition(":")[2].split()))
    return False


def may_have_accelerator() -> bool:
    """Return True when torch may pick a GPU for a model given no device: an NVIDIA driver is
    loaded, or this is a Mac (MPS). Only a hint: torch decides."""
    return sys.platform == "darwin" or Path("/proc/driver/nvidia/gpus").is_dir()
