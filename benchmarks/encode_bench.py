"""GIF size and speed: pixelgif's writer vs Pillow's save(save_all=True) (and gifsicle -O3).

A synthetic 32-frame 64x64 pixel-art animation on a 16-colour palette (sky bands, a moving sun,
a bobbing sprite, an ordered-dither cloud), written at scale 4 (256x256).

    python benchmarks/encode_bench.py [--frames 32] [--size 64] [--scale 4] [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from pixelgif.encode import EncodeConfig, write_animation

PICO8 = np.array(
    [
        [0, 0, 0], [29, 43, 83], [126, 37, 83], [0, 135, 81], [171, 82, 54], [95, 87, 79],
        [194, 195, 199], [255, 241, 232], [255, 0, 77], [255, 163, 0], [255, 236, 39],
        [0, 228, 54], [41, 173, 255], [131, 118, 156], [255, 119, 168], [255, 204, 170],
    ],
    dtype=np.uint8,
)
BAYER4 = np.array([[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]]) / 16


def synthetic_frames(count: int, size: int) -> list[np.ndarray]:
    """Return ``count`` HxW index arrays of a looping pixel-art scene that uses all 16 colours."""
    y, x = np.mgrid[0:size, 0:size]
    frames = []
    for i in range(count):
        t = i / count
        art = np.where(y < size * 0.35, 1, np.where(y < size * 0.6, 12, 3)).astype(np.uint8)
        hills = y > size * (0.55 + 0.06 * np.sin(x / size * 7 + 1))
        art[hills] = 4
        art[hills & (y > size * 0.8)] = 5
        art[(y == int(size * 0.85)) & (x % 7 < 4)] = 6  # a dashed path
        art[(y == int(size * 0.86)) & (x % 7 >= 4)] = 13
        art[(y > size * 0.9) & ((x * 5 + y * 3) % 11 == 0)] = 14  # flowers
        trunk = (np.abs(x - size * 0.85) < 1.5) & (y > size * 0.5) & (y < size * 0.7)
        art[trunk] = 2
        art[(x - size * 0.85) ** 2 + (y - size * 0.45) ** 2 < (size / 12) ** 2] = 11
        cloud = np.exp(-(((x - size * (0.2 + 0.6 * t)) / (size * 0.18)) ** 2 + ((y - size * 0.2) / 4) ** 2))
        art[(y < size * 0.35) & (cloud > BAYER4[y % 4, x % 4])] = 7
        cx, cy = size * 0.6, size * (0.3 - 0.1 * np.sin(2 * np.pi * t))
        sun = (x - cx) ** 2 + (y - cy) ** 2
        art[sun < (size / 9) ** 2] = 9
        art[sun < (size / 12) ** 2] = 10
        bob = int(round(2 * np.sin(4 * np.pi * t)))
        sx, sy = int(size * 0.3), int(size * 0.62) + bob
        art[sy - 1 : sy + 9, sx - 1 : sx + 7] = 0  # outline
        art[sy : sy + 8, sx : sx + 6] = 8  # body
        art[sy + 1 : sy + 3, sx + 1 : sx + 5] = 15  # face
        art[sy + 1, sx + 2 if i % 8 < 7 else sx + 1] = 0  # blinking eye
        frames.append(art)
    return frames


def p_image(indices: np.ndarray) -> Image.Image:
    image = Image.frombytes("P", (indices.shape[1], indices.shape[0]), indices.tobytes())
    image.putpalette(PICO8.tobytes())
    return image


def timed(fn, repeat: int) -> float:
    """Return the best wall time of ``repeat`` calls of ``fn``."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def gifsicle(src: Path, dst: Path) -> None:
    subprocess.run(["gifsicle", "-O3", str(src), "-o", str(dst)], check=True, capture_output=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    indices = synthetic_frames(args.frames, args.size)
    frames = [p_image(a) for a in indices]
    side = args.size * args.scale
    rgb_big = [f.convert("RGB").resize((side, side), Image.Resampling.NEAREST) for f in frames]
    p_big = [f.resize((side, side), Image.Resampling.NEAREST) for f in frames]
    out = Path(tempfile.mkdtemp(prefix="encode_bench."))
    paths = {name: out / f"{name}.gif" for name in ("ours", "pillow_rgb", "pillow_p", "gifsicle", "ours_gifsicle")}

    def pillow(images, path):
        images[0].save(path, save_all=True, append_images=images[1:], duration=100, loop=0)

    runs = {
        "ours": lambda: write_animation(frames, paths["ours"], EncodeConfig(scale=args.scale)),
        "pillow_rgb": lambda: pillow(rgb_big, paths["pillow_rgb"]),
        "pillow_p": lambda: pillow(p_big, paths["pillow_p"]),
    }
    labels = {
        "ours": "pixelgif write_animation (P frames)",
        "pillow_rgb": "Pillow save_all, RGB frames (naive)",
        "pillow_p": "Pillow save_all, P frames",
        "gifsicle": "gifsicle -O3 of the naive file",
        "ours_gifsicle": "pixelgif + gifsicle=True",
    }
    if shutil.which("gifsicle"):
        pillow(rgb_big, paths["pillow_rgb"])
        runs["gifsicle"] = lambda: gifsicle(paths["pillow_rgb"], paths["gifsicle"])
        runs["ours_gifsicle"] = lambda: write_animation(
            frames, paths["ours_gifsicle"], EncodeConfig(scale=args.scale, gifsicle=True)
        )
    seconds = {name: timed(fn, args.repeat) for name, fn in runs.items()}
    sizes = {name: paths[name].stat().st_size for name in runs}

    print(f"{args.frames} frames, {args.size}x{args.size} art at scale {args.scale} ({side}x{side}), "
          f"16 colours; best of {args.repeat}")
    print(f"{'writer':40s} {'bytes':>9s} {'size/naive':>10s} {'seconds':>8s} {'time/naive':>10s}")
    base_size, base_time = sizes["pillow_rgb"], seconds["pillow_rgb"]
    for name in runs:
        print(f"{labels[name]:40s} {sizes[name]:9d} {sizes[name] / base_size:10.3f} "
              f"{seconds[name]:8.3f} {seconds[name] / base_time:10.3f}")
    if "gifsicle" not in runs:
        print("(gifsicle not on PATH: skipped)")
    shutil.rmtree(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
