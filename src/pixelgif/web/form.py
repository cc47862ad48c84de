"""The web form without gradio: defaults read from the config dataclasses, form values -> configs.

Every field is an option of `pixelgif.options.SCHEMA`: its default and choices come from there
(other lists from the module that defines them), the form's values become a run through
`pixelgif.options.merge_settings` and `pixelgif.run.settings_request` as the CLI's flags do, and a
settings file fills the form by the schema's sections and keys, so the CLI, the settings file and
the page cannot drift apart. No torch and no gradio here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, overload

from ..encode import FORMATS
from ..models import BUNDLED, LORA_PRESETS, MODEL_PRESETS
from ..morph.config import SCHEDULERS
from ..morph.keyframes import Keyframe as MorphKeyframe
from ..options import SCHEMA, merge_settings, parse_grid
from ..pixelate import builtin_names
from ..pixelate.config import DEFAULT_COLORS, DITHERS
from ..run import RunRequest, settings_request
from .storyboard import MAX_KEYFRAMES, Keyframe

AUTO = "auto"  # scale choice: back to the render size, like the CLI
DEFAULT_SCHEDULER = "default"  # the model's own scheduler
FITTED = "fitted"  # palette choice: fit colours to the frames
COLORS_HINT = f"{DEFAULT_COLORS}, or every colour of the palette"
# The options of `pixelgif.options.SCHEMA` the page has a field for (the storyboard holds prompts and seeds).
FORM_OPTIONS = ("frames", "loop", "library", "model", "lora", "lora_scale", "steps", "guidance_scale", "scheduler",
                "width", "height", "negative_prompt", "easing", "text_interpolation", "spacing", "batch_size",
                "pixel_size", "grid", "colors", "palette", "dither", "reducer", "duration", "hold", "loop_count",
                "boomerang", "scale")  # fmt: skip
# Page values for "not given" (the schema's None), and the scale choice the page starts with.
BLANKS = {"model": BUNDLED, "lora": "", "scheduler": DEFAULT_SCHEDULER, "negative_prompt": "", "palette": FITTED}
# Text boxes (blank: the model's default); the form shows their numbers as text.
TEXT_FIELDS = ("steps", "guidance_scale", "width", "height", "batch_size", "pixel_size", "colors")
# MorphConfig fields with a fixed set of values, and the values.
MORPH_CHOICES = {o.name: o.choices for o in SCHEMA.values() if o.section == "morph" and o.choices}


def formats() -> list[str]:
    """Return every output format the encoder writes, in its own order."""
    return list(FORMATS)


def defaults() -> dict[str, Any]:
    """Return the initial value of every form field (keyframes are the storyboard's): the schema's defaults."""
    values = {name: SCHEMA[name].default for name in FORM_OPTIONS}
    values.update({name: blank for name, blank in BLANKS.items() if values[name] is None})
    values["grid"] = _grid_text(values["grid"])
    values["scale"] = AUTO  # back to the render size, as the CLI does
    return values


def choices() -> dict[str, list[str]]:
    """Return the options of each drop-down field: the schema's choices, and lists read from their modules."""
    options = {name: list(choices) for name in FORM_OPTIONS if (choices := SCHEMA[name].choices)}
    options.update({
        "model": [BUNDLED, *MODEL_PRESETS],
        "lora": ["", *LORA_PRESETS],
        "scheduler": [DEFAULT_SCHEDULER, *SCHEDULERS],
        "palette": [FITTED, *builtin_names()],
        "dither": list(DITHERS),
        "scale": [AUTO, *(str(n) for n in range(1, 17))],
    })  # fmt: skip
    return options


def keyframes_from_slots(count, prompts, seeds, locks, images=None) -> list[Keyframe]:
    """Return the first ``count`` storyboard slots as keyframes; ValueError names a bad seed."""
    count = int(count)
    images = images or [None] * count
    keyframes = []
    for i in range(count):
        seed = _whole(f"seed of keyframe {i + 1}", seeds[i], required=True)
        keyframes.append(Keyframe(str(prompts[i] or "").strip(), seed, bool(locks[i]), images[i] or None))
    return keyframes


def _morph_keyframe(keyframe: Keyframe) -> str | MorphKeyframe:
    """Return what `MorphConfig.prompts` takes for a storyboard keyframe: its prompt, or its image with the prompt as caption."""
    if keyframe.image:
        return MorphKeyframe(image=keyframe.image, caption=keyframe.prompt or None)
    return keyframe.prompt


def parse_form(values: dict[str, Any], keyframes: list[Keyframe], palette_file: str | None = None) -> RunRequest:
    """Return the run that form ``values`` and the storyboard describe; ValueError names a bad field.

    ``palette_file`` (an uploaded, already checked palette) replaces the palette drop-down. A blank
    field means the default, as a flag left out does.
    """
    palette = (values.get("palette") or "").strip()
    scale = str(values.get("scale") or AUTO)
    lora_scale = _number("LoRA scale", values.get("lora_scale"))
    options = {
        "prompts": [_morph_keyframe(k) for k in keyframes],
        "seed": [k.seed for k in keyframes] or None,
        "frames": _whole("frames", values["frames"], required=True),
        "loop": bool(values["loop"]),
        "library": bool(values.get("library", True)),
        "steps": _whole("steps", values.get("steps")),  # 0 is refused, not the default: blank is
        "guidance_scale": _number("guidance", values.get("guidance_scale")),
        "width": _whole("width", values.get("width"), blank_zero=True),
        "height": _whole("height", values.get("height"), blank_zero=True),
        "scheduler": values.get("scheduler") or None,
        **{name: values[name] for name in MORPH_CHOICES if name in values},
        "negative_prompt": (values.get("negative_prompt") or "").strip() or None,
        "batch_size": _whole("batch size", values.get("batch_size"), blank_zero=True),
        "pixel_size": _whole("pixel size", values.get("pixel_size"), blank_zero=True),
        "grid": _grid(values.get("grid")),
        "colors": _whole("colours", values.get("colors"), blank_zero=True),
        "palette": palette_file or (None if palette in ("", FITTED) else palette),
        "dither": values["dither"],
        "reducer": values["reducer"],
        "duration": _whole("duration", values["duration"], required=True),
        "hold": _whole("hold", values["hold"], required=True),
        "loop_count": _whole("loop count", values.get("loop_count"), required=True),
        "boomerang": bool(values["boomerang"]),
        "scale": None if scale == AUTO else _whole("scale", scale, required=True),
        "model": (values.get("model") or "").strip() or None,
        "lora": (values.get("lora") or "").strip() or None,
        "lora_scale": lora_scale,
    }
    settings = merge_settings({}, options)
    settings["output"] = RunRequest.output  # the studio picks the output file; the settings need one
    return settings_request(settings)


@overload
def _whole(name: str, value, blank_zero: bool = False, *, required: Literal[True]) -> int: ...
@overload
def _whole(name: str, value, blank_zero: bool = False, required: bool = False) -> int | None: ...
def _whole(name: str, value, blank_zero: bool = False, required: bool = False) -> int | None:
    """Return ``value`` as an int; None for a blank field (and for 0 when ``blank_zero``)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValueError(f"{name} is empty; give a whole number")
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a whole number, got {value!r}") from None
    if not number.is_integer():
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    return None if blank_zero and number == 0 else int(number)


def _number(name: str, value) -> float | None:
    """Return ``value`` as a float, or None for a blank field."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None


def _grid(text) -> tuple[int, int] | None:
    """Return the (width, height) of "64", "64x48" or None for blank (size from the render)."""
    text = str(text or "").strip()
    return parse_grid(text) if text else None


def _grid_text(grid) -> str:
    return "" if grid is None else f"{grid[0]}x{grid[1]}"


def default_model() -> dict[str, Any]:
    """Return the model options of the page's default form (what `Studio.preload` loads at start)."""
    values = defaults()
    return parse_form(values, [Keyframe("a", 0), Keyframe("b", 1)]).model


def settings_to_form(data: dict[str, Any]) -> tuple[dict[str, Any], list[Keyframe], list[str]]:
    """Return (form values, keyframes, notes) for a checked settings document (`read_settings`).

    The values are what `parse_form` turns back into the same run; ``notes`` say what the page
    could not take over as it was (a palette given as colours comes back as ``palette_colours``).
    """
    morph, pixel, enc, model = (data.get(s) or {} for s in ("morph", "pixelate", "encode", "model"))
    values, notes = defaults(), []
    prompts = list(morph.get("prompts") or [])
    if len(prompts) < 2:
        raise ValueError("the settings file has fewer than two prompts")
    if len(prompts) > MAX_KEYFRAMES:
        raise ValueError(f"the settings file has {len(prompts)} prompts; the page holds at most {MAX_KEYFRAMES}")
    seed = int(morph.get("seed") or 0)
    seeds = morph.get("seeds") or [seed + i for i in range(len(prompts))]
    keyframes = []
    for index, (prompt, s) in enumerate(zip(prompts, seeds, strict=False)):
        if isinstance(prompt, dict):  # an image keyframe: its file, if this server still has it
            image, caption = prompt.get("image"), prompt.get("caption") or ""
            if not (isinstance(image, str) and Path(image).is_file()):
                notes.append(f"the image of keyframe {index + 1} is not on this server; upload it again")
                image = None
            keyframes.append(Keyframe(caption, int(s), True, image))
        else:
            keyframes.append(Keyframe(str(prompt), int(s), True))
    for name in FORM_OPTIONS:  # what the file sets, by the schema's section and key
        option = SCHEMA[name]
        section = data.get(option.section) or {}
        value = section.get(option.field)
        if name not in OWN_READING and option.field in section and (value is not None or name in NULLABLE):
            values[name] = _form_value(name, value)
    values["negative_prompt"] = morph.get("negative_prompt") or ""
    loras = model.get("lora")
    if isinstance(loras, list):
        if len(loras) > 1:
            notes.append(f"the page takes one LoRA; {len(loras) - 1} more in the file were left out")
        loras = loras[0] if loras else None
    values["model"] = model.get("model") or BUNDLED
    values["lora"] = loras or ""
    palette = pixel.get("palette")
    values["palette"], values["palette_colours"] = FITTED, None
    if isinstance(palette, list):
        values["palette_colours"] = [[int(c) for c in colour[:3]] for colour in palette]
    elif isinstance(palette, str) and palette in builtin_names():
        values["palette"] = palette
    elif palette:
        notes.append(f"palette file {palette!r} is not on this server; upload it again")
    if isinstance(values["duration"], list):
        values["duration"] = int(values["duration"][0])
        notes.append("per-frame durations: the page uses the first for every frame")
    if enc.get("scale"):
        values["scale"] = str(enc["scale"])
    return values, keyframes, notes


# Form fields that `settings_to_form` fills in its own way, and those a null in the file clears.
OWN_READING = ("model", "lora", "negative_prompt", "palette", "scale")
NULLABLE = (*TEXT_FIELDS, "grid", "scheduler")


def _form_value(name: str, value: Any) -> Any:
    """Return a settings file's ``value`` of option ``name`` as the form field shows it."""
    if name in TEXT_FIELDS:
        return "" if value is None else str(value)
    if name == "grid":
        return _grid_text(value)
    if name == "scheduler":
        return value or DEFAULT_SCHEDULER
    return value


def palette_preview(name: str | None, palette_file: str | None = None) -> tuple[list[list[int]] | None, str]:
    """Return (colours, note) of the palette the form picks: an upload, a built-in name or fitted."""
    from ..pixelate.palettes import builtin_palette, load_palette_file

    try:
        if palette_file:
            colours = load_palette_file(palette_file)
            return colours.tolist(), f"{len(colours)} colours from the uploaded file"
        if name and name != FITTED:
            colours = builtin_palette(name)
            return colours.tolist(), f"{name}: {len(colours)} colours"
    except (ValueError, OSError) as exc:
        return None, str(exc)
    return None, "fitted: the colours are picked from the frames"
