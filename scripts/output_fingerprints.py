"""Fingerprint the bytes of a fixed set of runs, to prove a refactor changed no behaviour.

    python scripts/output_fingerprints.py record before.json   # on the old code
    python scripts/output_fingerprints.py check before.json    # on the new code: exit 1 on any change

Every run goes through the command line (`pixelgif.cli.main`), the interface that stays put while
modules move: bundled-model and tiny-Stable-Diffusion morphs (with a LoRA), every output format,
`--from` files, and `pixelate` with palettes, dithers and grid detection. Settings files are
compared without their "run" (timings) and "versions" sections, with the temp folder's path
replaced by "<tmp>". Outputs depend on the CPU (bfloat16 on CPUs with bf16 hardware): record and
check on the same machine.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the tiny Stable Diffusion builders live with the tests


def _sprite_images(folder: Path) -> dict[str, Path]:
    """Write the pixelate inputs (drawn in code, so no data files): return name -> path."""
    import numpy as np
    from PIL import Image, ImageDraw

    y, x = np.mgrid[0:96, 0:128]
    photo = np.stack([x * 2 % 256, y * 2 % 256, (x + y) % 256], axis=-1).astype(np.uint8)
    image = Image.fromarray(photo)
    ImageDraw.Draw(image).ellipse((20, 10, 90, 80), fill=(200, 40, 60))
    paths = {"photo": folder / "photo.png"}
    image.save(paths["photo"])
    colours = np.array([(30, 30, 60), (240, 200, 40), (200, 40, 60), (40, 160, 80), (250, 250, 250)], np.uint8)
    art = Image.fromarray(colours[np.random.default_rng(0).integers(0, 5, (16, 16))])
    paths["upscaled"] = folder / "upscaled.png"
    art.resize((128, 128), Image.NEAREST).save(paths["upscaled"])
    frames = [Image.fromarray(np.roll(photo, 8 * i, axis=1)) for i in range(4)]
    paths["anim"] = folder / "anim.gif"
    frames[0].save(paths["anim"], save_all=True, append_images=frames[1:], duration=80, loop=0)
    return paths


def _runs(tmp: Path, sd: Path, lora: Path, images: dict[str, Path]) -> list[tuple[str, list[str]]]:
    """Return (name, pixelgif arguments) of every fingerprinted run, in order."""
    quick = ["--frames", "4", "--steps", "4", "-q"]
    tiny = ["--model", str(sd), "--steps", "2", "--frames", "3", "--width", "32", "--height", "32", "-q"]
    return [
        (
            "bundled.gif",
            ["morph", "a red apple", "a blue whale", *quick, "--seed", "3", "--report", "-o", "bundled.gif"],
        ),
        (
            "bundled-loop.webp",
            ["morph", "a cat", "a house", "a car", *quick, "--loop", "--spacing", "linear", "-o", "bundled-loop.webp"],
        ),
        (
            "bundled.apng",
            ["morph", "a heart", "a star", *quick, "--palette", "pico-8", "--hold-ms", "200", "-o", "bundled.apng"],
        ),
        (
            "bundled-sheet.png",
            ["morph", "a heart", "a star", *quick, "--format", "spritesheet", "--boomerang", "-o", "bundled-sheet.png"],
        ),
        (
            "bundled-frames",
            ["morph", "a tree", "a flower", *quick, "--colors", "8", "--dither", "none", "-o", "bundled-frames/"],
        ),
        ("bundled.mp4", ["morph", "a tree", "a flower", *quick, "-o", "bundled.mp4"]),
        ("from.gif", ["morph", "--from", "bundled.json", "-o", "from.gif", "-q"]),
        (
            "from-seed.gif",
            ["morph", "--from", "bundled.json", "--seed", "9,4", "--grid", "16x16", "-o", "from-seed.gif", "-q"],
        ),
        ("sd.gif", ["morph", "a red dragon", "a blue whale", *tiny, "-o", "sd.gif"]),
        (
            "sd-lora.gif",
            [
                "morph",
                "a knight",
                "a wizard",
                *tiny,
                "--lora",
                str(lora),
                "--lora-scale",
                "0.7",
                "--scheduler",
                "DPM-Solver++",
                "--guidance-scale",
                "3",
                "--text-interpolation",
                "slerp",
                "--keep-palette-order",
                "-o",
                "sd-lora.gif",
            ],
        ),
        (
            "pixelate-pico.png",
            ["pixelate", str(images["photo"]), "--palette", "pico-8", "--dither", "bayer4", "-o", "pixelate-pico.png"],
        ),
        (
            "pixelate-fs.png",
            [
                "pixelate",
                str(images["photo"]),
                "--colors",
                "8",
                "--dither",
                "floyd-steinberg",
                "--pixel-size",
                "4",
                "--scale",
                "3",
                "-o",
                "pixelate-fs.png",
            ],
        ),
        (
            "pixelate-detect.png",
            ["pixelate", str(images["upscaled"]), "--detect-grid", "--reducer", "median", "-o", "pixelate-detect.png"],
        ),
        (
            "pixelate-anim.gif",
            ["pixelate", str(images["anim"]), "--grid", "32x24", "--colors", "12", "-o", "pixelate-anim.gif"],
        ),
        (
            "pixelate-sheet.png",
            ["pixelate", str(images["anim"]), "--format", "spritesheet", "--grid", "16x12", "-o", "pixelate-sheet.png"],
        ),
    ]


def _digest(path: Path, tmp: Path) -> str:
    data = path.read_bytes()
    if path.suffix == ".json":
        document = json.loads(data)
        if isinstance(document, dict) and document.get("format") == "pixelgif-settings":
            document.pop("run", None)
            document.pop("versions", None)
        data = json.dumps(document, sort_keys=True).replace(str(tmp), "<tmp>").encode()
    return hashlib.sha256(data).hexdigest()


def fingerprints() -> dict[str, str]:
    """Run everything in a fresh temp folder and return {relative output path: sha256}."""
    from conftest import build_tiny_lora, build_tiny_sd
    from pixelgif.cli import main

    found: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="pixelgif-fingerprints-") as name:
        tmp = Path(name).resolve()
        sd = build_tiny_sd(tmp / "tiny-sd")
        lora = build_tiny_lora(sd, tmp / "lora" / "tiny_lora.safetensors")
        images = _sprite_images(tmp)
        work = tmp / "out"
        work.mkdir()
        cwd = Path.cwd()
        os.chdir(work)
        try:
            for label, argv in _runs(tmp, sd, lora, images):
                before = set(work.rglob("*"))
                with contextlib.redirect_stdout(io.StringIO()):
                    code = main(argv)
                if code != 0:
                    raise SystemExit(f"run {label!r} failed with exit code {code}: pixelgif {' '.join(argv)}")
                for path in sorted(set(work.rglob("*")) - before):
                    if path.is_file():
                        found[str(path.relative_to(work))] = _digest(path, tmp)
                print(f"{label}: done", file=sys.stderr)
        finally:
            os.chdir(cwd)
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("record", "check"):
        print(__doc__.strip().splitlines()[2:4], file=sys.stderr)
        return 2
    command, path = argv[0], Path(argv[1])
    found = fingerprints()
    if command == "record":
        path.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")
        print(f"recorded {len(found)} outputs in {path}")
        return 0
    expected = json.loads(path.read_text())
    changed = sorted(k for k in set(found) | set(expected) if found.get(k) != expected.get(k))
    for name in changed:
        state = "missing" if name not in found else "new" if name not in expected else "changed"
        print(f"{state}: {name}")
    print(f"{len(found) - len([c for c in changed if c in found])} of {len(expected)} outputs identical")
    return 1 if changed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
