"""``pixelgif morph``: keyframes (prompts or images) in, a pixel-art animation that morphs between them out."""

from __future__ import annotations

import argparse
import time

from .options import format_help, format_name, grid_size, one_line_error

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

MORPH_FLAGS = ("frames", "loop", "negative_prompt", "steps", "guidance_scale", "scheduler", "width", "height",
               "easing", "text_interpolation", "batch_size", "spacing", "same_noise", "adain",
               "midway_guidance", "library")  # fmt: skip
PIXELATE_FLAGS = ("pixel_size", "grid", "colors", "palette", "dither", "reducer")
GRID_FLAGS = ("pixel_size", "grid", "detect_grid")  # mutually exclusive in PixelateConfig
ENCODE_FLAGS = {"duration": "duration", "hold": "hold", "loop_count": "loop", "boomerang": "boomerang",
                "scale": "scale", "format": "format", "optimize": "optimize",
                "keep_palette_order": "keep_palette_order"}  # fmt: skip
# Every option `merge_settings` takes: prompts, seeds, output, each section's flags, run.MODEL_OPTIONS.
OPTIONS = ("prompts", "seed", "output", *MORPH_FLAGS, *PIXELATE_FLAGS, *ENCODE_FLAGS,
           "model", "lora", "lora_scale", "device", "dtype", "vae")  # fmt: skip


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
    """Add the morph, model, pixel-art and animation flags (``pixelgif batch`` shares them); return the
    animation group."""
    from ..morph.config import EASINGS, SCHEDULERS, SPACINGS, TEXT_INTERPOLATIONS

    morph = parser.add_argument_group("morph")
    morph.add_argument("--frames", type=int, metavar="N", help="frames per transition (default 12, at least 2)")
    morph.add_argument(
        "--loop",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="morph from the last prompt back to the first, for a seamless loop",
    )
    morph.add_argument(
        "--seed",
        type=_seeds,
        metavar="SEED[,SEED...]",
        help="base seed, keyframe i uses SEED+i (default 0); or one seed per prompt, comma-separated",
    )
    morph.add_argument("--negative-prompt", metavar="TEXT", help="what to steer away from, for every frame")
    morph.add_argument("--steps", type=int, metavar="N", help="denoising steps (default: the model's, 25 for SD)")
    morph.add_argument(
        "--guidance-scale",
        type=float,
        metavar="G",
        help="classifier-free guidance, 0 or more; 1 or less turns it off (default: the model's, 7.5 for SD)",
    )
    morph.add_argument(
        "--scheduler",
        metavar="NAME",
        help=f"{', '.join(SCHEDULERS)} (default: the model's own; DDIM-exact with image keyframes)",
    )
    morph.add_argument("--width", type=int, metavar="PX", help="render width, a multiple of 8 (default: the model's)")
    morph.add_argument("--height", type=int, metavar="PX", help="render height, a multiple of 8 (default: the model's)")
    morph.add_argument("--easing", choices=EASINGS, help="pacing within each transition (default linear)")
    morph.add_argument(
        "--text-interpolation",
        choices=TEXT_INTERPOLATIONS,
        help="how prompt embeddings blend: linear (default) or slerp per token",
    )
    morph.add_argument(
        "--batch-size",
        type=int,
        metavar="N",
        help="frames rendered at once (default: the model's, 16 for the bundled model, 4 for SD)",
    )
    morph.add_argument(
        "--spacing",
        choices=SPACINGS,
        help="even (default): every step changes the pixel art equally; linear: even steps in t",
    )
    morph.add_argument(
        "--same-noise",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="every keyframe starts from the noise of --seed, so only the text morphs (steadier, "
        "less varied keyframes)",
    )

    morph.add_argument(
        "--library",
        action=argparse.BooleanOptionalAction,
        default=None,
        help='bundled model: a prompt that names a drawing of its sprite library (e.g. "a big blue whale") '
        "starts from that drawing, recoloured to the colour it names, and the model renders the frames "
        "between; --no-library: the model draws every keyframe (default on)",
    )

    images = parser.add_argument_group("image keyframes")
    images.add_argument(
        "--caption",
        action="append",
        metavar="TEXT",
        help="caption of an image keyframe: give it once per image keyframe, in order (default: none)",
    )
    images.add_argument(
        "--adain",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="next to an image keyframe, match the in-between noise's per-channel statistics to its ends "
        "(default on: smoother, keeps colour)",
    )
    images.add_argument(
        "--midway-guidance",
        type=float,
        metavar="W",
        help="0-1: share of --guidance-scale that comes back midway between an image keyframe and the next "
        "(guidance is neutral at an image keyframe so its inversion is exact; default 0.5; 0: pale in-betweens)",
    )

    model = parser.add_argument_group("model")
    model.add_argument(
        "--model",
        metavar="NAME|PATH|HUB_ID",
        help="bundled (default), a preset (see `pixelgif models`), a hub id, a diffusers folder, "
        "a single-file .safetensors checkpoint, or a model folder made by pixelgif train --full",
    )
    model.add_argument(
        "--lora",
        action="append",
        metavar="LORA[:WEIGHT]",
        help="a LoRA preset (its base model is used when --model is not given), a hub id, a folder, "
        "or a .safetensors file, with an optional weight; repeat to stack LoRAs, e.g. "
        "--lora pixel-art-xl:1.2 --lora lcm-sdxl (a preset such as lcm-sdxl also sets its scheduler, "
        "steps and guidance unless given)",
    )
    model.add_argument(
        "--vae",
        metavar="NAME|PATH|HUB_ID",
        help="replace the model's VAE, e.g. madebyollin/sdxl-vae-fp16-fix for SDXL in float16",
    )
    model.add_argument(
        "--lora-scale",
        type=float,
        metavar="S",
        help="multiplies the weight of every LoRA given without one (default 1: a preset's recommended weight)",
    )
    model.add_argument(
        "--device", metavar="DEV", help="auto (default: CUDA, then MPS, then CPU), cpu, cuda, cuda:N, mps"
    )
    model.add_argument(
        "--dtype",
        choices=("auto", "float32", "float16", "bfloat16"),
        help="auto (default): float16 on CUDA; on CPU float32, or bfloat16 for the bundled model "
        "when the CPU has bf16 hardware (AMX, AVX512-BF16)",
    )

    pixels = parser.add_argument_group("pixel art")
    pixels.add_argument(
        "--pixel-size",
        type=int,
        metavar="N",
        help="render pixels per art pixel (default: 8, but at least 32 art pixels across)",
    )
    pixels.add_argument("--grid", type=grid_size, metavar="WxH", help="art size in pixels instead, e.g. 64x64")
    pixels.add_argument("--colors", type=int, metavar="K", help="palette size 2-256, shared by all frames (default 16)")
    pixels.add_argument(
        "--palette",
        metavar="NAME|FILE",
        help="built-in palette (pico-8, gameboy, nes, ...) or a .gpl/.hex/.pal/.png file",
    )
    pixels.add_argument(
        "--dither",
        metavar="NAME",
        help="auto (default: ordered Bayer 4x4, stable across frames), none, bayer2, bayer4, bayer8, "
        "floyd-steinberg, atkinson",
    )
    pixels.add_argument(
        "--reducer", choices=("mean", "median", "dominant", "edge"), help="how a cell becomes one colour"
    )

    out = parser.add_argument_group("animation")
    out.add_argument("--duration", type=int, metavar="MS", help="milliseconds per frame (default 100)")
    out.add_argument(
        "--hold-ms",
        "--hold",
        dest="hold",
        type=int,
        metavar="MS",
        help="extra milliseconds on each keyframe (default 0)",
    )
    out.add_argument("--loop-count", type=int, metavar="N", help="times the animation plays, 0 = forever (default 0)")
    out.add_argument("--boomerang", action=argparse.BooleanOptionalAction, default=None, help="play forward, then back")
    out.add_argument(
        "--scale",
        type=int,
        metavar="N",
        help="nearest-neighbour upscale (default: back to render size, at least 256 px wide; "
        "1 for spritesheet and frames)",
    )
    out.add_argument("--format", type=format_name, metavar="FORMAT", help=format_help())
    out.add_argument(
        "--optimize",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="merge repeated frames and store changed areas only (default on)",
    )
    out.add_argument(
        "--keep-palette-order",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="GIF: keep palette indices and order exactly, e.g. for Aseprite (default off: "
        "only the colours drawn, reordered for a smaller file; pixels are exact either way)",
    )
    return out


def run(args) -> int:
    from ..run import check_run, load_engine, run_morph

    # Everything that can be checked without torch is checked first: bad input fails in a blink.
    request = build_request(args)
    check_run(request)
    _quiet_libraries()
    started = time.perf_counter()
    engine = load_engine(request.model, progress=not args.quiet)
    written = run_morph(request, engine, progress=not args.quiet, source="cli", started=started)
    result = written.result
    if written.quality is not None:
        for line in written.quality.summary_lines(result.renders, result.linear_renders):
            print(line)
        print(f"wrote {written.report}")
    for index, match in sorted(result.library.items()):
        print(f"keyframe {index + 1} ({match.prompt!r}): the sprite library's {match.describe()}")
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


def merge_settings(base: dict, options: dict) -> dict:
    """Return the settings of ``base`` (a settings document, or {}) with ``options`` on top.

    ``options`` are flag values by their `OPTIONS` names, None (or no prompts) meaning not given:
    ``prompts`` a list, ``seed`` a list of one seed or one per prompt, ``output`` a path. Used by
    `build_request` (``--from FILE`` + flags) and by ``pixelgif batch`` (flags + each job's options).
    """
    from ..run import MODEL_OPTIONS

    options = {name: value for name, value in options.items() if value is not None}
    morph = dict(base.get("morph", {}))
    prompts = options.get("prompts")
    if prompts:
        if len(prompts) != len(morph.get("prompts", prompts)):
            morph.pop("seeds", None)  # per-keyframe seeds no longer line up
        morph["prompts"] = list(prompts)
    seed = options.get("seed")
    if seed is not None:
        morph["seed"], morph["seeds"] = seed[0], (list(seed) if len(seed) > 1 else None)
    same_noise = options.get("same_noise")
    if same_noise is not None and same_noise != morph.get("same_noise", False) and seed is None:
        morph.pop("seeds", None)  # the saved per-keyframe seeds followed the old choice
    morph.update(_given(options, MORPH_FLAGS))

    pixelate = dict(base.get("pixelate", {}))
    given = _given(options, PIXELATE_FLAGS)
    if any(name in given for name in GRID_FLAGS):
        for name in GRID_FLAGS:
            pixelate.pop(name, None)  # a new grid choice replaces the saved one
    pixelate.update(given)

    encode = dict(base.get("encode", {}))
    output = options.get("output")
    if output and "format" not in options and not _same_kind(encode.get("format"), str(output)):
        encode.pop("format", None)  # a new -o decides the format by its suffix
    encode.update({ENCODE_FLAGS[k]: v for k, v in _given(options, ENCODE_FLAGS).items()})

    model = {**base.get("model", {}), **_given(options, MODEL_OPTIONS)}
    if isinstance(model.get("lora"), list) and len(model["lora"]) == 1:
        model["lora"] = model["lora"][0]  # one LoRA is recorded as a name, as before stacking
    return {"model": model, "morph": morph, "pixelate": pixelate, "encode": encode,
            "output": output or base.get("output")}  # fmt: skip


def settings_request(settings: dict, report: bool = False, save_frames=None):
    """Return the validated `RunRequest` of merged ``settings`` (see `merge_settings`)."""
    from ..encode import EncodeConfig
    from ..morph.config import MorphConfig
    from ..pixelate import PixelateConfig
    from ..run import MODEL_OPTIONS, RunRequest
    from ..settings import config_from_dict

    encode, model = settings["encode"], settings["model"]
    return RunRequest(
        morph=config_from_dict(MorphConfig, settings["morph"], "morph"),
        pixelate=config_from_dict(PixelateConfig, settings["pixelate"], "pixelate"),
        encode=config_from_dict(EncodeConfig, encode, "encode"),
        model={name: model.get(name) for name in MODEL_OPTIONS},
        output=settings["output"],
        auto_scale="scale" not in encode,
        report=report,
        save_frames=save_frames,
    )


def parse_keyframes(arguments: list[str], captions: list[str]) -> list:
    """Return the keyframes of the command line (prompts and image `Keyframe` s), captions given in order."""
    from ..morph.keyframes import looks_like_image, parse_keyframe

    images = sum(looks_like_image(text) for text in arguments)
    if len(captions) > images:
        raise ValueError(f"got {len(captions)} --caption for {images} image keyframe(s); give one per image, in order")
    remaining = iter(captions)
    return [parse_keyframe(text, next(remaining, None) if looks_like_image(text) else None) for text in arguments]


def _same_kind(fmt: str | None, output: str) -> bool:
    """Return True if a saved ``fmt`` that its suffix does not name still fits a new output path
    (a spritesheet's .png)."""
    from ..encode import FORMATS

    known = FORMATS.get(fmt or "")
    return known is not None and not known.detect and any(output.lower().endswith(s) for s in known.suffixes if s)


def _given(options: dict, names) -> dict:
    """Return the options among ``names`` that were given (not None)."""
    return {name: options[name] for name in names if options.get(name) is not None}


def _seeds(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number or comma-separated whole numbers, got {text!r}"
        ) from None


def _quiet_libraries() -> None:
    """Silence library warnings and progress bars: the user sees our bar and one summary line."""
    import transformers  # before diffusers, whose imports otherwise warn through transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    import diffusers

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
