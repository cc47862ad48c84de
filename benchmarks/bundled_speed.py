"""How fast is the default morph from the bundled model here, and against an earlier version of the code?

Side by side in one run, alternating (so that other load on the machine hits both alike), for
this checkout ("new") and a baseline commit ("old", default ``main``, checked out in a temporary
git worktree):

* cold: the real command, ``pixelgif morph "a red dragon" "a blue whale" --frames 15`` in a fresh
  Python process (start to file written), and whether both versions wrote the same bytes; with
  ``--first-run`` also as on a fresh install, numba's cached kernels deleted first (they compile);
* the split of one fresh process through the Python API: import (torch and pixelgif), load (the
  model, with whatever libraries it imports on the way), render (prompts, keyframe inversion,
  denoising, pixelation), encode (the GIF); then warm: the same morph again in that process, and
  warm_new: a morph of two other prompts ("a rocket", "a pencil": new keyframes, nothing to
  reuse); with the CPU seconds of each stage (less disturbed than wall time by other processes);
* inside each warm morph: the seconds and calls of every stage on the path (`TIMED`): the prompts'
  text embeddings, the sprite-library lookup, the keyframe inversion, the UNet (its calls in the
  inversion included), the pixel transport between drawings, the pixelation, the GIF writing (a
  function a version does not have shows as "-");
* which heavy libraries each version imported.

Every figure is the best of ``--repeats``; ratios are old / new.

    python benchmarks/bundled_speed.py [--baseline main] [--repeats 2] [--first-run]
    python benchmarks/bundled_speed.py --baseline HEAD --dtypes bfloat16,float32   # one version, two dtypes
    python benchmarks/bundled_speed.py --prompts "a treasure chest" "a magic potion"  # keyframes the model draws
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from as_installed import compile_sources

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ["a red dragon", "a blue whale"]
NEW_PROMPTS = ["a rocket", "a pencil"]  # warm_new: a morph of other keyframes after those
FRAMES = 15  # two prompts: 15 + 1 = 16 frames
HEAVY = ("diffusers", "transformers", "peft", "accelerate")
# (object, attribute, label): functions timed inside the warm morphs (UNet calls include the inversion's).
TIMED = (
    ("MorphPipeline", "encode_prompts", "text embeddings"),
    ("MorphPipeline", "library_keyframes", "library lookup"),
    ("MorphPipeline", "invert_images", "keyframe inversion"),
    ("PixelSpritePipeline", "predict_noise", "UNet calls"),
    ("engine_module", "transport", "pixel transport"),
    ("MorphPipeline", "pixelate", "pixelation"),
    ("gif_package", "encode_gif", "GIF writing"),
)

# Runs in a fresh process with PYTHONPATH set to one version's src/; prints one JSON line.
PROBE = """
import json, sys, time
clock, cpu = time.perf_counter(), time.process_time()
out = {}
def lap(name):
    global clock, cpu
    now, now_cpu = time.perf_counter(), time.process_time()
    out[name], out[name + "_cpu"] = now - clock, now_cpu - cpu
    clock, cpu = now, now_cpu
import torch
from pixelgif.encode import EncodeConfig, write_animation
from pixelgif.morph.config import MorphConfig
from pixelgif.morph.engine import MorphPipeline
lap("import")
# Where the warm morphs' time goes: seconds and calls of the stages (those a version has).
import pixelgif.morph.engine as engine_module
import pixelgif.encode.gif as gif_package
from pixelgif.models.bundled.pipeline import PixelSpritePipeline
inside = {}
def timed(owner, name, label):
    original = getattr(owner, name, None)
    if original is None:
        return
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            seconds, calls = inside.get(label, (0.0, 0))
            inside[label] = (seconds + time.perf_counter() - start, calls + 1)
    setattr(owner, name, wrapper)
for owner, name, label in TIMED:
    timed(eval(owner), name, label)
clock = time.perf_counter()
if hasattr(MorphPipeline, "from_pretrained"):
    engine = MorphPipeline.from_pretrained(progress=False, **DTYPE)
else:  # later versions load through pixelgif.run
    from pixelgif.run import load_engine
    engine = load_engine(progress=False, **DTYPE)
lap("load")
config = MorphConfig(prompts=PROMPTS, frames=FRAMES)
result = engine(config)
lap("render")
write_animation(result.pixel_frames, OUT, EncodeConfig(scale=8), keyframes=result.keyframe_indices)
lap("encode")
inside.clear()
result = engine(config)
write_animation(result.pixel_frames, OUT, EncodeConfig(scale=8), keyframes=result.keyframe_indices)
lap("warm")
out["inside"] = dict(inside)
inside.clear()
# Warm with new keyframes (a studio's next prompt pair, a batch's next job): nothing remembered to reuse.
result = engine(MorphConfig(prompts=NEW_PROMPTS, frames=FRAMES))
write_animation(result.pixel_frames, OUT, EncodeConfig(scale=8), keyframes=result.keyframe_indices)
lap("warm_new")
out["inside_new"] = dict(inside)
out["timings"] = result.timings
out["heavy"] = sorted(m for m in HEAVY if m in sys.modules)
out["dtype"] = str(getattr(engine, "dtype", "?")).removeprefix("torch.")
print("PROBE " + json.dumps(out))
"""


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env.update(OMP_WAIT_POLICY="PASSIVE", HF_HUB_OFFLINE="1")
    return env


def cold_command(src: Path, out: Path, dtype: str = "auto") -> float:
    """Return the seconds of one cold `pixelgif morph` (a fresh Python process) of the code in ``src``."""
    start = time.perf_counter()
    chosen = [] if dtype == "auto" else ["--dtype", dtype]
    subprocess.run(
        [sys.executable, "-m", "pixelgif", "morph", *PROMPTS, "--frames", str(FRAMES), *chosen, "-q", "-o", str(out)],
        check=True, capture_output=True, env={**environment(), "PYTHONPATH": str(src)},
    )  # fmt: skip
    return time.perf_counter() - start


def clear_numba_cache(src: Path) -> None:
    """Delete numba's compiled kernels cached next to the sources in ``src`` (a fresh install has none)."""
    for path in [*src.rglob("*.nbi"), *src.rglob("*.nbc")]:
        path.unlink(missing_ok=True)


def probe(src: Path, out: Path, dtype: str = "auto") -> dict:
    """Return the stage split of one fresh process running the code in ``src`` (see PROBE)."""
    chosen = {} if dtype == "auto" else {"dtype": dtype}
    code = (
        f"PROMPTS, NEW_PROMPTS, FRAMES, HEAVY, OUT, TIMED = {PROMPTS!r}, {NEW_PROMPTS!r}, {FRAMES}, {HEAVY!r}, "
        f"{str(out)!r}, {TIMED!r}\nDTYPE = {chosen!r}\n" + PROBE
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**environment(), "PYTHONPATH": str(src)})  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"the probe failed on {src}:\n{done.stderr[-3000:]}")
    line = next(line for line in done.stdout.splitlines() if line.startswith("PROBE "))
    return json.loads(line.removeprefix("PROBE "))


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", default="main", help="git commit or branch to compare with (default: main)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--prompts", nargs=2, metavar=("A", "B"), default=None,
                        help=f"the morph's two prompts (default {PROMPTS[0]!r} {PROMPTS[1]!r}; e.g. two the "
                             "library does not know, which the model draws)")  # fmt: skip
    parser.add_argument("--first-run", action="store_true",
                        help="also time the cold command with numba's compiled code not yet on disk (a fresh install)")  # fmt: skip
    parser.add_argument("--dtypes", default="auto,auto", metavar="OLD,NEW",
                        help="--dtype of the old and the new version (default auto,auto); with --baseline HEAD "
                             "this compares two dtypes of one version")  # fmt: skip
    args = parser.parse_args(argv)
    if args.prompts:
        PROMPTS[:] = args.prompts
    dtypes = dict(zip(("old", "new"), args.dtypes.split(","), strict=True))
    with tempfile.TemporaryDirectory() as tmp:
        old_tree = Path(tmp) / "baseline"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(old_tree), args.baseline],
                       check=True)  # fmt: skip
        try:
            versions = {"old": old_tree / "src", "new": ROOT / "src"}
            for src in versions.values():
                compile_sources(src)
            cold: dict[str, list[float]] = {name: [] for name in versions}
            first: dict[str, list[float]] = {name: [] for name in versions}
            splits: dict[str, list[dict]] = {name: [] for name in versions}
            same_bytes = True
            for _ in range(args.repeats):
                for name, src in versions.items():  # alternating
                    cold[name].append(cold_command(src, Path(tmp) / f"{name}.gif", dtypes[name]))
                same_bytes &= (Path(tmp) / "old.gif").read_bytes() == (Path(tmp) / "new.gif").read_bytes()
                for name, src in versions.items():
                    splits[name].append(probe(src, Path(tmp) / f"{name}-api.gif", dtypes[name]))
            # Last: with the kernels deleted, the probes' warm morphs would compile them too.
            for _ in range(args.repeats if args.first_run else 0):
                for name, src in versions.items():
                    clear_numba_cache(src)
                    first[name].append(cold_command(src, Path(tmp) / f"{name}.gif", dtypes[name]))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old_tree)], check=False)
    picked = {name: splits[name][0]["dtype"] for name in versions}
    isa = f", ONEDNN_MAX_CPU_ISA={os.environ['ONEDNN_MAX_CPU_ISA']}" if os.environ.get("ONEDNN_MAX_CPU_ISA") else ""
    print(
        f"{cpu_name()}, {os.cpu_count()} CPUs{isa}; old {picked['old']}, new {picked['new']}; "
        f"baseline {args.baseline}; best of {args.repeats}"
    )
    print(f"morph: pixelgif morph {' '.join(repr(p) for p in PROMPTS)} --frames {FRAMES} (16 frames)")
    old, new = min(cold["old"]), min(cold["new"])
    print(f"cold command: old {old:.2f} s, new {new:.2f} s -> {old / new:.2f}x; same GIF bytes: {same_bytes}")
    if args.first_run:
        old, new = min(first["old"]), min(first["new"])
        print(f"first run (numba compiles its kernels): old {old:.2f} s, new {new:.2f} s -> {old / new:.2f}x")
    print(f"{'stage':<8} {'old s':>7} {'new s':>7} {'ratio':>6}   {'old cpu s':>9} {'new cpu s':>9}")
    for stage in ("import", "load", "render", "encode", "warm", "warm_new"):
        o, n = (min(s[stage] for s in splits[name]) for name in ("old", "new"))
        oc, nc = (min(s[stage + "_cpu"] for s in splits[name]) for name in ("old", "new"))
        print(f"{stage:<8} {o:7.2f} {n:7.2f} {o / n:5.2f}x   {oc:9.2f} {nc:9.2f}")
    for key, title in (("inside", "warm"), ("inside_new", "warm_new")):
        print(f"inside the {title} morph (best of the repeats; seconds, calls):")
        for _, _, label in TIMED:
            seen = {name: [s[key][label] for s in splits[name] if label in s.get(key, {})] for name in ("old", "new")}
            cells, best = [], {}
            for name in ("old", "new"):
                if seen[name]:
                    best[name] = min(seconds for seconds, _ in seen[name])
                    cells.append(f"{name} {best[name]:6.3f} s ({seen[name][-1][1]:3d})")
                else:
                    cells.append(f"{name} {'-':>8}      ")
            ratio = f"{best['old'] / best['new']:5.2f}x" if len(best) == 2 and best["new"] > 0 else "    -"
            print(f"  {label:<20} {cells[0]}  {cells[1]}  {ratio}")
    for name in ("old", "new"):
        print(f"{name}: engine timings of the warm morph {splits[name][-1]['timings']}; "
              f"imported {', '.join(splits[name][-1]['heavy']) or 'none of ' + ', '.join(HEAVY)}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
