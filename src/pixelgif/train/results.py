"""What every training recipe writes and returns: the run file and checkpoint folder names, the
check that an output folder can take a run, and ``TrainResult``. No torch here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PixelgifError

RUN_FILE = "training.json"  # marks an output folder as a run's: --resume looks for it
CHECKPOINTS = "checkpoints"  # the output's folder of step-N checkpoints


@dataclass
class TrainResult:
    """What a training run made: its output folder, its step count and this run's losses."""

    output: Path
    steps: int
    resumed_from: int = 0
    losses: list[float] = field(default_factory=list)
    validation: list[Path] = field(default_factory=list)
    seconds: float = 0.0


def check_output(config, what: str) -> None:
    """Raise PixelgifError unless ``config.output`` can take this run: new or empty, or resumable with ``resume``.

    ``what`` names the run's main output in messages ("the LoRA", "the model").
    """
    out = config.output
    parent = out.parent if str(out.parent) else Path(".")
    if out.exists() and not out.is_dir():
        raise PixelgifError(f"output {str(out)!r} is a file; give a folder for {what}, checkpoints and "
                            "validation images")  # fmt: skip
    if not out.exists() and not parent.is_dir():
        raise PixelgifError(f"cannot write {str(out)!r}: folder {str(parent)!r} does not exist")
    nearest = out if out.exists() else parent
    if not os.access(nearest, os.W_OK):
        raise PixelgifError(f"cannot write {str(out)!r}: folder {str(nearest)!r} is not writable")
    holds_run = (out / RUN_FILE).is_file()
    if config.resume:
        from .checkpoints import latest_checkpoint  # torch: only when there is something to resume

        if latest_checkpoint(out / CHECKPOINTS) is None:
            raise PixelgifError(f"nothing to resume: {str(out)!r} holds no checkpoint (train without --resume first)")
    elif holds_run:
        raise PixelgifError(f"output folder {str(out)!r} holds another training run; give --resume to continue it, "
                            "or another --output")  # fmt: skip
    elif out.is_dir() and any(out.iterdir()):
        raise PixelgifError(f"output folder {str(out)!r} is not empty; give a new or empty folder")
