"""How closely library keyframes come back from their inverted noise, and at how many UNet calls.

Every default morph with the bundled model starts from library drawings, inverted under the
prompt (`pixelgif.morph.images.ImageKeyframes.invert_images`); the in-betweens grow from that
noise, so a keyframe that does not come back from it drifts from its neighbours. For the 24
prompts of `morph_quality.py` (seed sets ``--seeds``: other drawings of the same things), this
inverts each pair's drawings, renders them again from the noise, and prints the mean absolute
error (RGBA on the [-1, 1] scale; 0.04 is about 5 levels of 255) and the UNet calls per pair, for
this checkout and a baseline commit (checked out in a temporary git worktree), side by side.

    python benchmarks/inversion_round_trip.py [--baseline main] [--seeds 0,1,2] [--steps 6]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]


def measure(seeds: list[int], steps: int | None) -> dict:
    """Return the round-trip errors of every library keyframe and the UNet calls per pair (this process's pixelgif)."""
    import numpy as np
    import torch
    from morph_quality import PAIRS

    from pixelgif.morph.engine import FrameInputs, MorphConfig
    from pixelgif.run import load_engine

    engine = load_engine(progress=False)
    calls = 0

    def count() -> None:
        nonlocal calls
        calls += 1

    errors = []
    for seed in seeds:
        for number, pair in enumerate(PAIRS):
            engine.__dict__.pop("_inversions", None)  # nothing remembered: every pair inverts its drawings
            keys = engine.prepare_keyframes(MorphConfig(prompts=list(pair), seed=seed * 100 + number + 1, steps=steps),
                                            on_step=count)  # fmt: skip
            drawn = sorted(keys.images)
            frames = engine.render([FrameInputs(keys.latents[i], keys.conditionings[i]) for i in drawn], keys.config)
            targets = engine.encode_images([keys.images[i] for i in drawn])
            for frame, target in zip(frames, targets, strict=True):
                again = torch.from_numpy(np.asarray(frame, dtype=np.float32) / 127.5 - 1).permute(2, 0, 1)
                errors.append(float((again - target).abs().mean()))
    return {"errors": errors, "calls_per_pair": calls / (len(seeds) * len(PAIRS))}


def run_version(tree: Path, seeds: str, steps: int | None) -> dict:
    env = {**os.environ, "PYTHONPATH": f"{tree / 'src'}{os.pathsep}{ROOT / 'benchmarks'}"}
    command = [sys.executable, str(Path(__file__).resolve()), "--measure", "--seeds", seeds]
    if steps:
        command += ["--steps", str(steps)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="main", help="git commit or branch to compare with (default: main)")
    parser.add_argument("--seeds", default="0,1,2", help="seed sets, each a different drawing of the same things")
    parser.add_argument("--steps", type=int, help="sampling steps (default: the model's)")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure([int(s) for s in args.seeds.split(",")], args.steps)))
        return
    import numpy as np

    with tempfile.TemporaryDirectory(prefix="pixelgif-inversion-bench-") as tmp:
        old_tree = Path(tmp) / "baseline"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(old_tree), args.baseline],
                       check=True)  # fmt: skip
        try:
            results = {
                "old": run_version(old_tree, args.seeds, args.steps),
                "new": run_version(ROOT, args.seeds, args.steps),
            }
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old_tree)], check=False)
    print(f"library keyframes' round trip, seed sets {args.seeds}, steps {args.steps or 'default'}; "
          f"old = {args.baseline}, new = this checkout")  # fmt: skip
    print(f"{'':5} {'keyframes':>9} {'calls/pair':>10} {'mean':>7} {'median':>7} {'p90':>7} {'max':>7}")
    for name, result in results.items():
        e = np.array(result["errors"])
        print(f"{name:5} {len(e):9d} {result['calls_per_pair']:10.1f} {e.mean():7.4f} {np.median(e):7.4f} "
              f"{np.quantile(e, 0.9):7.4f} {e.max():7.4f}")  # fmt: skip
    old, new = (np.array(results[k]["errors"]) for k in ("old", "new"))
    print(
        f"new/old: calls {results['new']['calls_per_pair'] / results['old']['calls_per_pair']:.2f}x, "
        f"mean error {new.mean() / old.mean():.2f}x, max error {new.max() / old.max():.2f}x"
    )


if __name__ == "__main__":
    main()
