"""``pixelgif pixelate``: turn images, an animated GIF or a folder of frames into pixel art."""

from __future__ import annotations

import argparse
import dataclasses

from ..options import SCHEMA
from .options import add_option, format_help, format_name, one_line_error

DESCRIPTION = """\
Turn images into true pixel art: a real pixel grid, one small palette shared by every frame (no
flicker), optional dithering. INPUT is a PNG, JPEG, WebP or animated GIF, or a folder of frames
(taken in name order); several inputs become one animation. One frame in gives one image out;
several give an animation (GIF, WebP, APNG or MP4 by the suffix of -o; a folder path gives one PNG
per frame; --format spritesheet gives a PNG grid with Aseprite JSON for game engines)."""

EPILOG = """\
dithering: "auto" uses Floyd-Steinberg for a single image and ordered Bayer 4x4 for animations,
because ordered dithering is stable across frames: a flat area keeps the same pattern in every
frame, while error diffusion patterns shimmer when the picture changes slightly.

examples:
  pixelgif pixelate photo.jpg -o sprite.png --pixel-size 8 --colors 16 --scale 4
  pixelgif pixelate morph.gif -o retro.gif --grid 64x64 --palette pico-8
  pixelgif pixelate frames/ -o anim.gif --palette my.gpl --colors 8 --dither bayer8
  pixelgif pixelate upscaled.png -o restored.png --detect-grid --reducer median
  pixelgif pixelate walk.gif -o walk.png --format spritesheet --grid 32x32   # walk.png + walk.json"""

SINGLE_IMAGE_SUFFIXES = {".png": "PNG", ".gif": "GIF", ".webp": "WEBP"}


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "pixelate",
        help="turn images or an animation into pixel art on one shared palette",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image file, animated GIF, or folder of frames")
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT",
        help="output file (.png, .gif, .webp, .apng, .mp4) or folder (one PNG per frame)",
    )
    grid = parser.add_argument_group("pixel grid (give at most one; default: --pixel-size 8)")
    add_option(grid, SCHEMA["pixel_size"])
    add_option(grid, SCHEMA["grid"])
    grid.add_argument(
        "--detect-grid",
        action="store_true",
        help="find the grid of input that is already pixel art, upscaled or blurred, and restore 1:1 pixels",
    )
    add_option(grid, SCHEMA["reducer"], SCHEMA["reducer"].default)
    colours = parser.add_argument_group("palette")
    for name in ("colors", "palette", "dither"):  # the same flags as pixelgif morph's
        add_option(colours, SCHEMA[name], SCHEMA[name].default)
    colours.add_argument(
        "--dither-strength",
        type=float,
        default=1.0,
        metavar="S",
        help="strength of ordered (Bayer) dithering, 0-1 (default 1)",
    )
    extras = parser.add_argument_group("transparency and clean-up")
    extras.add_argument(
        "--alpha-threshold",
        type=int,
        default=128,
        metavar="A",
        help="source alpha below A (0-255) becomes transparent (default 128)",
    )
    extras.add_argument("--remove-orphans", action="store_true", help="remove isolated single pixels")
    extras.add_argument(
        "--outline",
        action="store_true",
        help="add a 1-pixel dark outline around the subject on a transparent background",
    )
    extras.add_argument("--seed", type=int, default=0, help="random seed of the palette fit (default 0)")
    output = parser.add_argument_group("output")
    output.add_argument(
        "--scale", type=int, default=1, metavar="N", help="nearest-neighbour upscale for display (default 1)"
    )
    output.add_argument(
        "--duration",
        type=int,
        metavar="MS",
        help="milliseconds per frame of an animation (default: the input GIF's timing, else 100)",
    )
    output.add_argument(
        "--loop-count", type=int, default=0, metavar="N", help="times the animation plays, 0 = forever (default 0)"
    )
    output.add_argument("--boomerang", action="store_true", help="play forward, then back")
    output.add_argument(
        "--keep-palette-order",
        action="store_true",
        help="GIF: keep palette indices and order exactly, e.g. for Aseprite (default: only the "
        "colours drawn, reordered for a smaller file; pixels are exact either way)",
    )
    output.add_argument("--format", type=format_name, metavar="FORMAT", help=format_help())
    parser.error = one_line_error(parser)  # bad input is one line, as for every other error
    parser.set_defaults(run=run)
    return parser


def build_config(args):
    """Return the PixelateConfig for parsed arguments (ValueError on bad or conflicting values)."""
    from ..pixelate import PixelateConfig

    return PixelateConfig(
        grid=args.grid,
        pixel_size=args.pixel_size,
        detect_grid=args.detect_grid,
        colors=args.colors,
        palette=args.palette,
        dither=args.dither,
        dither_strength=args.dither_strength,
        reducer=args.reducer,
        alpha_threshold=args.alpha_threshold,
        remove_orphans=args.remove_orphans,
        outline=args.outline,
        seed=args.seed,
    )


def run(args) -> int:
    from ..encode import EncodeConfig, check_output, output_paths, write_animation
    from ..outputs import atomic_output
    from ..pixelate import pixelate_frames
    from ..pixelate.inputs import read_inputs

    config = build_config(args)
    encode = EncodeConfig(duration=100 if args.duration is None else args.duration, scale=args.scale, loop=args.loop_count,
                          boomerang=args.boomerang, format=args.format,
                          keep_palette_order=args.keep_palette_order)  # fmt: skip
    fmt = check_output(args.output, encode)
    output = args.output
    frames = read_inputs(args.inputs)
    art = pixelate_frames(frames.images, config)
    suffix = output.lower().rsplit(".", 1)[-1] if "." in output else ""
    if len(art.images) == 1 and args.format is None and f".{suffix}" in SINGLE_IMAGE_SUFFIXES:
        image = art.scaled(args.scale)[0]  # one image: a plain still file
        with atomic_output(output) as tmp:
            image.save(
                tmp, format=SINGLE_IMAGE_SUFFIXES[f".{suffix}"], **({"lossless": True} if suffix == "webp" else {})
            )
    else:
        duration = args.duration if args.duration is not None else frames.frame_durations()
        write_animation(art.images, output, dataclasses.replace(encode, duration=duration))
    size = art.images[0].size
    what = " (one PNG per frame)" if fmt == "frames" else ""
    what += "".join(f" + {path.name}" for path in output_paths(output, fmt)[1:])
    print(
        f"wrote {output}{what} ({len(art.images)} frame{'s' if len(art.images) > 1 else ''}, {size[0]}x{size[1]} "
        f"pixels, {len(art.palette)} colours)"
    )
    return 0
