"""The bundled sprite model's recipe: its data set (``data``), settings (``config``), training and export (``trainer``).

    python -m pixelgif.train.bundled train --data data/emoji32.npz --out runs/bundled --minutes 120
    python -m pixelgif.train.bundled export --checkpoint runs/bundled/last.pt

The flags are the fields of ``TrainConfig`` and ``ExportConfig`` (``--decay-start``, ``--init-weights``...).
Set ``OMP_WAIT_POLICY=PASSIVE`` on CPU (the command sets it if unset): without it a step here
took ~15x longer. No torch at import time.
"""

from __future__ import annotations

import argparse
import os

from ..options import add_config_flags, config_from_args
from .config import ExportConfig, TrainConfig

COMMANDS = {
    "train": (TrainConfig, "train or resume (checkpoint in --out)"),
    "export": (ExportConfig, "export EMA weights into the package"),
}


def main(argv: list[str] | None = None) -> int:
    """Run the ``train`` or ``export`` command of ``argv``, print the checkpoint or folder it wrote; return 0."""
    parser = argparse.ArgumentParser(
        prog="python -m pixelgif.train.bundled",
        description="Train the bundled sprite model, with checkpoints and resume, then export it.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, (config_class, help_text) in COMMANDS.items():
        add_config_flags(commands.add_parser(name, help=help_text), config_class)
    args = parser.parse_args(argv)
    # Here, not at import: OpenMP reads it when torch loads (just below), and an import must not
    # change the environment.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    from . import trainer

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    if args.command == "train":
        print(trainer.train(config_from_args(TrainConfig, args)))
    else:
        export = config_from_args(ExportConfig, args)
        print(trainer.export(export.checkpoint, export.to))
    return 0


__all__ = ["ExportConfig", "TrainConfig", "main"]
