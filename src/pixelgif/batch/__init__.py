"""``pixelgif batch``: many morphs from one job file, sharing loaded models, across processes and GPUs,
resumable after a crash, with a gallery page to review them. See docs/batch.md."""

from .execute import Outcome
from .jobs import BadLine, Job, read_jobs
from .runner import BatchResult, run_batch

__all__ = ["BadLine", "BatchResult", "Job", "Outcome", "read_jobs", "run_batch"]
