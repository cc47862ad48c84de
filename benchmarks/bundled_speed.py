"""How fast is a default morph from the bundled model on this machine? Target: a 16-frame GIF in 10 s.

Prints the wall time of the real command (cold start: Python, imports, model load, everything)
for three prompt pairs against the 10 s target, the split by stage (load, text, denoise,
pixelate, encode) from the Python API, the denoise stage with the batch split across CPU
threads vs one batch on all threads and with the UNet in bfloat16 vs float32 (side by side,
alternating), and the effect of --batch-size.

    python benchmarks/bundled_speed.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

PROMPTS = ["a red dragon", "a blue whale"]
OTHER_PAIRS = [["a red apple", "a green tree"], ["a yellow star", "a pink heart"]]
FRAMES = 15  # two prompts: 15 + 1 = 16 frames
TARGET_SECONDS = 10.0


def cli_wall_time(out: Path, prompts: list[str] = PROMPTS) -> float:
    """Return seconds for one cold `pixelgif morph` run (a fresh Python process)."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pixelgif", "morph", *prompts, "--frames", str(FRAMES), "-q", "-o", str(out)],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def stage_split(out: Path, batch_size: int | None = None, shards: bool = True, dtype: str = "auto") -> dict[str, float]:
    """Return seconds per stage for one morph through the Python API."""
    from pixelgif.encode import EncodeConfig, write_animation
    from pixelgif.models.bundled import cpu_shards
    from pixelgif.morph.config import MorphConfig
    from pixelgif.run import load_engine

    start = time.perf_counter()
    engine = load_engine(progress=False, dtype=dtype)
    load = time.perf_counter() - start
    options = {"batch_size": batch_size} if batch_size else {}
    default_shards, cpu_shards.MAX_SHARDS = cpu_shards.MAX_SHARDS, cpu_shards.MAX_SHARDS if shards else 1
    try:
        result = engine(MorphConfig(prompts=PROMPTS, frames=FRAMES, **options))
    finally:
        cpu_shards.MAX_SHARDS = default_shards
    start = time.perf_counter()
    write_animation(result.pixel_frames, out, EncodeConfig(scale=4), keyframes=result.keyframe_indices)
    encode = time.perf_counter() - start
    t = result.timings
    return {"load": load, "text": t["encode"], "denoise": t["render"], "pixelate": t["pixelate"], "encode": encode}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    import torch

    from pixelgif.models.loading import resolve_dtype

    auto = str(resolve_dtype(torch.device("cpu"), "auto", sprite_model=True)).removeprefix("torch.")
    print(f"the bundled model's UNet runs in {auto} here by default (--dtype auto)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "morph.gif"
        walls = [cli_wall_time(out) for _ in range(args.repeats)]
        best = min(walls)
        print(
            f"pixelgif morph (16 frames, defaults, cold start): best {best:.2f} s of {args.repeats}, "
            f"target {TARGET_SECONDS:.0f} s -> {best / TARGET_SECONDS:.2f}x of the budget"
        )
        for prompts in OTHER_PAIRS:
            other = min(cli_wall_time(out, prompts) for _ in range(args.repeats))
            print(f"  {' -> '.join(prompts)}: best {other:.2f} s ({other / TARGET_SECONDS:.2f}x of the budget)")
        split = stage_split(out)
        print("split (API, seconds): " + ", ".join(f"{k} {v:.2f}" for k, v in split.items()))
        sliced, whole = [], []
        for _ in range(args.repeats):  # alternating, so that other load on the machine hits both alike
            sliced.append(stage_split(out)["denoise"])
            whole.append(stage_split(out, shards=False)["denoise"])
        print(
            f"denoise, batch split across CPU threads: {min(sliced):.2f} s; one batch on all threads: "
            f"{min(whole):.2f} s -> {min(whole) / min(sliced):.2f}x faster split"
        )
        half, full = [], []
        for _ in range(args.repeats):
            half.append(stage_split(out, dtype="bfloat16")["denoise"])
            full.append(stage_split(out, dtype="float32")["denoise"])
        print(
            f"denoise, UNet in bfloat16: {min(half):.2f} s; float32: {min(full):.2f} s -> "
            f"{min(full) / min(half):.2f}x faster in bfloat16 (auto picks it on CPUs with bf16 hardware)"
        )
        for batch in (1, 4, 8, 16):
            denoise = min(stage_split(out, batch)["denoise"] for _ in range(2))
            print(f"batch size {batch:>2}: denoise {denoise:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
