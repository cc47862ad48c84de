"""The morph options every front end takes, and the one way they are merged into run settings.

``pixelgif morph`` (flags over ``--from FILE``), ``pixelgif batch`` (each job over the batch's
flags) and the web page (its fields) all name options as here and call `merge_settings`; the
result is a settings document (the schema of the settings file) that `pixelgif.run.settings_request`
turns into a `RunRequest`. Value parsers shared by them (`parse_grid`, `parse_seeds`) live here
too. No torch, no numpy at import, no argparse.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .models.presets import LORA_SCALE
from .morph.config import EASINGS, SCHEDULERS, SPACINGS, TEXT_INTERPOLATIONS, MorphConfig
from .pixelate.config import DEFAULT_COLORS, DITHERS, REDUCERS
from .pixelate.palettes import builtin_names

_GRID = re.compile(r"\s*(\d+)\s*(?:[xX×]\s*(\d+)\s*)?")


def parse_grid(text: str) -> tuple[int, int]:
    """Return (width, height) of "64x48" or "64" (square); ValueError otherwise."""
    match = _GRID.fullmatch(str(text))
    if not match:
        raise ValueError(f"grid must look like 64 or 64x48 (WIDTHxHEIGHT), got {text!r}")
    return int(match.group(1)), int(match.group(2) or match.group(1))


def parse_seeds(text: str) -> list[int]:
    """Return the seeds of "7" or "7,9,11"; ValueError otherwise."""
    try:
        return [int(part) for part in str(text).split(",")]
    except ValueError:
        raise ValueError(f"expected a whole number or comma-separated whole numbers, got {text!r}") from None


@dataclass(frozen=True)
class Option:
    """One morph option: its name (the flag ``--name-with-dashes``, a job file's key, a form field),
    where a settings document keeps it, how text becomes its value, its choices and its help."""

    name: str
    section: str  # "morph", "pixelate", "encode" or "model"; "" for prompts, seed and output
    help: str
    type: Callable[[str], Any] | None = None  # text (a flag, a CSV cell) -> value; None: the text itself
    choices: tuple[str, ...] | None = None
    kind: str = "value"  # "value", "switch" (--name / --no-name) or "list" (repeat the flag)
    metavar: str | None = None
    key: str | None = None  # its name in the section when that differs (loop_count -> encode.loop)
    aliases: tuple[str, ...] = ()  # more flag spellings
    group: str = ""  # the --help group

    @property
    def field(self) -> str:
        """Return the option's key in its settings section."""
        return self.key or self.name

    @property
    def flags(self) -> tuple[str, ...]:
        """Return the command-line spellings: ``--name-with-dashes`` first."""
        return ("--" + self.name.replace("_", "-"), *self.aliases)

    @property
    def default(self) -> Any:
        """Return the value a run uses when the option is not given (None: the model's or the run's choice)."""
        if self.section == "model":
            return {"lora_scale": LORA_SCALE}.get(self.name)
        classes = _config_classes()
        if (self.section or "morph") not in classes:
            return None
        found = {f.name: f.default for f in dataclasses.fields(classes[self.section or "morph"])}
        value = found.get(self.field, dataclasses.MISSING)
        return None if value is dataclasses.MISSING else value

    def help_text(self) -> str:
        """Return the help, with the format list filled in (FORMATS is read when asked)."""
        if "{formats}" not in self.help:
            return self.help
        from .encode import FORMATS

        return self.help.format(formats="; ".join(f"{f.name}: {f.description}" for f in FORMATS.values()))


def parse_format(text: str) -> str:
    """Return the canonical name of output format ``text`` (any case, a suffix or an alias)."""
    from .encode import lookup

    return lookup(text).name


def _config_classes() -> dict[str, type]:
    from .encode import EncodeConfig
    from .pixelate import PixelateConfig

    return {"morph": MorphConfig, "pixelate": PixelateConfig, "encode": EncodeConfig}


def _morph_options() -> list[Option]:
    return [
        Option("frames", "morph", "frames per transition (default 12, 2-1000)", int, metavar="N"),
        Option("loop", "morph", "morph from the last prompt back to the first, for a seamless loop", kind="switch"),
        Option("seed", "", "base seed, keyframe i uses SEED+i (default 0); or one seed per prompt, comma-separated",
               parse_seeds, metavar="SEED[,SEED...]"),
        Option("negative_prompt", "morph", "what to steer away from, for every frame", metavar="TEXT"),
        Option("steps", "morph", "denoising steps (default: the model's, 25 for SD)", int, metavar="N"),
        Option("guidance_scale", "morph", "classifier-free guidance, 0 or more; 1 or less turns it off "
               "(default: the model's, 7.5 for SD)", float, metavar="G"),
        Option("scheduler", "morph", f"{', '.join(SCHEDULERS)} (default: the model's own; DDIM-exact with image "
               "keyframes)", metavar="NAME"),
        Option("width", "morph", "render width, a multiple of 8 (default: the model's)", int, metavar="PX"),
        Option("height", "morph", "render height, a multiple of 8 (default: the model's)", int, metavar="PX"),
        Option("easing", "morph", "pacing within each transition (default linear)", choices=tuple(EASINGS)),
        Option("text_interpolation", "morph", "how prompt embeddings blend: linear (default) or slerp per token",
               choices=TEXT_INTERPOLATIONS),
        Option("batch_size", "morph", "frames rendered at once (default: the model's, 16 for the bundled model, "
               "4 for SD)", int, metavar="N"),
        Option("spacing", "morph", "even (default): every step changes the pixel art equally; linear: even steps "
               "in t", choices=SPACINGS),
        Option("same_noise", "morph", "every keyframe starts from the noise of --seed, so only the text morphs "
               "(steadier, less varied keyframes)", kind="switch"),
        Option("library", "morph", 'bundled model: a prompt that names a drawing of its sprite library (e.g. "a '
               'big blue whale") starts from that drawing, recoloured to the colour it names, and the model renders '
               "the frames between; --no-library: the model draws every keyframe (default on)", kind="switch"),
        Option("adain", "morph", "next to an image keyframe, match the in-between noise's per-channel statistics "
               "to its ends (default on: smoother, keeps colour)", kind="switch", group="image keyframes"),
        Option("midway_guidance", "morph", "0-1: share of --guidance-scale that comes back midway between an image "
               "keyframe and the next (guidance is neutral at an image keyframe so its inversion is exact; "
               "default 0.5; 0: pale in-betweens)", float, metavar="W", group="image keyframes"),
        Option("shapes", "morph", "0-1: bundled model, between two drawings (library or image keyframes): an "
               "in-between starts from the two drawings' pixels moved into each other (optimal transport), noised "
               "this far towards pure noise midway (less near the keyframes) and redrawn, so the outline deforms "
               "instead of cross-fading (default 0.7; 0: in-betweens start from noise)", float, metavar="S",
               group="image keyframes"),
        Option("shape_guidance", "morph", "classifier-free guidance of the in-betweens that --shapes starts from "
               "moved drawings (default 1: off, one model evaluation a step instead of two; the moved drawing "
               "already holds shape and colour)", float, metavar="G", group="image keyframes"),
        Option("shapes_for_renders", "morph", "a prompt keyframe the model draws (not in the library) is drawn "
               "first and morphs like a drawing with --shapes (default on: about half the model evaluations); "
               "--no-shapes-for-renders: its in-betweens start from noise", kind="switch", group="image keyframes"),
    ]  # fmt: skip


def _model_options() -> list[Option]:
    # In this order in RunRequest.model, so in every settings file.
    return [
        Option("model", "model", "bundled (default), a preset (see `pixelgif models`), a hub id, a diffusers "
               "folder, a single-file .safetensors checkpoint, or a model folder made by pixelgif train --full",
               metavar="NAME|PATH|HUB_ID"),
        Option("lora", "model", "a LoRA preset (its base model is used when --model is not given), a hub id, a "
               "folder, or a .safetensors file, with an optional weight; repeat to stack LoRAs, e.g. --lora "
               "pixel-art-xl:1.2 --lora lcm-sdxl (a preset such as lcm-sdxl also sets its scheduler, steps and "
               "guidance unless given)", kind="list", metavar="LORA[:WEIGHT]"),
        Option("lora_scale", "model", f"multiplies the weight of every LoRA given without one (default "
               f"{LORA_SCALE:g}: a preset's recommended weight)", float, metavar="S"),
        Option("device", "model", "auto (default: CUDA, then MPS, then CPU), cpu, cuda, cuda:N, mps", metavar="DEV"),
        Option("dtype", "model", "auto (default): float16 on CUDA; float32 on CPU (bfloat16 for the bundled "
               "model with a LoRA on a CPU with bf16 hardware: AMX, AVX512-BF16)",
               choices=("auto", "float32", "float16", "bfloat16")),
        Option("vae", "model", "replace the model's VAE, e.g. madebyollin/sdxl-vae-fp16-fix for SDXL in float16",
               metavar="NAME|PATH|HUB_ID"),
    ]  # fmt: skip


def _pixel_options() -> list[Option]:
    """The pixel-art options, shared by ``pixelgif morph`` and ``pixelgif pixelate``."""
    return [
        Option("pixel_size", "pixelate", "source pixels per art pixel (default: 8; a morph keeps at least 32 art "
               "pixels across)", int, metavar="N"),
        Option("grid", "pixelate", "art size in pixels instead, e.g. 64x64", parse_grid, metavar="WxH"),
        Option("colors", "pixelate", f"palette size 2-256, fitted on all frames together (default "
               f"{DEFAULT_COLORS}); with --palette, the best K colours of that palette", int, metavar="K"),
        Option("palette", "pixelate", f"built-in palette ({', '.join(builtin_names())}) or a .gpl, .hex, .pal or "
               ".png swatch file", metavar="NAME|FILE"),
        Option("dither", "pixelate", f"{', '.join(DITHERS)}; auto (default): Floyd-Steinberg for one image, "
               "ordered Bayer 4x4 for animations, since ordered dithering is stable across frames", metavar="NAME"),
        Option("reducer", "pixelate", "how a cell becomes one colour: mean (in linear light, default), median, "
               "dominant (most common palette colour: crisp, no in-between colours), edge (keeps thin dark "
               "outlines)", choices=REDUCERS),
    ]  # fmt: skip


def _encode_options() -> list[Option]:
    return [
        Option("duration", "encode", "milliseconds per frame (default 100)", int, metavar="MS"),
        Option("hold", "encode", "extra milliseconds on each keyframe (default 0)", int, metavar="MS",
               aliases=("--hold-ms",)),
        Option("loop_count", "encode", "times the animation plays, 0 = forever (default 0)", int, metavar="N",
               key="loop"),
        Option("boomerang", "encode", "play forward, then back", kind="switch"),
        Option("scale", "encode", "nearest-neighbour upscale (default: back to render size, at least 256 px wide; "
               "1 for spritesheet and frames)", int, metavar="N"),
        Option("format", "encode", "{formats} (default: from -o)", parse_format, metavar="FORMAT"),
        Option("optimize", "encode", "merge repeated frames and store changed areas only (default on)",
               kind="switch"),
        Option("keep_palette_order", "encode", "GIF: keep palette indices and order exactly, e.g. for Aseprite "
               "(default off: only the colours drawn, reordered for a smaller file; pixels are exact either way)",
               kind="switch"),
    ]  # fmt: skip


def _grouped(options: list[Option], group: str) -> list[Option]:
    return [o if o.group else dataclasses.replace(o, group=group) for o in options]


# THE option schema, in --help order: every option of a morph run except its keyframes and output.
SCHEMA: dict[str, Option] = {
    o.name: o
    for o in [*_grouped(_morph_options(), "morph"), *_grouped(_model_options(), "model"),
              *_grouped(_pixel_options(), "pixel art"), *_grouped(_encode_options(), "animation")]
}  # fmt: skip

MODEL_OPTIONS = tuple(o.name for o in SCHEMA.values() if o.section == "model")  # load_engine's keywords
MORPH_FLAGS = tuple(o.name for o in SCHEMA.values() if o.section == "morph")
PIXELATE_FLAGS = tuple(o.name for o in SCHEMA.values() if o.section == "pixelate")
GRID_FLAGS = ("pixel_size", "grid", "detect_grid")  # mutually exclusive in PixelateConfig
# Option name -> EncodeConfig field.
ENCODE_FLAGS = {o.name: o.field for o in SCHEMA.values() if o.section == "encode"}
# Every option `merge_settings` takes: prompts, seeds, output, each section's flags, the model's.
OPTIONS = ("prompts", "seed", "output", *MORPH_FLAGS, *PIXELATE_FLAGS, *ENCODE_FLAGS, *MODEL_OPTIONS)
# Options given as text, parsed by their own parser if any (a CSV cell is never read as a number for them).
TEXT_OPTIONS = (
    "prompts",
    "output",
    *(o.name for o in SCHEMA.values() if o.type not in (int, float) and o.kind != "switch"),
)


def merge_settings(base: dict, options: dict) -> dict:
    """Return the settings of ``base`` (a settings document, or {}) with ``options`` on top.

    ``options`` are values by their `OPTIONS` names, None (or no prompts) meaning not given:
    ``prompts`` a list, ``seed`` a list of one seed or one per prompt, ``output`` a path. Used by
    ``pixelgif morph`` (``--from FILE`` + flags), ``pixelgif batch`` (flags + each job's options)
    and the web page (its fields).
    """
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


def _same_kind(fmt: str | None, output: str) -> bool:
    """Return True if a saved ``fmt`` that its suffix does not name still fits a new output path
    (a spritesheet's .png)."""
    from .encode import FORMATS  # here: the CLI's parser (built for --help) needs no numpy

    known = FORMATS.get(fmt or "")
    return known is not None and not known.detect and any(output.lower().endswith(s) for s in known.suffixes if s)


def _given(options: dict, names) -> dict[str, Any]:
    """Return the options among ``names`` that were given (not None)."""
    return {name: options[name] for name in names if options.get(name) is not None}
