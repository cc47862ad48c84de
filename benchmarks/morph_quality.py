"""Do the in-betweens stay vivid, and do they change evenly? Measured on everyday prompt pairs.

For 12 everyday prompt pairs (none from issue 22 or the docs' own examples), one default morph each
with the bundled model (``--frames 9``: 10 frames with both keyframes), measured on the final pixel-art
frames, composited on white:

- **mid ratio**: the smaller of two ratios, middle third of the frames over the two keyframes' mean:
  mean OKLab chroma of the opaque pixels (colour), and std of OKLab lightness over the frame
  (contrast). 1: the in-betweens are as vivid as the keyframes; a pale blob or a cross-fade is 0.4-0.6.
- **max/median**: the largest step between neighbouring frames over the median step (colour pops).
- **smoothness**: 1 - Gini of the steps (`pixelgif.morph.quality`), 1 when every step is equal.
- **key dE**: keyframe fidelity, the mean OKLab distance between each keyframe as rendered (or
  drawn) and as it comes back in the pixel art's shared palette (0: its own colours).

Writes a strip sheet (one row per pair, every frame, keyframes included, scaled up) to ``--sheet``.

    python benchmarks/morph_quality.py --sheet docs/morph_quality_after.png [--set midway_guidance=0.5]
    python benchmarks/morph_quality.py --json before.json   # numbers for a later comparison
    python benchmarks/morph_quality.py --set shapes=0       # without shape-aware starts (docs/morph.md)
    python benchmarks/morph_quality.py --drawn              # pairs whose keyframes the model draws

``--set NAME=VALUE`` overrides a MorphConfig field (VALUE as JSON) to measure one lever.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
from PIL import Image, ImageDraw

from pixelgif.morph import MorphConfig
from pixelgif.morph.quality import frame_distances, oklab_distance, oklab_frames, smoothness

# Everyday pairs a new user might try; seed = the pair's number.
PAIRS = [
    ("a strawberry", "a ladybug"),
    ("a lemon", "a sun"),
    ("a penguin", "a snowman"),
    ("a pumpkin", "a basketball"),
    ("an octopus", "a jellyfish"),
    ("a cactus", "a bottle of wine"),
    ("a birthday cake", "a gift box"),
    ("a rocket", "a pencil"),
    ("a pig", "a donut"),
    ("a tomato", "a fire truck"),
    ("a house", "a tent"),
    ("a watermelon", "a turtle"),
]
# Pairs with keyframes the model draws (no library drawing names them), for ``--drawn``.
DRAWN_PAIRS = [
    ("a treasure chest", "a magic potion"),
    ("a windmill", "a hot air balloon"),
    ("a wizard hat", "a space station"),
    ("an orange goldfish", "a pirate ship"),
    ("a red dragon", "a treasure chest"),
    ("a fish tank", "a teapot"),
]


def middle_ratio(frames: list[Image.Image]) -> tuple[float, float]:
    """Return (chroma ratio, contrast ratio): the middle third of ``frames`` over the two end frames."""
    lab = oklab_frames(frames)
    alpha = np.stack([np.asarray(f.convert("RGBA"))[..., 3] for f in frames]) >= 128
    chroma = np.array(
        [np.hypot(lab[i, ..., 1], lab[i, ..., 2])[alpha[i]].mean() if alpha[i].any() else 0.0 for i in range(len(lab))]
    )
    contrast = lab[..., 0].reshape(len(lab), -1).std(axis=1)
    n = len(frames) - 1
    middle = [i for i in range(len(frames)) if n / 3 <= i <= 2 * n / 3]
    ends = [0, n]
    return (float(chroma[middle].mean() / max(chroma[ends].mean(), 1e-6)),
            float(contrast[middle].mean() / max(contrast[ends].mean(), 1e-6)))  # fmt: skip


def strip_sheet(rows: list[list[Image.Image]], labels: list[str], path: Path, scale: int = 3) -> None:
    """Write one row per morph (every frame, on light grey, scaled up) with its label above."""
    width, height = rows[0][0].size
    cell, gap, text = width * scale, 4, 14
    columns = max(len(r) for r in rows)
    sheet = Image.new("RGB", (columns * (cell + gap) + gap, len(rows) * (height * scale + gap + text) + gap), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (frames, label) in enumerate(zip(rows, labels, strict=True)):
        y = gap + r * (height * scale + gap + text)
        draw.text((gap, y), label, fill="black")
        for c, frame in enumerate(frames):
            tile = Image.new("RGBA", frame.size, (225, 225, 225, 255))
            tile.alpha_composite(frame.convert("RGBA"))
            big = tile.convert("RGB").resize((cell, height * scale), Image.NEAREST)
            sheet.paste(big, (gap + c * (cell + gap), y + text))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=9)
    parser.add_argument("--pairs", type=int, default=len(PAIRS), help="only the first N pairs")
    parser.add_argument("--only", type=lambda s: [int(x) for x in s.split(",")], help="pair numbers, e.g. 3,4,6")
    parser.add_argument("--sheet", type=Path, help="write the strip sheet PNG here")
    parser.add_argument("--json", type=Path, help="write the numbers here")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a MorphConfig field")
    parser.add_argument(
        "--pair",
        nargs=2,
        action="append",
        metavar=("A", "B"),
        help="measure this prompt pair instead of the built-in ones (may be given again)",
    )
    parser.add_argument("--drawn", action="store_true",
                        help="the six pairs with keyframes the model draws (DRAWN_PAIRS) instead of the library's")  # fmt: skip
    parser.add_argument("--model", help="a model other than the bundled one (e.g. a distilled student's folder)")
    parser.add_argument("--weights", type=Path,
                        help="the bundled model with these weights instead (a weights folder: unet/, scheduler/), "
                             "its sprite library kept: a candidate for the shipped weights")  # fmt: skip
    parser.add_argument("--seed-offset", type=int, default=0,
                        help="pair i renders with seed i + this: other noise for the same pairs, to see how "
                             "much the numbers move by chance")  # fmt: skip
    args = parser.parse_args(argv)
    overrides = {}
    for item in args.set:
        name, _, value = item.partition("=")
        overrides[name] = json.loads(value)

    from pixelgif.run import load_engine

    if args.weights:
        from pixelgif.models import bundled

        bundled.WEIGHTS_DIR = args.weights  # read when the bundled model loads: the library stays the shipped one
    engine = load_engine(args.model, progress=False)
    rows, labels, results = [], [], []
    print(
        f"{'pair':44s} {'chroma':>7s} {'contr':>7s} {'mid':>6s} {'max/med':>8s} {'smooth':>7s} {'keydE':>6s} {'s':>5s}"
    )
    pairs = [tuple(pair) for pair in args.pair] if args.pair else (DRAWN_PAIRS if args.drawn else PAIRS)[: args.pairs]
    for seed, (a, b) in enumerate(pairs):
        if args.only is not None and seed not in args.only:
            continue
        clock = time.perf_counter()
        result = engine(MorphConfig(prompts=[a, b], frames=args.frames, seed=seed + args.seed_offset, **overrides))
        seconds = time.perf_counter() - clock
        frames = result.pixel_frames
        chroma, contrast = middle_ratio(frames)
        steps = frame_distances(frames)
        key_de = float(np.mean([oklab_distance(*oklab_frames([result.frames[k], frames[k]]))
                                for k in result.keyframe_indices]))  # fmt: skip
        row = {"pair": f"{a} -> {b}", "seed": seed, "chroma": chroma, "contrast": contrast,
               "mid": min(chroma, contrast), "max_median": float(steps.max() / np.median(steps)),
               "smoothness": smoothness(steps), "key_de": key_de, "seconds": seconds,
               "library": {str(k): v.describe() for k, v in result.library.items()}}  # fmt: skip
        results.append(row)
        print(f"{row['pair']:44s} {chroma:7.3f} {contrast:7.3f} {row['mid']:6.3f} {row['max_median']:8.2f} "
              f"{row['smoothness']:7.3f} {key_de:6.4f} {seconds:5.1f}", flush=True)  # fmt: skip
        rows.append(frames)
        labels.append(f"{row['pair']} (seed {seed})  mid {row['mid']:.2f}  max/med {row['max_median']:.2f}")
    mean = {k: float(np.mean([r[k] for r in results])) for k in ("chroma", "contrast", "mid", "max_median",
                                                                  "smoothness", "key_de", "seconds")}  # fmt: skip
    worst = max(r["max_median"] for r in results)
    print(f"{'mean of ' + str(len(results)):44s} {mean['chroma']:7.3f} {mean['contrast']:7.3f} {mean['mid']:6.3f} "
          f"{mean['max_median']:8.2f} {mean['smoothness']:7.3f} {mean['key_de']:6.4f} {mean['seconds']:5.1f}   worst max/med {worst:.2f}")  # fmt: skip
    if args.sheet:
        strip_sheet(rows, labels, args.sheet)
    if args.json:
        args.json.write_text(json.dumps({"overrides": overrides, "pairs": results, "mean": mean}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
