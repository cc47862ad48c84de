"""The web form without gradio: defaults read from the config dataclasses, values -> configs, one run.

Every default shown in the form comes from `MorphConfig`, `PixelateConfig`, `EncodeConfig` or
`pixelgif.models.load_pipeline`, so the CLI, the settings file and the UI cannot drift apart.
No torch here: the engine is loaded on the first Generate.
"""

from __future__ import annotations

import dataclasses
import inspect
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..encode import EncodeConfig, auto_scale, write_animation
from ..models import BUNDLED, LORA_PRESETS, MODEL_PRESETS, load_pipeline
from ..morph_config import EASINGS, SCHEDULERS, TEXT_INTERPOLATIONS, MorphConfig
from ..pixelate import PixelateConfig, builtin_names
from ..pixelate.config import DEFAULT_COLORS, DITHERS, REDUCERS

AUTO = "auto"  # scale choice: back to the render size, like the CLI
DEFAULT_SCHEDULER = "default"  # the model's own scheduler
FITTED = "fitted"  # palette choice: fit colours to the frames
FORMATS = {"gif": ".gif", "webp": ".webp", "apng": ".png", "mp4": ".mp4"}


def field_defaults(cls) -> dict[str, Any]:
    """Return {field name: default} of a config dataclass (fields without a default are left out)."""
    return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}


def defaults() -> dict[str, Any]:
    """Return the initial value of every form field."""
    morph, pixel, encode = field_defaults(MorphConfig), field_defaults(PixelateConfig), field_defaults(EncodeConfig)
    return {
        "prompts": "",
        "negative_prompt": morph["negative_prompt"] or "",
        "seed": morph["seed"],
        "frames": morph["frames"],
        "loop": morph["loop"],
        "model": BUNDLED,
        "lora": "",
        "lora_scale": inspect.signature(load_pipeline).parameters["lora_scale"].default,
        "steps": morph["steps"],
        "guidance_scale": morph["guidance_scale"],
        "width": morph["width"],
        "height": morph["height"],
        "scheduler": morph["scheduler"] or DEFAULT_SCHEDULER,
        "easing": morph["easing"],
        "text_interpolation": morph["text_interpolation"],
        "batch_size": morph["batch_size"],
        "grid": _grid_text(pixel["grid"]),
        "colors": pixel["colors"],
        "palette": pixel["palette"] or FITTED,
        "dither": pixel["dither"],
        "reducer": pixel["reducer"],
        "duration": encode["duration"],
        "hold": encode["hold"],
        "boomerang": encode["boomerang"],
        "scale": AUTO,
        "format": encode["format"] or "gif",
    }


def choices() -> dict[str, list[str]]:
    """Return the options of each drop-down field."""
    return {
        "model": [BUNDLED, *MODEL_PRESETS],
        "lora": ["", *LORA_PRESETS],
        "scheduler": [DEFAULT_SCHEDULER, *SCHEDULERS],
        "easing": list(EASINGS),
        "text_interpolation": list(TEXT_INTERPOLATIONS),
        "palette": [FITTED, *builtin_names()],
        "dither": list(DITHERS),
        "reducer": list(REDUCERS),
        "scale": [AUTO, *(str(n) for n in range(1, 17))],
        "format": list(FORMATS),
    }


COLORS_HINT = f"blank: {DEFAULT_COLORS}, or every colour of the chosen palette"


@dataclass
class Request:
    """One Generate: the validated configs and the model to load."""

    morph: MorphConfig
    pixelate: PixelateConfig
    encode: EncodeConfig
    model: dict[str, Any]  # keyword arguments of MorphPipeline.from_pretrained
    auto_scale: bool
    suffix: str


def parse_form(values: dict[str, Any]) -> Request:
    """Return the request that form ``values`` describe; raise ValueError naming a bad field."""
    prompts = [line.strip() for line in str(values.get("prompts") or "").splitlines() if line.strip()]
    morph = MorphConfig(
        prompts=prompts,
        frames=_whole("frames", values["frames"]),
        loop=bool(values["loop"]),
        seed=_whole("seed", values["seed"]),
        steps=_whole("steps", values.get("steps"), blank_zero=True),
        guidance_scale=_number(values.get("guidance_scale")),
        width=_whole("width", values.get("width"), blank_zero=True),
        height=_whole("height", values.get("height"), blank_zero=True),
        scheduler=values.get("scheduler") or None,
        easing=values["easing"],
        text_interpolation=values["text_interpolation"],
        negative_prompt=(values.get("negative_prompt") or "").strip() or None,
        batch_size=_whole("batch size", values.get("batch_size"), blank_zero=True),
    )
    palette = (values.get("palette") or "").strip()
    pixelate = PixelateConfig(
        grid=_grid(values.get("grid")),
        colors=_whole("colours", values.get("colors"), blank_zero=True),
        palette=None if palette in ("", FITTED) else palette,
        dither=values["dither"],
        reducer=values["reducer"],
    )
    scale = str(values.get("scale") or AUTO)
    fmt = values.get("format") or "gif"
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    encode = EncodeConfig(
        duration=_whole("duration", values["duration"]),
        hold=_whole("hold", values["hold"]),
        boomerang=bool(values["boomerang"]),
        scale=1 if scale == AUTO else _whole("scale", scale),
        format=fmt,
    )
    model = {
        "model": (values.get("model") or "").strip() or None,
        "lora": (values.get("lora") or "").strip() or None,
        "lora_scale": float(_number(values.get("lora_scale")) or 0.0),
    }
    return Request(morph, pixelate, encode, model, scale == AUTO, FORMATS[fmt])


def _whole(name: str, value, blank_zero: bool = False) -> int | None:
    """Return ``value`` as an int; None for a blank field (and for 0 when ``blank_zero``)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a whole number, got {value!r}") from None
    if not number.is_integer():
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    return None if blank_zero and number == 0 else int(number)


def _number(value) -> float | None:
    """Return ``value`` as a float, or None for a blank field."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return float(value)


def _grid(text) -> tuple[int, int] | None:
    """Return the (width, height) of "64", "64x48" or None for blank (size from the render)."""
    text = str(text or "").strip().lower().replace("×", "x")
    if not text:
        return None
    parts = text.split("x")
    if len(parts) > 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"grid must look like 64 or 64x48, got {text!r}")
    width, height = (int(parts[0]), int(parts[-1]))
    return width, height


def _grid_text(grid) -> str:
    return "" if grid is None else f"{grid[0]}x{grid[1]}"


@dataclass
class Generated:
    """What one Generate wrote: the animation, its settings file and a one-line summary."""

    path: Path
    settings: Path
    summary: str


class EngineCache:
    """Keeps the last loaded engine, since loading a model takes far longer than a morph."""

    def __init__(self, factory: Callable[..., Any] | None = None):
        self._factory = factory or _load_engine
        self._key: tuple | None = None
        self._engine = None
        self.lock = threading.Lock()  # one morph at a time: they share the model

    def get(self, model: dict[str, Any]):
        """Return the engine for ``model`` (from_pretrained keyword arguments), loading it if new."""
        key = tuple(sorted(model.items()))
        if key != self._key:
            self._engine, self._key = None, None  # free the old model before loading the next
            self._engine, self._key = self._factory(**model), key
        return self._engine


def _load_engine(**model):
    from ..pipeline import MorphPipeline

    return MorphPipeline.from_pretrained(**model, progress=True)


def generate(request: Request, engines: EngineCache, out_dir: Path) -> Generated:
    """Run the morph of ``request``, write the animation and its settings into ``out_dir``."""
    from ..settings import build_settings, local_or_id, settings_path, write_settings

    started = time.perf_counter()
    with engines.lock:
        engine = engines.get(request.model)
        result = engine(request.morph, pixelate=request.pixelate)
    encode = request.encode
    if request.auto_scale:
        encode = dataclasses.replace(encode, scale=auto_scale(result.size[0], result.frames[0].width))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = _unique(Path(out_dir) / f"morph-{stamp}{request.suffix}")
    write_animation(result.pixel_frames, path, encode, keyframes=result.keyframe_indices)
    seconds = time.perf_counter() - started
    record = {**request.model, "model": local_or_id(request.model["model"]), "lora": local_or_id(request.model["lora"])}
    settings = build_settings(model=record, morph=result.config, pixelate=result.pixelate_config, encode=encode,
                              output=path, run={"seconds": round(seconds, 2), "source": "web"})  # fmt: skip
    settings_file = write_settings(settings_path(path), settings)
    width, height = (side * encode.scale for side in result.size)
    summary = (f"{len(result.pixel_frames)} frames, {width}x{height} px, "
               f"{path.stat().st_size / 1024:.1f} KB, {seconds:.1f} s")  # fmt: skip
    return Generated(path, settings_file, summary)


def _unique(path: Path) -> Path:
    """Return ``path``, or the same name with -2, -3, ... if it or its settings file exists."""
    candidate, n = path, 2
    while candidate.exists() or candidate.with_suffix(".json").exists():
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        n += 1
    return candidate
