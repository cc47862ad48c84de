"""How even are the steps of a morph? Linear vs even spacing on the bundled model, measured.

For a fixed list of prompt pairs (objects, animals, weather, faces, buildings) and fixed seeds,
morph each pair with the bundled model and default settings, once with ``spacing="linear"`` and
once with ``spacing="even"``, and measure the final pixel-art frames (`pixelgif.morph.quality`):
smoothness (1 - Gini of the consecutive-frame distances), max/mean step, and frames rendered.
Targets (issue 7): even smoothness >= 0.85 on average and clearly above linear, max/mean <= 2.0,
renders <= 1.5x linear. One command reruns it, e.g. after the bundled weights change:

    python benchmarks/smoothness.py [--same-noise] [--out benchmarks/smoothness.md]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

PAIRS = [
    ("a red apple", "a blue whale"),
    ("a snowman", "a house"),
    ("a smiling face", "a thunderstorm"),
    ("a cat", "a castle"),
    ("a green dragon", "a yellow banana"),
    ("a dog", "a rainbow"),
    ("a crying face", "a laughing face"),
    ("a red car", "a rocket"),
    ("a sun", "a cloud with rain"),
    ("a snowflake", "a fire"),
    ("an owl", "a fish"),
    ("a church", "an office building"),
    ("a pizza", "a birthday cake"),
    ("a tree", "a flower"),
    ("an angry face", "a sleeping face"),
    ("a lighthouse", "a sailboat"),
    ("a frog", "a turtle"),
    ("a tornado", "a crescent moon"),
    ("a guitar", "a trumpet"),
    ("a ghost", "a robot"),
    ("a stadium", "a tent"),
    ("a heart", "a star"),
    ("a bee", "a butterfly"),
    ("a face with sunglasses", "a skull"),
]


def run_pair(engine, prompts, seed, spacing, same_noise=False):
    """Return (smoothness, max/mean, renders, frames, seconds) of one morph."""
    from pixelgif.morph.config import MorphConfig
    from pixelgif.morph.quality import measure_morph

    start = time.perf_counter()
    result = engine(MorphConfig(prompts=list(prompts), seed=seed, spacing=spacing, same_noise=same_noise))
    seconds = time.perf_counter() - start
    quality = measure_morph(result).overall
    return quality.smoothness, quality.max_mean, result.renders, len(result.frames), seconds


def weights_digest() -> str:
    """Return the first 12 hex digits of the bundled UNet weights' sha256 (which weights were measured)."""
    import hashlib

    from pixelgif.models.bundled import WEIGHTS_DIR

    data = (WEIGHTS_DIR / "unet" / "diffusion_pytorch_model.safetensors").read_bytes()
    return hashlib.sha256(data).hexdigest()[:12]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=len(PAIRS), help="use only the first N pairs (quick look)")
    parser.add_argument("--same-noise", action="store_true", help="also run both spacings with --same-noise")
    parser.add_argument("--out", help="also write the table (markdown) to this file")
    args = parser.parse_args(argv)

    from pixelgif.run import load_engine

    engine = load_engine(progress=False)
    modes = [("linear", False), ("even", False)] + ([("linear", True), ("even", True)] if args.same_noise else [])
    names = {("linear", False): "linear", ("even", False): "even", ("linear", True): "linear+same-noise",
             ("even", True): "even+same-noise"}  # fmt: skip
    header = "| pair | " + " | ".join(f"{names[m]} smooth | {names[m]} max/mean | {names[m]} renders" for m in modes)
    header += " | even/linear time |"
    lines = [header, "|" + "---|" * (2 + 3 * len(modes))]
    print(header, flush=True)
    totals = {m: [] for m in modes}
    for index, pair in enumerate(PAIRS[: args.pairs]):
        rows = {m: run_pair(engine, pair, index, m[0], m[1]) for m in modes}
        for m in modes:
            totals[m].append(rows[m])
        time_ratio = rows[("even", False)][4] / rows[("linear", False)][4]
        cells = " | ".join(f"{r[0]:.3f} | {r[1]:.2f} | {r[2]}" for r in rows.values())
        line = f"| {pair[0]} -> {pair[1]} (seed {index}) | {cells} | {time_ratio:.2f}x |"
        lines.append(line)
        print(line, flush=True)
    mean = lambda values: sum(values) / len(values)  # noqa: E731
    cells = " | ".join(
        f"**{mean([r[0] for r in totals[m]]):.3f}** | **{mean([r[1] for r in totals[m]]):.2f}** | {mean([r[2] for r in totals[m]]):.1f}"
        for m in modes
    )
    linear_time = sum(r[4] for r in totals[("linear", False)])
    even_time = sum(r[4] for r in totals[("even", False)])
    footer = f"| **average of {len(totals[modes[0]])}** | {cells} | {even_time / linear_time:.2f}x |"
    lines.append(footer)
    print(footer)
    linear_renders = mean([r[2] for r in totals[("linear", False)]])
    even_renders = mean([r[2] for r in totals[("even", False)]])
    worst = max(r[1] for r in totals[("even", False)])
    summary = (f"even spacing renders {even_renders / linear_renders:.2f}x linear; worst even max/mean {worst:.2f}; "
               f"frames per morph {totals[modes[0]][0][3]}")  # fmt: skip
    summary += f"; bundled weights sha256 {weights_digest()}"
    print(summary)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write("\n".join([*lines, "", summary]) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
