"""The morph options every front end takes, and the one way they are merged into run settings.

``pixelgif morph`` (flags over ``--from FILE``), ``pixelgif batch`` (each job over the batch's
flags) and the web page (its fields) all name options as here and call `merge_settings`; the
result is a settings document (the schema of the settings file) that `pixelgif.run.settings_request`
turns into a `RunRequest`. Value parsers shared by them (`parse_grid`, `parse_seeds`) live here
too. No torch, no numpy at import, no argparse.
"""

from __future__ import annotations

import re
from typing import Any

MODEL_OPTIONS = ("model", "lora", "lora_scale", "device", "dtype", "vae")  # pixelgif.run.load_engine's keywords
MORPH_FLAGS = ("frames", "loop", "negative_prompt", "steps", "guidance_scale", "scheduler", "width", "height",
               "easing", "text_interpolation", "batch_size", "spacing", "same_noise", "adain",
               "midway_guidance", "library")  # fmt: skip
PIXELATE_FLAGS = ("pixel_size", "grid", "colors", "palette", "dither", "reducer")
GRID_FLAGS = ("pixel_size", "grid", "detect_grid")  # mutually exclusive in PixelateConfig
# Option name -> EncodeConfig field.
ENCODE_FLAGS = {"duration": "duration", "hold": "hold", "loop_count": "loop", "boomerang": "boomerang",
                "scale": "scale", "format": "format", "optimize": "optimize",
                "keep_palette_order": "keep_palette_order"}  # fmt: skip
# Every option `merge_settings` takes: prompts, seeds, output, each section's flags, the model's.
OPTIONS = ("prompts", "seed", "output", *MORPH_FLAGS, *PIXELATE_FLAGS, *ENCODE_FLAGS, *MODEL_OPTIONS)

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
