"""ONNX Runtime sessions of the bundled UNet's graph, built from float32 weights; no torch here.

A session takes a quarter of a second to build (the graph's optimisation passes). A cold
``pixelgif morph`` starts building it (`prebuild`) from the weights file in a thread before it
imports torch: ONNX Runtime builds it in C++ without the GIL, on the other core, while the import
holds this one. `onnx_unet.OnnxUNet` then takes it (`take_prebuilt`) when it was built from the
very same float32 weights, bit for bit, with the thread count it asks for, and builds its own
otherwise. (``python benchmarks/bundled_speed.py`` shows the time saved.)
"""

from __future__ import annotations

import importlib.util
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..cpu import MAX_SHARDS

GRAPH_FILE = Path(__file__).resolve().with_name("sprite_unet.onnx")
GRAPH_INFO = GRAPH_FILE.with_suffix(".json")  # {"architecture": {...}, "initializers": {name: shape}}
INPUTS = ("sample", "timestep", "encoder_hidden_states")  # the graph's inputs, as `OnnxUNet` feeds them
ENV_SWITCH = "PIXELGIF_ONNX"  # "0": always the eager torch module
WEIGHTS_FILE = "diffusion_pytorch_model.safetensors"


def onnx_enabled() -> bool:
    """Return True when onnxruntime is installed and ``PIXELGIF_ONNX`` does not turn it off."""
    return os.environ.get(ENV_SWITCH, "1") != "0" and importlib.util.find_spec("onnxruntime") is not None


def session_threads(cpu_threads: int) -> int:
    """Return the intra-op threads of a session on a CPU with ``cpu_threads`` threads: what each of
    the most slices a batch is cut into (`MAX_SHARDS`) gets. One session serves every call, so a
    process builds one: a single sample then runs on fewer threads than the CPU has (on 2 cores,
    1: 20 ms a call instead of 15, against 240 ms to build a second session)."""
    return max(1, cpu_threads // MAX_SHARDS)


def build_session(arrays: dict[str, np.ndarray], threads: int) -> Any:
    """Return an ONNX Runtime session of the graph reading its weights from ``arrays`` (float32, by
    initializer name; they must outlive the session: ONNX Runtime does not copy them)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Sleep rather than spin between operators, like torch under OMP_WAIT_POLICY=PASSIVE:
    # spinning threads slow down everything else on a small shared CPU.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    names = list(arrays)
    options.add_external_initializers(names, [ort.OrtValue.ortvalue_from_numpy(arrays[name]) for name in names])
    return ort.InferenceSession(GRAPH_FILE.read_bytes(), options, providers=["CPUExecutionProvider"])


@dataclass
class _Prebuild:
    threads: int
    thread: threading.Thread | None = None
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    session: Any = None


_prebuilt: _Prebuild | None = None
_lock = threading.Lock()


def prebuild(unet_folder: Path, cpu_threads: int | None = None) -> bool:
    """Start building, in a daemon thread, the session for the UNet weights in ``unet_folder``
    (a diffusers UNet folder) with `session_threads` threads; return True when it started.
    ``cpu_threads``: the CPU threads torch will use (default ``OMP_NUM_THREADS``, else all)."""
    global _prebuilt
    weights = Path(unet_folder) / WEIGHTS_FILE
    if not onnx_enabled() or not weights.is_file():
        return False
    if cpu_threads is None:
        cpu_threads = int(os.environ.get("OMP_NUM_THREADS", "0") or 0) or os.cpu_count() or 1
    job = _Prebuild(session_threads(cpu_threads))

    def build() -> None:
        try:
            from safetensors.numpy import load_file

            job.arrays = {name: np.ascontiguousarray(a, np.float32) for name, a in load_file(str(weights)).items()}
            job.session = build_session(job.arrays, job.threads)
        except Exception:  # an unusable prebuild is simply not taken: OnnxUNet builds its own
            job.session = None

    job.thread = threading.Thread(target=build, name="pixelgif-onnx-prebuild", daemon=True)
    with _lock:
        _prebuilt = job
    job.thread.start()
    return True


def finish_prebuild() -> None:
    """Wait until a `prebuild` in progress is done (a process forks only then: a child would copy
    the build half done, without the thread that finishes it)."""
    with _lock:
        job = _prebuilt
    if job is not None and job.thread is not None:
        job.thread.join()


def take_prebuilt(arrays: dict[str, np.ndarray], threads: int) -> tuple[Any, dict[str, np.ndarray]] | None:
    """Return (session, the arrays it reads) from `prebuild` when it was built with ``threads`` threads
    from weights equal to ``arrays``, bit for bit (waiting for it to finish); else None. A prebuilt
    session is handed out once."""
    global _prebuilt
    with _lock:
        job, _prebuilt = _prebuilt, None
    if job is None or job.threads != threads:
        return None
    assert job.thread is not None
    job.thread.join()
    if job.session is None or job.arrays.keys() != arrays.keys():
        return None
    for name, array in arrays.items():
        theirs = job.arrays[name]
        if theirs.shape != array.shape or theirs.dtype != array.dtype or not np.array_equal(theirs, array):
            return None
    return job.session, job.arrays
