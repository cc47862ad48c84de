"""What a batch has done, on disk, so that running it again does only what is left.

A job is done when its done record (``OUTDIR/.pixelgif-batch/NAME.json``) holds the job's key
and every file of the job exists. The output and its settings file are written atomically first
and the record last, so a run killed at any moment leaves either a finished job or one that is
redone; the only debris is temporary files (``.NAME.xxxxxxxx.part...``), which
`clean_leftovers` removes before the next run starts. One record per job: processes never write
the same file. Failures are recorded the same way (``NAME.failed.json``), for the progress bar
of the main process and for review; a later success removes them.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..outputs import atomic_output
from .jobs import GALLERY, STATE_DIR, Job

# A temporary file or folder of pixelgif.outputs: "." + owner + "." + mkstemp's 8 characters + ".part"/".old"...
TEMP_NAME = re.compile(r"\.(?P<owner>.+)\.[a-z0-9_]{8}\.(?:part.*|old|probe)")


def state_dir(outdir: Path) -> Path:
    return Path(outdir) / STATE_DIR


def record_path(outdir: Path, job: Job, failed: bool = False) -> Path:
    """Return the done (or failure) record of ``job``."""
    return state_dir(outdir) / (quote(job.name, safe="") + (".failed.json" if failed else ".json"))


def read_record(path: Path) -> dict[str, Any] | None:
    """Return the record at ``path``, or None if there is none (or it cannot be read)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def is_done(outdir: Path, job: Job) -> bool:
    """Return True if ``job`` was finished by an earlier run with the same settings."""
    record = read_record(record_path(outdir, job))
    return record is not None and record.get("key") == job.key and all(p.exists() for p in job.paths())


def record_done(outdir: Path, job: Job, frames: int, seconds: float, process: int = 0) -> None:
    """Record ``job`` as done (after its files are written) by ``process``, clearing any failure record."""
    _write(record_path(outdir, job), {"line": job.line, "output": job.name, "key": job.key, "frames": frames,
                                      "seconds": round(seconds, 2), "process": process})  # fmt: skip
    with contextlib.suppress(FileNotFoundError):
        record_path(outdir, job, failed=True).unlink()


def record_failed(outdir: Path, job: Job, reason: str) -> None:
    """Record that ``job`` failed and why."""
    _write(record_path(outdir, job, failed=True), {"line": job.line, "output": job.name, "key": job.key,
                                                   "reason": reason})  # fmt: skip


def clean_leftovers(outdir: Path, jobs: list[Job]) -> int:
    """Remove the temporary files that a killed run left next to the jobs' files; return how many.

    Only temporary files of the jobs' own outputs (and of the gallery and the records) are
    touched: nothing else in the folder is ours to delete.
    """
    owners: dict[Path, set[str]] = {Path(outdir): {GALLERY}, state_dir(outdir): set()}
    for job in jobs:
        for path in job.paths():
            owners.setdefault(path.parent, set()).add(path.name)
        for path in (record_path(outdir, job), record_path(outdir, job, failed=True)):
            owners[path.parent].add(path.name)
    removed = 0
    for folder, names in owners.items():
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            match = TEMP_NAME.fullmatch(entry.name)
            if match is None or match["owner"] not in names:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()
            removed += 1
    return removed


def _write(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(record) + "\n", encoding="utf-8")
