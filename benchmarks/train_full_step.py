"""Seconds per optimizer step of `pixelgif train --full` on this machine, bf16 autocast vs float32.

Trains the bundled architecture (from the shipped weights) on 8 generated sprites; the settings
alternate (A B A B ...) so that other load on the machine hits both alike.

    OMP_NUM_THREADS=1 python benchmarks/train_full_step.py --batch-size 32 --rounds 2
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch
from PIL import Image

from pixelgif.train.full import FullTrainConfig, check_inputs
from pixelgif.train.full.trainer import FullTrainer


def write_sprites(folder: Path, count: int = 8) -> Path:
    """Write ``count`` random 16x16 RGBA sprites with captions; return ``folder``."""
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (16, 16, 4), dtype=np.uint8), "RGBA").save(folder / f"s{i}.png")
        (folder / f"s{i}.txt").write_text(f"sprite {i}")
    return folder


def seconds_per_step(data: Path, out: Path, batch_size: int, precision: str, steps: int) -> float:
    """Return the mean seconds of ``steps`` optimizer steps after 3 warm-up steps."""
    config = FullTrainConfig(data=data, output=out, batch_size=batch_size, mixed_precision=precision, steps=steps + 3)
    trainer = FullTrainer(check_inputs(config), config, progress=False)
    for _ in range(3):
        trainer.train_step()
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    with tempfile.TemporaryDirectory() as tmp:
        data = write_sprites(Path(tmp))
        times: dict[str, list[float]] = {"bf16": [], "no": []}
        for _ in range(args.rounds):
            for precision in times:
                times[precision].append(
                    seconds_per_step(data, Path(tmp) / "out", args.batch_size, precision, args.steps)
                )
    for precision, values in times.items():
        print(
            f"batch {args.batch_size} mixed precision {precision:4}: {min(values):.3f} s/step (best of {args.rounds}; "
            f"all {', '.join(f'{v:.3f}' for v in values)})"
        )
    print(f"bf16 / float32: {min(times['bf16']) / min(times['no']):.2f}")


if __name__ == "__main__":
    main()
