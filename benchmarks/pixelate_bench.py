"""Speed and colour error of pixelgif's pixel-art engine, optionally against pyxelate.

For every setting (SIZE² source -> GRID² art, 8 and 16 colours, each dither) it prints seconds per
single image (fit + map), seconds for a FRAMES-long sequence on one shared palette, and colour
error: mean OKLab ΔE (x100) between the source box-filtered to the grid (in linear light) and the
result. Test images are generated (two photo-like, two flat cartoons; add your own with --images);
the sequence is a cross-fade between a photo and a cartoon, like a morph.

    python benchmarks/pixelate_bench.py [--size 512] [--grid 64] [--frames 20] [--repeat 3]
                                        [--images DIR] [--pyxelate DIR] [--quick]
    python benchmarks/pixelate_bench.py --startup [--startup-size 64] [--repeat 10]

--startup times the whole ``pixelgif pixelate in.png -o out.png`` command (a new Python process,
as a user runs it) on one small generated image: best and median wall seconds of --repeat runs,
the CPU they ran on, then the import breakdown of one ``python -X importtime`` run (the largest
top-level imports, and whether numba, scipy or torch loaded at all).

--pyxelate DIR imports pyxelate from a local checkout of its public source (never committed here;
it needs scikit-image and scikit-learn) and runs it on the same inputs: Pyx(factor, palette,
dither).fit + transform per image, and for the sequence one fit on the first frame, then
transform of every frame from its Vid iterator.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from pixelgif.pixelate import PixelateConfig, pixelate_frames
from pixelgif.pixelate.color import linear_to_oklab, srgb8_to_linear, srgb8_to_oklab

DITHERS = {"none": "none", "bayer4": "bayer", "floyd-steinberg": "floyd", "atkinson": "atkinson"}


# --- test images ---------------------------------------------------------------------------------


def _noise(rng, size, scale):
    field = ndimage.gaussian_filter(rng.normal(0, 1, (size, size)), scale)
    return (field - field.mean()) / (field.std() + 1e-9)


def photo_landscape(size: int, seed: int = 0) -> np.ndarray:
    """Return a photo-like scene: sky gradient, sun glow, textured hills, foliage noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    sky = np.stack([0.35 + 0.4 * y, 0.55 + 0.3 * y, 0.95 - 0.2 * y], -1)
    glow = np.exp(-((x - 0.7) ** 2 + (y - 0.25) ** 2) / 0.01)[..., None] * np.array([1.0, 0.8, 0.4])
    ridge = 0.55 + 0.08 * np.sin(x * 9) + 0.05 * _noise(rng, size, 20)[size // 2][None, :]
    ground = (y > ridge)[..., None]
    texture = 0.08 * _noise(rng, size, 1.5) + 0.12 * _noise(rng, size, 8)
    hills = np.stack([0.25 + texture, 0.45 + texture + 0.2 * (y - 0.5), 0.18 + 0.5 * texture], -1)
    image = np.where(ground, hills, sky + glow)
    return (np.clip(image, 0, 1) * 255).astype(np.uint8)


def photo_still_life(size: int, seed: int = 1) -> np.ndarray:
    """Return a photo-like still life: shaded spheres with highlights on a soft textured backdrop."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    image = np.stack([0.5 + 0.05 * _noise(rng, size, 30)] * 3, -1) * np.array([1.0, 0.92, 0.85])
    for cx, cy, r, colour in [
        (0.3, 0.6, 0.2, (0.85, 0.2, 0.15)),
        (0.65, 0.55, 0.17, (0.2, 0.5, 0.85)),
        (0.5, 0.3, 0.12, (0.95, 0.8, 0.2)),
    ]:
        d2 = ((x - cx) ** 2 + (y - cy) ** 2) / r**2
        inside = d2 < 1
        nz = np.sqrt(np.clip(1 - d2, 0, 1))
        shade = np.clip(0.25 + 0.75 * (nz * 0.7 + (cx - x) / r * 0.3 + (cy - y) / r * 0.3), 0, 1)
        spec = np.clip(1 - ((x - cx + 0.35 * r) ** 2 + (y - cy + 0.35 * r) ** 2) / (0.2 * r) ** 2, 0, 1) ** 2
        ball = np.array(colour) * shade[..., None] + spec[..., None]
        image = np.where(inside[..., None], ball, image)
    image += 0.03 * rng.normal(0, 1, image.shape)  # sensor noise
    return (np.clip(image, 0, 1) * 255).astype(np.uint8)


def cartoon(size: int, seed: int) -> np.ndarray:
    """Return a flat cartoon: a few flat-coloured shapes with dark outlines, anti-aliased."""
    rng = np.random.default_rng(seed)
    big = size * 4
    image = Image.new("RGB", (big, big), tuple(int(v) for v in rng.integers(150, 256, 3)))
    draw = ImageDraw.Draw(image)
    for _ in range(7):
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        x0, y0 = rng.integers(0, big * 3 // 4, 2)
        w, h = rng.integers(big // 8, big // 3, 2)
        box = [int(x0), int(y0), int(x0 + w), int(y0 + h)]
        if rng.random() < 0.5:
            draw.ellipse(box, fill=fill, outline=(20, 16, 24), width=big // 96)
        else:
            draw.rounded_rectangle(box, radius=big // 40, fill=fill, outline=(20, 16, 24), width=big // 96)
    return np.asarray(image.resize((size, size), Image.Resampling.LANCZOS))


def load_images(size: int, folder: str | None) -> dict[str, np.ndarray]:
    """Return the named test images, all size x size RGB."""
    images = {
        "photo-landscape": photo_landscape(size),
        "photo-still-life": photo_still_life(size),
        "cartoon-a": cartoon(size, 3),
        "cartoon-b": cartoon(size, 7),
    }
    for path in sorted(Path(folder).iterdir()) if folder else []:
        if path.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"):
            with Image.open(path) as image:
                square = min(image.size)
                left, top = (image.width - square) // 2, (image.height - square) // 2
                crop = image.convert("RGB").crop((left, top, left + square, top + square))
                images[path.stem] = np.asarray(crop.resize((size, size), Image.Resampling.LANCZOS))
    return images


def morph_sequence(a: np.ndarray, b: np.ndarray, frames: int) -> list[np.ndarray]:
    """Return a cross-fade from a to b (in linear light) with a slow pan, like a morph."""
    out = []
    for i in range(frames):
        t = i / max(frames - 1, 1)
        mix = (1 - t) * srgb8_to_linear(a) + t * srgb8_to_linear(np.roll(b, i * 2, axis=1))
        out.append(np.round(np.clip(mix, 0, 1) ** (1 / 2.2) * 255).astype(np.uint8))
    return out


# --- measuring -----------------------------------------------------------------------------------


def colour_error(source: np.ndarray, result: np.ndarray) -> float:
    """Return mean OKLab ΔE x100 between ``source`` box-filtered (linear light) to the result's size and it."""
    gh, gw = result.shape[:2]
    h, w = source.shape[:2]
    linear = srgb8_to_linear(source).reshape(gh, h // gh, gw, w // gw, 3).mean(axis=(1, 3))
    target = linear_to_oklab(linear)
    return float(np.linalg.norm(target - srgb8_to_oklab(result), axis=-1).mean() * 100)


def best_time(function, repeat: int):
    """Return (fastest seconds of ``repeat`` calls, last result)."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def ours_single(image, colors, dither, grid):
    art = pixelate_frames([image], PixelateConfig(grid=(grid, grid), colors=colors, dither=dither))
    return np.asarray(art.images[0].convert("RGB"))


def ours_sequence(frames, colors, dither, grid):
    return pixelate_frames(frames, PixelateConfig(grid=(grid, grid), colors=colors, dither=dither))


def load_pyxelate(folder: str):
    sys.path.insert(0, str(Path(folder).resolve()))
    warnings.filterwarnings("ignore")
    from pyxelate import Pyx, Vid

    return Pyx, Vid


def pyx_single(Pyx, image, colors, dither, factor):
    pyx = Pyx(factor=factor, palette=colors, dither=dither)
    result = pyx.fit(image).transform(image)
    return np.asarray(result if result.dtype == np.uint8 else np.clip(result * 255, 0, 255), np.uint8)[..., :3]


def pyx_sequence(Pyx, Vid, frames, colors, dither, factor):
    pyx = Pyx(factor=factor, palette=colors, dither=dither).fit(frames[0])
    return [pyx.transform(image) for image, _key in Vid(frames)]


def cpu_name() -> str:
    """Return the CPU model (``lscpu``'s "Model name") and how many cores this process may use."""
    name = "unknown CPU"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        name = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        with contextlib.suppress(OSError):
            text = Path("/proc/cpuinfo").read_text()
            name = next((line.split(":", 1)[1].strip() for line in text.splitlines() if "model name" in line), name)
    return f"{name}, {len(os.sched_getaffinity(0))} cores"


def startup(size: int, repeat: int) -> int:
    """Time ``pixelgif pixelate`` on one small image as a whole command; print the import breakdown."""
    with tempfile.TemporaryDirectory(prefix="pixelate_startup.") as folder:
        source, target = Path(folder) / "in.png", Path(folder) / "out.png"
        Image.fromarray(photo_landscape(size)).save(source)
        command = [sys.executable, "-m", "pixelgif", "pixelate", str(source), "-o", str(target)]
        env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
        seconds = []
        for _ in range(repeat):
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True, env=env)
            seconds.append(time.perf_counter() - start)
        bare = []
        for _ in range(repeat):  # the interpreter alone, for reference
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], check=True, env=env)
            bare.append(time.perf_counter() - start)
        profile = subprocess.run(
            [sys.executable, "-X", "importtime", *command[1:]], check=True, capture_output=True, text=True, env=env
        ).stderr
    print(f"pixelgif pixelate on one {size}x{size} PNG, whole command, {repeat} runs on {cpu_name()}")
    print(f"  best {min(seconds):.3f} s, median {statistics.median(seconds):.3f} s (python -c pass: {min(bare):.3f} s)")
    top: dict[str, int] = {}
    for line in profile.splitlines():
        parts = line.split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2].rstrip()[1:]
        if name.startswith(" "):
            continue  # nested below a top-level import
        top[name] = top.get(name, 0) + int(parts[1])
    print("  top-level imports of that command (cumulative ms, one run, -X importtime; numpy and PIL count")
    print("  under the first module that imports them):")
    for name, us in sorted(top.items(), key=lambda item: -item[1])[:12]:
        print(f"    {us / 1000:7.1f}  {name}")
    heavy = ("numba", "scipy", "torch", "diffusers", "transformers", "gradio")
    loaded = sorted({name.split(".")[0] for name in top if name.split(".")[0] in heavy})
    print(f"  heavy packages loaded: {', '.join(loaded) or 'none'}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--grid", type=int, default=64)
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3, help="timing repeats for pixelgif (best is kept)")
    parser.add_argument("--images", help="folder of extra test images (centre-cropped and resized)")
    parser.add_argument("--pyxelate", metavar="DIR", help="local checkout of the pyxelate source to compare with")
    parser.add_argument("--quick", action="store_true", help="16 colours, none and bayer4 only")
    parser.add_argument("--startup", action="store_true", help="time the whole pixelate command on one small image")
    parser.add_argument("--startup-size", type=int, default=64, help="side of that image in pixels (default 64)")
    args = parser.parse_args(argv)
    if args.startup:
        return startup(args.startup_size, args.repeat)

    images = load_images(args.size, args.images)
    sequence = morph_sequence(images["photo-landscape"], images["cartoon-a"], args.frames)
    pyx = load_pyxelate(args.pyxelate) if args.pyxelate else None
    factor = args.size // args.grid
    ours_single(images["cartoon-a"], 8, "floyd-steinberg", args.grid)  # load the compiled kernel once
    print(f"{len(images)} images ({', '.join(images)}), {args.size}² -> {args.grid}², sequence of {args.frames} frames")
    header = f"{'colors':>6} {'dither':>15} | {'ours s/img':>10} {'ours seq s':>10} {'ours ΔE':>8}"
    if pyx:
        header += f" | {'pyx s/img':>9} {'pyx seq s':>9} {'pyx ΔE':>7} | {'img ×':>6} {'seq ×':>6}"
    print(header)
    print("-" * len(header))
    for colors in (16,) if args.quick else (8, 16):
        for dither, pyx_dither in DITHERS.items():
            if args.quick and dither not in ("none", "bayer4"):
                continue
            row = measure(images, sequence, colors, dither, pyx_dither, args, pyx, factor)
            print(row)
    return 0


def measure(images, sequence, colors, dither, pyx_dither, args, pyx, factor) -> str:
    """Return one table row for a setting."""
    times, errors = [], []
    for image in images.values():
        seconds, result = best_time(lambda image=image: ours_single(image, colors, dither, args.grid), args.repeat)
        times.append(seconds)
        errors.append(colour_error(image, result))
    seq_seconds, _ = best_time(lambda: ours_sequence(sequence, colors, dither, args.grid), args.repeat)
    row = f"{colors:>6} {dither:>15} | {statistics.mean(times):>10.4f} {seq_seconds:>10.3f} {statistics.mean(errors):>8.2f}"
    if pyx:
        Pyx, Vid = pyx
        p_times, p_errors = [], []
        for image in images.values():
            seconds, result = best_time(lambda image=image: pyx_single(Pyx, image, colors, pyx_dither, factor), 1)
            p_times.append(seconds)
            p_errors.append(colour_error(image, result))
        p_seq, _ = best_time(lambda: pyx_sequence(Pyx, Vid, sequence, colors, pyx_dither, factor), 1)
        p_time = statistics.mean(p_times)
        row += (
            f" | {p_time:>9.3f} {p_seq:>9.2f} {statistics.mean(p_errors):>7.2f}"
            f" | {p_time / statistics.mean(times):>6.1f} {p_seq / seq_seconds:>6.1f}"
        )
    return row


if __name__ == "__main__":
    raise SystemExit(main())
