"""``pixelgif pixelate``: turn images, an animated GIF or a folder of frames into pixel art."""

from __future__ import annotations

import argparse
import re

DESCRIPTION = """\
Turn images into true pixel art: a real pixel grid, one small palette shared by every frame (no
flicker), optional dithering. INPUT is a PNG, JPEG, WebP or animated GIF, or a folder of frames
(taken in name order); several inputs become one animation. One frame in gives one image out;
several give an animation (GIF, WebP, APNG or MP4, by the suffix of -o)."""

EPILOG = """\
dithering: "auto" uses Floyd-Steinberg for a single image and ordered Bayer 4x4 for animations,
because ordered dithering is stable across frames: a flat area keeps the same pattern in every
frame, while error diffusion patterns shimmer when the picture changes slightly.

examples:
  pixelgif pixelate photo.jpg -o sprite.png --pixel-size 8 --colors 16 --scale 4
  pixelgif pixelate morph.gif -o retro.gif --grid 64x64 --palette pico-8
  pixelgif pixelate frames/ -o anim.gif --palette my.gpl --colors 8 --dither bayer8
  pixelgif pixelate upscaled.png -o restored.png --detect-grid --reducer median"""

SINGLE_IMAGE_SUFFIXES = {".png": "PNG", ".gif": "GIF", ".webp": "WEBP"}


def _grid(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)
    if match:
        return int(match.group(1)), int(match.group(2))
    if text.strip().isdigit():
        return int(text), int(text)
    raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 64x48, got {text!r}")


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "pixelate", help="turn images or an animation into pixel art on one shared palette",
        description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image file, animated GIF, or folder of frames")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="output file (.png, .gif, .webp, .apng, .mp4)")
    grid = parser.add_argument_group("pixel grid (give at most one; default: --pixel-size 8)")
    grid.add_argument("--pixel-size", type=int, metavar="N", help="source pixels per art pixel")
    grid.add_argument("--grid", type=_grid, metavar="WxH", help="output size in art pixels, e.g. 64x64")
    grid.add_argument("--detect-grid", action="store_true",
                      help="find the grid of input that is already pixel art, upscaled or blurred, and restore 1:1 pixels")
    grid.add_argument("--reducer", choices=("mean", "median", "dominant", "edge"), default="mean",
                      help="how a cell becomes one colour: mean (in linear light, default), median, dominant "
                           "(most common palette colour: crisp, no in-between colours), edge (keeps thin dark outlines)")
    colours = parser.add_argument_group("palette")
    colours.add_argument("--colors", type=int, metavar="K",
                         help="palette size 2-256, fitted on all frames together (default 16); with --palette, "
                              "the best K colours of that palette")
    colours.add_argument("--palette", metavar="NAME|FILE",
                         help="built-in palette (pico-8, gameboy, nes, cga, c64, endesga-32, sweetie-16, aap-64, 1-bit) "
                              "or a .gpl, .hex, .pal or .png swatch file")
    colours.add_argument("--dither", default="auto",
                         choices=("auto", "none", "bayer2", "bayer4", "bayer8", "floyd-steinberg", "atkinson"),
                         help="auto (default): Floyd-Steinberg for one image, Bayer 4x4 for animations, "
                              "since ordered dithering is stable across frames")
    colours.add_argument("--dither-strength", type=float, default=1.0, metavar="S",
                         help="strength of ordered (Bayer) dithering, 0-1 (default 1)")
    extras = parser.add_argument_group("transparency and clean-up")
    extras.add_argument("--alpha-threshold", type=int, default=128, metavar="A",
                        help="source alpha below A (0-255) becomes transparent (default 128)")
    extras.add_argument("--remove-orphans", action="store_true", help="remove isolated single pixels")
    extras.add_argument("--outline", action="store_true",
                        help="add a 1-pixel dark outline around the subject on a transparent background")
    extras.add_argument("--seed", type=int, default=0, help="random seed of the palette fit (default 0)")
    output = parser.add_argument_group("output")
    output.add_argument("--scale", type=int, default=1, metavar="N", help="nearest-neighbour upscale for display (default 1)")
    output.add_argument("--duration", type=int, metavar="MS",
                        help="milliseconds per frame of an animation (default: the input GIF's timing, else 100)")
    parser.set_defaults(run=run)
    return parser


def build_config(args):
    """Return the PixelateConfig for parsed arguments (ValueError on bad or conflicting values)."""
    from ..pixelate import PixelateConfig

    return PixelateConfig(
        grid=args.grid, pixel_size=args.pixel_size, detect_grid=args.detect_grid, colors=args.colors,
        palette=args.palette, dither=args.dither, dither_strength=args.dither_strength, reducer=args.reducer,
        alpha_threshold=args.alpha_threshold, remove_orphans=args.remove_orphans, outline=args.outline, seed=args.seed,
    )


def run(args) -> int:
    from pathlib import Path

    from ..encode import SUFFIXES, EncodeConfig, write_animation
    from ..errors import PixelgifError
    from ..outputs import atomic_output, check_writable
    from ..pixelate import pixelate_frames
    from ..pixelate.inputs import read_inputs

    config = build_config(args)
    output = check_writable(args.output)
    suffix = output.suffix.lower()
    if suffix not in SUFFIXES:
        raise PixelgifError(f"cannot write {str(output)!r}: use a .png, .gif, .webp, .apng or .mp4 file name")
    if not 1 <= args.scale <= 64:
        raise ValueError(f"scale must be a whole number from 1 to 64, got {args.scale}")
    frames = read_inputs(args.inputs)
    art = pixelate_frames(frames.images, config)
    if len(art.images) == 1 and suffix in SINGLE_IMAGE_SUFFIXES:
        image = art.scaled(args.scale)[0]
        with atomic_output(output) as tmp:
            image.save(tmp, format=SINGLE_IMAGE_SUFFIXES[suffix], **({"lossless": True} if suffix == ".webp" else {}))
    else:
        duration = args.duration if args.duration is not None else frames.frame_durations()
        write_animation(art.images, output, EncodeConfig(duration=duration, scale=args.scale))
    size = art.images[0].size
    print(f"wrote {output} ({len(art.images)} frame{'s' if len(art.images) > 1 else ''}, {size[0]}x{size[1]} "
          f"pixels, {len(art.palette)} colours)")
    return 0
