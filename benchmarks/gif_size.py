"""GIF size: pixelgif's writer vs Pillow's plain save(save_all=True) vs `gifsicle -O3` of Pillow's file.

For pixel-art animations made by the project itself, prints the bytes and the seconds of each
writer and checks that every file decodes (with Pillow) to exactly the frames that went in
(RGBA, frame by frame, with their durations; runs of identical frames count as one). The target
is ours <= gifsicle -O3 on every case. Ours is the default writer, whose colour table holds only
the colours drawn, renumbered (RGBA exact); the last column is ours with keep_palette_order=True
(indices and palette exact, as Aseprite would re-import them), then the millions of pixels our LZW
encoder went over writing ours: its work, which the seconds only roughly show. Pillow's plain file cannot turn a shown pixel transparent
again, so for animations with moving transparency its file (and gifsicle's of it) shows the wrong
pixels; there the comparison is with gifsicle -O3 run on our own (exact) file, which it keeps
exact. Not a test: numbers depend on the machine and versions.

Cases (all share one palette across frames, as pixelgif makes them):
  morph        the bundled model: 3 prompts, a seamless loop, 16 frames each, 32x32 art, x8
  morph-1x     the same frames at native size
  sprite       a flat-shaded scene with a bobbing, blinking sprite (64x64, 16 colours, x4)
  walker       a transparent sprite walking across an empty (transparent) screen (48x32, x4)
  dithered     a moving gradient pixelated with ordered dithering (64x64, 16 colours, x4)
  gameboy      a plasma pixelated to the 4-colour gameboy palette (80x72, x2)
  photo-256    a moving gradient with 256 colours, no dithering (96x96, x1)
  full-16      like a Stable Diffusion morph: opaque, every frame changes everywhere and draws every
               one of its 16 colours (13 frames, 64x64, x4, Bayer dither)
  full-16-sm   the same colours, a still full-palette picture with a small morphing window (x4)
  full-32      as full-16 with 32 colours (x4); full-32-sm likewise
  full-256     as full-16 with 256 colours, no dithering (x1); full-256-sm likewise
  all-256      256 colours where the changed pixels of a frame draw all of them, so no index is
               left for see-through pixels (128x128, a third of the pixels change, x1)

    python benchmarks/gif_size.py [--repeat 3] [--skip-morph]
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pixelgif.encode import EncodeConfig, write_animation
from pixelgif.encode.gif import writer as gif_writer
from pixelgif.pixelate import PixelateConfig, pixelate_frames

DURATION = 100


# --- the animations ---------------------------------------------------------------------------


def morph_frames() -> list[Image.Image]:
    """Return the pixel-art frames of a looping 3-prompt morph from the bundled model."""
    from pixelgif.run import morph

    result = morph(["a red apple", "a green dragon", "a blue whale"], frames=16, loop=True, seed=3, progress=False)
    return result.pixel_frames


def sprite_frames(count: int = 32, size: int = 64) -> list[Image.Image]:
    """Return a flat-shaded scene: sky, hills, a drifting dithered cloud, a sun, a bobbing sprite."""
    y, x = np.mgrid[0:size, 0:size]
    bayer = np.array([[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]]) / 16
    frames = []
    for i in range(count):
        t = i / count
        art = np.where(y < size * 0.35, 1, np.where(y < size * 0.6, 12, 3)).astype(np.uint8)
        hills = y > size * (0.55 + 0.06 * np.sin(x / size * 7 + 1))
        art[hills] = 4
        art[hills & (y > size * 0.8)] = 5
        art[(y == int(size * 0.85)) & (x % 7 < 4)] = 6
        art[(y > size * 0.9) & ((x * 5 + y * 3) % 11 == 0)] = 14
        art[(x - size * 0.85) ** 2 + (y - size * 0.45) ** 2 < (size / 12) ** 2] = 11
        cloud = np.exp(-(((x - size * (0.2 + 0.6 * t)) / (size * 0.18)) ** 2 + ((y - size * 0.2) / 4) ** 2))
        art[(y < size * 0.35) & (cloud > bayer[y % 4, x % 4])] = 7
        sun = (x - size * 0.6) ** 2 + (y - size * (0.3 - 0.1 * np.sin(2 * np.pi * t))) ** 2
        art[sun < (size / 9) ** 2] = 9
        art[sun < (size / 12) ** 2] = 10
        sx, sy = int(size * 0.3), int(size * 0.62) + round(2 * np.sin(4 * np.pi * t))
        art[sy - 1 : sy + 9, sx - 1 : sx + 7] = 0
        art[sy : sy + 8, sx : sx + 6] = 8
        art[sy + 1 : sy + 3, sx + 1 : sx + 5] = 15
        art[sy + 1, sx + 2 if i % 8 < 7 else sx + 1] = 0
        frames.append(art)
    return _p_images(frames, PICO8)


def walker_frames(count: int = 24, width: int = 48, height: int = 32) -> list[Image.Image]:
    """Return a transparent-background sprite (index 0 = transparent) walking left to right."""
    frames = []
    for i in range(count):
        art = np.zeros((height, width), np.uint8)
        x0 = 2 + (i * (width - 14)) // count
        leg = i % 4
        art[6:20, x0 : x0 + 10] = 1  # outline
        art[7:19, x0 + 1 : x0 + 9] = 9  # body
        art[9:12, x0 + 2 : x0 + 8] = 15  # face
        art[10, x0 + 3 + (i % 2)] = 1  # eye
        art[20:26, x0 + 1 + leg % 2 : x0 + 3 + leg % 2] = 5  # legs
        art[20:26, x0 + 6 - leg % 2 : x0 + 8 - leg % 2] = 5
        art[26 - (i % 3) : 27, :] = 3  # a pulsing ground line
        frames.append(art)
    return _p_images(frames, PICO8, transparent=0)


def gradient_video(count: int, size: int, seed: int = 0) -> list[np.ndarray]:
    """Return smooth RGB frames: drifting colour gradients and a moving disc (a stand-in for renders)."""
    y, x = np.mgrid[0:size, 0:size] / size
    frames = []
    for i in range(count):
        t = 2 * np.pi * i / count
        r = 0.5 + 0.5 * np.sin(3 * x + t)
        g = 0.5 + 0.5 * np.sin(4 * y - t + seed)
        b = 0.5 + 0.5 * np.sin(5 * (x + y) + 2 * t)
        disc = (x - 0.5 - 0.25 * np.cos(t)) ** 2 + (y - 0.5 - 0.25 * np.sin(t)) ** 2 < 0.03
        rgb = np.stack([r, g, b], -1)
        rgb[disc] = [1.0, 0.9, 0.2]
        frames.append((rgb * 255).astype(np.uint8))
    return frames


def pixelated(frames: list[np.ndarray], **options) -> list[Image.Image]:
    """Return the frames pixelated by pixelgif's engine (one palette for all)."""
    return pixelate_frames(frames, PixelateConfig(**options)).images


def plasma_video(count: int, width: int, height: int) -> list[np.ndarray]:
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    frames = []
    for i in range(count):
        t = 2 * np.pi * i / count
        v = np.sin(10 * x + t) + np.sin(10 * y + 2 * t) + np.sin(10 * (x + y) - t)
        level = ((v + 3) / 6 * 255).astype(np.uint8)
        frames.append(np.stack([level] * 3, -1))
    return frames


def morph_video(count: int, size: int, seed: int = 0) -> list[np.ndarray]:
    """Return smooth, textured RGB frames that cross-fade through three random scenes (like a
    diffusion-model morph: every pixel changes a little in every frame)."""
    rng = np.random.default_rng(seed)

    def scene() -> np.ndarray:
        coarse = Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))
        smooth = np.asarray(coarse.resize((size, size), Image.Resampling.BICUBIC), dtype=np.float64)
        return smooth + rng.normal(0, 18, (size, size, 1))  # fine texture

    keys = [scene() for _ in range(3)]
    frames = []
    for i in range(count):
        u = 2 * i / (count - 1)
        k = min(int(u), 1)
        w = u - k
        frames.append(np.clip((1 - w) * keys[k] + w * keys[k + 1], 0, 255).astype(np.uint8))
    return frames


def all_colours_changing(count: int = 8, size: int = 128) -> list[Image.Image]:
    """Return a 256-colour animation whose changed pixels draw every colour of the palette."""
    rng = np.random.default_rng(256)
    palette = rng.integers(0, 256, (256, 3), dtype=np.uint8)
    y, x = np.mgrid[0:size, 0:size]
    base = (x // 4 + y // 4 * 7) % 256
    frames = []
    for i in range(count):
        frame = base.copy()
        changed = rng.random((size, size)) < 0.3
        frame[changed] = (frame[changed] + i + 1) % 256
        frames.append(frame.astype(np.uint8))
    return _p_images(frames, palette)


def full_palette(count: int, colours: int, small: bool, dither: str) -> list[Image.Image]:
    """Return an opaque morph pixelated to ``colours`` colours, each frame drawing all of them;
    with ``small``, a still picture with a 16x16 window that morphs."""
    video = morph_video(count, 64, seed=colours)
    if small:
        still = video[0]
        video = [still.copy() for _ in video]
        for frame, moving in zip(video, morph_video(count, 64, seed=colours + 1), strict=True):
            frame[20:36, 24:40] = moving[20:36, 24:40]
    return pixelated(video, grid=(64, 64), colors=colours, dither=dither)


PICO8 = np.array(
    [
        [0, 0, 0], [29, 43, 83], [126, 37, 83], [0, 135, 81], [171, 82, 54], [95, 87, 79],
        [194, 195, 199], [255, 241, 232], [255, 0, 77], [255, 163, 0], [255, 236, 39],
        [0, 228, 54], [41, 173, 255], [131, 118, 156], [255, 119, 168], [255, 204, 170],
    ],
    dtype=np.uint8,
)  # fmt: skip


def _p_images(arrays, palette, transparent=None) -> list[Image.Image]:
    images = []
    for a in arrays:
        image = Image.frombytes("P", (a.shape[1], a.shape[0]), a.tobytes())
        image.putpalette(palette.tobytes())
        if transparent is not None:
            image.info["transparency"] = transparent
        images.append(image)
    return images


def cases(skip_morph: bool) -> list[tuple[str, list[Image.Image], int]]:
    """Return (name, frames, display scale) of every benchmark animation."""
    out = []
    if not skip_morph:
        frames = morph_frames()
        out += [("morph", frames, 8), ("morph-1x", frames, 1)]
    out.append(("sprite", sprite_frames(), 4))
    out.append(("walker", walker_frames(), 4))
    out.append(("dithered", pixelated(gradient_video(24, 256), grid=(64, 64), colors=16, dither="bayer4"), 4))
    out.append(("gameboy", pixelated(plasma_video(20, 160, 144), grid=(80, 72), palette="gameboy", dither="bayer4"), 2))
    out.append(("photo-256", pixelated(gradient_video(16, 96, 1), grid=(96, 96), colors=256, dither="none"), 1))
    # Opaque, every colour drawn: the typical Stable Diffusion morph (13 frames, 64x64 art).
    for colours, dither, scale in ((16, "bayer4", 4), (32, "bayer4", 4), (256, "none", 1)):
        out.append((f"full-{colours}", full_palette(13, colours, False, dither), scale))
        out.append((f"full-{colours}-sm", full_palette(13, colours, True, dither), scale))
    out.append(("all-256", all_colours_changing(), 1))
    return out


# --- writers, timing and the exactness check ----------------------------------------------------


def upscale(frames: list[Image.Image], scale: int) -> list[Image.Image]:
    """Return the frames scaled by ``scale`` with nearest neighbour (palette and transparency kept)."""
    if scale == 1:
        return frames
    out = []
    for frame in frames:
        big = frame.resize((frame.width * scale, frame.height * scale), Image.Resampling.NEAREST)
        big.info.update(frame.info)
        out.append(big)
    return out


def pillow_save(frames: list[Image.Image], path: Path) -> None:
    """Pillow's plain animated GIF: save(save_all=True) with the frames as they are."""
    frames = [frame.copy() for frame in frames]  # Pillow's GIF writer may change the images it saves
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=DURATION, loop=0)


def gifsicle(src: Path, dst: Path) -> None:
    subprocess.run(["gifsicle", "-O3", str(src), "-o", str(dst)], check=True, capture_output=True)


def timed(fn, repeat: int) -> float:
    """Return the best wall time of ``repeat`` calls of ``fn``."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def timeline(frames) -> list[tuple[bytes, int]]:
    """Return (RGBA bytes with transparent pixels zeroed, ms) per shown frame, repeats merged."""
    out: list[tuple[bytes, int]] = []
    for rgba, ms in frames:
        rgba = rgba.copy()
        rgba[rgba[..., 3] == 0] = 0
        key = rgba.tobytes()
        if out and out[-1][0] == key:
            out[-1] = (key, out[-1][1] + ms)
        else:
            out.append((key, ms))
    return out


def decoded(path: Path):
    with Image.open(path) as image:
        for i in range(image.n_frames):
            image.seek(i)
            yield np.array(image.convert("RGBA")), image.info.get("duration", 0)


def expected(frames: list[Image.Image]):
    for frame in frames:
        yield np.array(frame.convert("RGBA")), DURATION


# --- main ---------------------------------------------------------------------------------------


def lzw_work(frames: list[Image.Image], config: EncodeConfig) -> float:
    """Return the millions of pixels our LZW encoder goes over writing ``frames``: the writer's
    work, counted (its seconds drift with the machine's speed; this does not)."""
    counted = [0]
    original = gif_writer._lzw

    def lzw(symbols, *args, **kwargs):
        counted[0] += symbols.size
        return original(symbols, *args, **kwargs)

    gif_writer._lzw = lzw
    try:
        with tempfile.TemporaryDirectory() as folder:
            write_animation(frames, Path(folder) / "count.gif", config)
    finally:
        gif_writer._lzw = original
    return counted[0] / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="time each writer this many times, keep the best")
    parser.add_argument("--skip-morph", action="store_true", help="leave out the cases that need the bundled model")
    args = parser.parse_args(argv)
    if shutil.which("gifsicle") is None:
        print("gifsicle is not on PATH (Debian: apt install gifsicle)", file=sys.stderr)
        return 1
    version = subprocess.run(["gifsicle", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    out = Path(tempfile.mkdtemp(prefix="gif_size."))
    print(
        f"{version}; best of {args.repeat}; bytes (seconds); exact: decodes to the input frames "
        f"(ours / Pillow / gifsicle); gifsicle(ours): gifsicle -O3 run on our file, when Pillow's is not exact; "
        f"kept order: ours with keep_palette_order; LZW Mpx: pixels our LZW encoder went over (its work)"
    )
    print(
        f"{'case':10s} {'frames':>6s} {'size':>9s} {'ours':>17s} {'Pillow':>17s} {'gifsicle -O3':>17s} "
        f"{'ours/gifsicle':>13s} {'exact':>11s} {'gifsicle(ours)':>14s} {'kept order':>10s} {'LZW Mpx':>7s}"
    )
    losses = 0
    try:
        for name, frames, scale in cases(args.skip_morph):
            big = upscale(frames, scale)
            paths = {w: out / f"{name}.{w}.gif" for w in ("ours", "pillow", "gifsicle", "gifsicle_ours", "kept")}
            config = EncodeConfig(scale=scale, duration=DURATION)
            seconds = {
                "ours": timed(functools.partial(write_animation, frames, paths["ours"], config), args.repeat),
                "pillow": timed(functools.partial(pillow_save, big, paths["pillow"]), args.repeat),
            }
            seconds["gifsicle"] = timed(functools.partial(gifsicle, paths["pillow"], paths["gifsicle"]), args.repeat)
            gifsicle(paths["ours"], paths["gifsicle_ours"])
            write_animation(frames, paths["kept"], dataclasses.replace(config, keep_palette_order=True))
            sizes = {w: p.stat().st_size for w, p in paths.items()}
            want = timeline(expected(big))
            exact = {w: timeline(decoded(p)) == want for w, p in paths.items()}
            cells = " ".join(f"{sizes[w]:>8d} ({seconds[w]:6.3f})" for w in ("ours", "pillow", "gifsicle"))
            marks = "/".join("yes" if exact[w] else "NO" for w in ("ours", "pillow", "gifsicle"))
            # Where gifsicle's file shows the wrong pixels, the fair rival is gifsicle on an exact file.
            rival = "gifsicle" if exact["gifsicle"] else "gifsicle_ours"
            extra = (
                ""
                if exact["gifsicle"]
                else f"{sizes['gifsicle_ours']:>8d} ({'ok' if exact['gifsicle_ours'] else 'NO'})"
            )
            losses += sizes["ours"] > sizes[rival] or not exact["ours"] or not exact["kept"]
            width, height = big[0].size
            print(
                f"{name:10s} {len(frames):6d} {width:>4d}x{height:<4d} {cells} "
                f"{sizes['ours'] / sizes[rival]:13.4f} {marks:>11s} {extra:>14s} {sizes['kept']:>10d} {lzw_work(frames, config):7.1f}"
            )
    finally:
        shutil.rmtree(out)
    print(
        "ours <= gifsicle -O3 (of an exact file) on every case"
        if not losses
        else f"ours is larger than gifsicle -O3 (of an exact file) on {losses} case(s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
