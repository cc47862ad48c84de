"""Making one job of a batch: `run_job` (through `pixelgif.run.run_morph`, the path of ``pixelgif
morph``, then its done record), its `Outcome`, and `EngineCache`, the model a process keeps between jobs."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import format_error
from ..run import load_engine, run_morph
from .jobs import Job
from .state import record_done, record_failed


@dataclass
class Outcome:
    """How one job went: "done" (made now), "skipped" (made by an earlier run) or "failed"."""

    line: int
    name: str
    status: str
    reason: str | None = None
    frames: int = 0
    seconds: float = 0.0


@dataclass
class EngineCache:
    """Keeps the engine of the last model, and the error of a model that failed to load."""

    device: str | None = None  # this process's device when a launcher gave each its own
    # Where engines keep their keyframe inversions for this batch's other workers (one folder per model).
    inversion_store: Path | None = None
    _key: tuple | None = None
    _engine: Any = None
    _errors: dict[tuple, Exception] = field(default_factory=dict)

    def get(self, model: dict[str, Any]):
        key = tuple(sorted(model.items()))
        if key in self._errors:
            raise self._errors[key]  # loading it again would fail again, only slower
        if key != self._key:
            self._engine, self._key = None, None  # free the old model before loading the next
            free_memory()
            options = dict(model)
            if self.device is not None and options.get("device") in (None, "auto"):
                options["device"] = self.device  # the settings file still records the model options as given
            try:
                self._engine = load_engine(**options, progress=False)
            except Exception as exc:
                self._errors[key] = exc
                raise
            if self.inversion_store is not None:
                folder = hashlib.sha256(repr(key).encode()).hexdigest()[:16]
                self._engine.inversion_store = self.inversion_store / folder
            self._key = key
        return self._engine


def run_job(job: Job, outdir: Path, engines: EngineCache, process: int = 0) -> Outcome:
    """Make one job and record it; a failure becomes the outcome's reason (Ctrl-C still stops)."""
    started = time.perf_counter()
    try:
        engine = engines.get(job.request.model)
        written = run_morph(job.request, engine, progress=False, source="batch")
        record_done(outdir, job, len(written.result.frames), written.seconds, process)
    except Exception as exc:
        reason = failure_reason(exc)
        if "out of memory" in reason:
            free_memory()
        with contextlib.suppress(OSError):
            record_failed(outdir, job, reason)
        return Outcome(job.line, job.name, "failed", reason, seconds=time.perf_counter() - started)
    return Outcome(job.line, job.name, "done", frames=len(written.result.frames), seconds=time.perf_counter() - started)


def failure_reason(exc: BaseException) -> str:
    """Return why a job failed, as one line."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "out of memory" in text.lower() and not isinstance(exc, MemoryError):
        return f"out of memory: {text} (try a smaller batch_size, width/height or fewer frames)"
    return format_error(exc)


def free_memory() -> None:
    """Return freed memory of a dropped engine (or a failed render) to the system and the GPU."""
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
