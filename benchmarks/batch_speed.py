"""Jobs per minute: N small bundled-model morphs as one ``pixelgif batch`` vs N ``pixelgif morph`` commands.

Every side is a real command in a fresh process (cold start included), with the same settings, and
all must write the same bytes (checked). The batch saves N-1 Python starts, imports and model loads;
by default it makes jobs side by side in worker processes (``--workers auto``), also timed with
``--workers 1`` (one job at a time).

    python benchmarks/batch_speed.py [--jobs 20] [--frames 4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from as_installed import compile_sources

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SUBJECTS = ["a red dragon", "a blue whale", "a green frog", "a yellow star", "a pink heart", "a grey castle",
            "a brown bear", "an orange cat", "a purple gem", "a white ghost"]  # fmt: skip


def jobs(count: int) -> list[dict]:
    """Return ``count`` jobs: prompt pairs from `SUBJECTS`, each with its own seed and output."""
    pairs = [(a, b) for a in SUBJECTS for b in SUBJECTS if a != b]
    return [{"prompts": list(pairs[i * 7 % len(pairs)]), "seed": i, "output": f"job{i:02d}.gif"} for i in range(count)]


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--frames", type=int, default=4, help="frames per transition of every job")
    parser.add_argument("--repeats", type=int, default=1,
                        help="measure this many times, each a ratio of its own (the machine's speed drifts)")  # fmt: skip
    args = parser.parse_args()
    compile_sources(Path(importlib.util.find_spec("pixelgif").origin).parent)
    flags = ["--frames", str(args.frames), "-q"]
    work = jobs(args.jobs)
    cpu = platform.processor() or platform.machine()
    print(f"{args.jobs} bundled-model jobs ({args.frames} frames per transition), {os.cpu_count()} CPUs ({cpu}):")
    print(f"  {'':22} {'seconds':>8} {'jobs/min':>9}")
    ratios = []
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="pixelgif-batch-bench-") as tmp:
            tmp = Path(tmp)
            (tmp / "jobs.jsonl").write_text("".join(json.dumps(job) + "\n" for job in work))
            (tmp / "single").mkdir()
            separate = 0.0
            for job in work:
                out = str(tmp / "single" / job["output"])
                separate += timed([sys.executable, "-m", "pixelgif", "morph", *job["prompts"], "--seed",
                                   str(job["seed"]), *flags, "-o", out])  # fmt: skip
            batches = {}
            for workers in ("auto", "1"):
                batches[workers] = timed([sys.executable, "-m", "pixelgif", "batch", str(tmp / "jobs.jsonl"), "-o",
                                          str(tmp / f"batch{workers}"), "--workers", workers, *flags])  # fmt: skip
            same = all(
                (tmp / "single" / j["output"]).read_bytes() == (tmp / f"batch{w}" / j["output"]).read_bytes()
                for j in work
                for w in batches
            )
        if args.repeats > 1:
            print(f"run {repeat + 1} of {args.repeats}:")
        print(f"  {'separate pixelgif morph':22} {separate:8.1f} {args.jobs * 60 / separate:9.1f}")
        for workers, label in (("1", "batch --workers 1"), ("auto", "batch (workers: auto)")):
            print(f"  {label:22} {batches[workers]:8.1f} {args.jobs * 60 / batches[workers]:9.1f}")
        print(
            f"  batch is {separate / batches['auto']:.1f}x the jobs per minute ({separate / batches['1']:.1f}x one job "
            f"at a time); same bytes: {'yes' if same else 'NO'}"
        )
        ratios.append(separate / batches["auto"])
    if args.repeats > 1:
        listed = ", ".join(f"{r:.2f}x" for r in ratios)
        print(f"batch against separate commands: median {statistics.median(ratios):.2f}x ({listed})")


if __name__ == "__main__":
    main()
