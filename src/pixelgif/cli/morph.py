"""``pixelgif morph``: keyframes (prompts or images) in, a pixel-art animation that morphs between them out."""

from __future__ import annotations

import argparse
import time

from ..options import OPTIONS, SCHEMA, merge_settings
from .options import add_options, one_line_error

DESCRIPTION = """\
Morph between KEYFRAMEs, each a prompt or an image: a prompt is rendered, an image is inverted to
the noise that makes it again; text embeddings and starting noise are interpolated frame by
frame, every frame is turned into pixel art on one shared palette, and the frames are written as
a GIF (or WebP, APNG, MP4 by the suffix of -o; a spritesheet with Aseprite JSON or a folder of
PNGs with --format). Every setting is saved in a JSON file next to the output
(same name, .json; NAME.settings.json for a spritesheet); --from that file makes the same frames again."""

EPILOG = """\
frames: --frames N counts a transition's start keyframe but not its end, so K keyframes give
(K-1)*N+1 frames, or K*N with --loop. Each keyframe has one seed (default: --seed + its index).
spacing: "even" (default) renders a coarse pass, measures how much the pixel art changes from
frame to frame and re-places the frames so every step changes it equally (at most 1.5x the renders
of "linear", which steps evenly in t). --report prints the smoothness and plots every step.

image keyframes: a KEYFRAME that names an existing .png, .jpg, .jpeg, .webp, .gif or .bmp file is
an image, any other text a prompt; image:PATH forces an image, prompt:TEXT a prompt (a prompt that
ends in ".png" but names no file is an error, not silently a prompt). Any image mode works; a GIF
gives its first frame. The image is fitted inside the render frame with its aspect ratio kept and
centred, the rest transparent (bundled model) or white (RGB models, which also get transparency
composited on white); a smaller image is enlarged by the largest whole factor with nearest
neighbour (a 16x16 sprite becomes 32x32 for the bundled model), a larger one is reduced by area
averaging. It is inverted under its --caption (none: the empty text, which works well) and comes
back in the output pixel for pixel after pixelation; a fitted palette keeps its colours exactly.

examples:
  pixelgif morph knight.png wizard.png --loop -o powerup.gif         # two sprites, bundled model
  pixelgif morph knight.png "a wizard with a staff" --caption "a knight" -o k.gif
  pixelgif morph "snowy cabin in the woods" "ancient castle with a fire breathing dragon above" -o cabin.gif
  pixelgif morph "a red dragon" "a blue whale" "a green frog" --loop --frames 16 --seed 7 -o loop.gif
  pixelgif morph "a knight" "a wizard" --model ./my-sd-folder --scheduler DPM-Solver++ --steps 20 -o k.gif
  pixelgif morph "a knight" "a wizard" --lora pixelart-v2 --steps 30 -o knight.gif   # SD 2.1, needs a GPU
  pixelgif morph "pixel art, a knight" "pixel art, a wizard" --lora pixel-art-xl --lora lcm-sdxl -o k.gif  # SDXL, 8 steps
  pixelgif morph "a cat" "a castle" --report -o cat.gif     # also print smoothness, plot it to cat.report.png
  pixelgif morph "a knight" "a wizard" --format spritesheet -o knight.png   # knight.png + knight.json (Aseprite)
  pixelgif morph "a knight" "a wizard" -o knight_frames/    # a folder of PNGs, one per frame
  pixelgif morph --from cabin.json                          # the same frames again
  pixelgif morph --from cabin.json --seed 3 -o cabin3.gif   # the same settings, another seed"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "morph", help="morph between prompts as a pixel-art GIF", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument(
        "prompts",
        nargs="*",
        metavar="KEYFRAME",
        help="two or more keyframes in order: a prompt, or an image file (see 'image keyframes' below)",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="output: .gif, .webp, .png/.apng or .mp4 file, a folder (PNG frames), or a .png with --format spritesheet",
    )
    parser.add_argument(
        "--from",
        dest="from_settings",
        metavar="JSON",
        help="settings file of an earlier run; flags given here override it",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--report",
        action="store_true",
        help="print smoothness numbers and plot the change per frame to OUT.report.png (needs matplotlib)",
    )

    out = add_run_options(parser)
    out.add_argument("--save-frames", metavar="DIR", help="also save raw and pixel-art frames as PNG in DIR")

    parser.error = one_line_error(parser)  # bad input is one line, as for every other error
    parser.set_defaults(run=run)
    return parser


def add_run_options(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """Add a flag for every option of `pixelgif.options.SCHEMA` (``pixelgif batch`` shares them) and
    --caption; return the animation group."""
    groups = add_options(parser, SCHEMA.values())
    groups["image keyframes"].add_argument(
        "--caption",
        action="append",
        metavar="TEXT",
        help="caption of an image keyframe: give it once per image keyframe, in order (default: none)",
    )
    return groups["animation"]


def run(args) -> int:
    from ..models import start_sprite_session
    from ..run import check_run, load_engine, run_morph

    # Everything that can be checked without torch is checked first: bad input fails in a blink.
    request = build_request(args)
    fmt = check_run(request)
    if fmt == "gif":
        from ..encode.gif import helper

        helper.start()  # loads numba on another core while this process loads torch and the model
    start_sprite_session(request.model)  # the bundled UNet's ONNX Runtime session, built meanwhile
    _quiet_libraries(request.model)
    started = time.perf_counter()
    engine = load_engine(**request.model, progress=not args.quiet)
    written = run_morph(request, engine, progress=not args.quiet, source="cli", started=started)
    result = written.result
    if written.quality is not None:
        for line in written.quality.summary_lines(result.renders, result.linear_renders):
            print(line)
        print(f"wrote {written.report}")
    for index, match in sorted(result.library.items()):
        print(f"keyframe {index + 1} ({match.prompt!r}): the sprite library's {match.describe()}")
    for index, colour in sorted(result.recoloured.items()):
        print(f"keyframe {index + 1} ({result.config.prompts[index]!r}): drawn by the model, recoloured {colour}")
    refused = getattr(getattr(engine.pipe, "library", None), "refused", {})  # near but not the thing named
    for index, keyframe in enumerate(result.config.prompts):
        if isinstance(keyframe, str) and index not in result.library and keyframe in refused:
            print(f"keyframe {index + 1} ({keyframe!r}): no sprite-library drawing is that ({refused[keyframe]}); "
                  "the model draws it")  # fmt: skip
    width, height = (side * written.encode.scale for side in result.size)
    also = "".join(f" + {path.name}" for path in written.files[1:])
    print(
        f"wrote {written.output}{also} ({len(result.frames)} frames, {width}x{height} pixels, {written.seconds:.1f} s)"
    )
    return 0


def build_request(args):
    """Return the validated `RunRequest` of a run: settings file first, then the flags given on top."""
    from ..run import settings_request
    from ..settings import read_settings

    if args.caption and not args.prompts:
        raise ValueError("--caption names the image keyframes given on the command line; give them too")
    options = {name: getattr(args, name) for name in OPTIONS}
    if args.prompts:
        options["prompts"] = parse_keyframes(args.prompts, args.caption or [])
    base = read_settings(args.from_settings) if args.from_settings else {}
    settings = merge_settings(base, options)
    if "prompts" not in settings["morph"]:
        raise ValueError("a morph needs at least two prompts, got 0 (or give --from SETTINGS.json)")
    if not settings["output"]:
        raise ValueError("no output file: give -o OUT (e.g. -o morph.gif)")
    return settings_request(settings, report=args.report, save_frames=args.save_frames)


def parse_keyframes(arguments: list[str], captions: list[str]) -> list:
    """Return the keyframes of the command line (prompts and image `Keyframe` s), captions given in order."""
    from ..morph.keyframes import looks_like_image, parse_keyframe

    images = sum(looks_like_image(text) for text in arguments)
    if len(captions) > images:
        raise ValueError(f"got {len(captions)} --caption for {images} image keyframe(s); give one per image, in order")
    remaining = iter(captions)
    return [parse_keyframe(text, next(remaining, None) if looks_like_image(text) else None) for text in arguments]


def _quiet_libraries(*models: dict) -> None:
    """Silence library warnings and progress bars: the user sees our bar and one summary line.

    ``models`` (`RunRequest.model` s, those the run will load): when every one is the bundled
    sprite model (or a folder of its architecture), which loads without transformers and diffusers,
    neither is imported here (that took seconds of a cold start); the environment quiets them
    should they load after all.
    """
    import os

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    from ..models.presets import uses_sprite_model

    if models and all(uses_sprite_model(model) for model in models):
        return
    import transformers  # before diffusers, whose imports otherwise warn through transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    import diffusers

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
