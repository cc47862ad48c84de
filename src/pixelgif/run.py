"""One run, as every front end does it: check, render, encode, record.

``pixelgif morph`` and the web studio both build a `RunRequest` and call `check_run` (before any
model loads, so bad input fails in a blink) and then `run_morph`; the same request gives the same
files from either. No torch at import: the engine loads inside `load_engine`, which is also the
Python API's way to get an engine (``load_engine()``: the bundled model).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .encode import FORMATS, EncodeConfig, auto_scale, check_output, write_animation
from .errors import PixelgifError
from .models.presets import LORA_SCALE
from .morph.config import MorphConfig
from .options import MODEL_OPTIONS
from .outputs import atomic_output, check_writable
from .pixelate import PixelateConfig
from .settings import build_settings, local_or_id, write_settings

if TYPE_CHECKING:
    import torch

    from .morph.engine import MorphPipeline, MorphResult
    from .morph.quality import MorphQuality


@dataclass
class RunRequest:
    """Everything one morph run needs: the stage configs, the model, and where to write."""

    morph: MorphConfig
    pixelate: PixelateConfig = field(default_factory=PixelateConfig)
    encode: EncodeConfig = field(default_factory=EncodeConfig)
    model: dict[str, Any] = field(default_factory=dict)  # load_engine keywords
    output: Path = Path("morph.gif")
    auto_scale: bool = True  # scale the output for viewing (encode.scale is then ignored)
    report: bool = False  # measure smoothness and plot it next to the output
    save_frames: Path | None = None  # also save raw and pixel-art frames as PNG here

    def __post_init__(self) -> None:
        self.output = Path(self.output)
        unknown = sorted(set(self.model) - set(MODEL_OPTIONS))
        if unknown:
            raise ValueError(f"unknown model option(s): {', '.join(unknown)}; use {', '.join(MODEL_OPTIONS)}")
        self.model = {name: self.model.get(name) for name in MODEL_OPTIONS}
        if self.model["lora_scale"] is None:
            self.model["lora_scale"] = LORA_SCALE


@dataclass
class RunOutput:
    """What a run wrote and how it went."""

    result: MorphResult
    output: Path
    format: str
    files: list[Path]  # the output, then any data file next to it
    settings: Path
    encode: EncodeConfig  # as written, the automatic scale filled in
    seconds: float
    quality: MorphQuality | None = None
    report: Path | None = None  # the smoothness plot
    report_note: str | None = None  # why there is no plot (e.g. no matplotlib), when asked for one


def settings_request(settings: dict, report: bool = False, save_frames: Path | None = None) -> RunRequest:
    """Return the validated `RunRequest` of a settings document (`pixelgif.options.merge_settings`'s)."""
    from .settings import config_from_dict

    if not settings["morph"].get("prompts"):  # MorphConfig's own check, before its missing-argument TypeError
        raise ValueError("a morph needs at least two prompts, got 0")
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


def check_run(request: RunRequest) -> str:
    """Return the output format after checking everything that needs no model: the output and its
    settings file are writable, the model and LoRA names make sense, the report can be plotted."""
    from .models.presets import check_lora_weights, check_names

    fmt = check_output(request.output, request.encode)
    settings_file = FORMATS[fmt].settings_path(request.output)
    if settings_file in FORMATS[fmt].paths(request.output):
        raise ValueError(
            f"output {str(request.output)!r} would be overwritten by its own settings file; use another suffix"
        )
    check_writable(settings_file)
    check_names(request.model["model"], request.model["lora"])
    check_lora_weights(request.model["lora"], request.model["lora_scale"])
    if request.report:
        from .morph.quality import REPORT_HINT, report_path

        if importlib.util.find_spec("matplotlib") is None:
            raise PixelgifError(REPORT_HINT)
        check_writable(report_path(request.output))
    return fmt


def load_engine(
    model: str | None = None,
    lora: str | list[str] | None = None,
    lora_scale: float = LORA_SCALE,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    vae: str | None = None,
    progress: bool = True,
) -> MorphPipeline:
    """Return the morph engine over ``model`` (None: the bundled model; a preset name, hub id, folder
    or .safetensors file) with the LoRAs ``lora``; see `pixelgif.models.load_backend`. A
    `RunRequest.model` dict goes in as keywords: ``load_engine(**request.model)``."""
    from .models.loading import load_backend
    from .morph.engine import MorphPipeline

    backend = load_backend(model, lora=lora, lora_scale=lora_scale, device=device, dtype=dtype, vae=vae)
    return MorphPipeline(backend, progress)


def morph(prompts, *, pixelate: PixelateConfig | None = None, progress: bool = True, **options) -> MorphResult:
    """Return the `MorphResult` of morphing through ``prompts``; ``options`` are `load_engine`'s
    keywords (model, lora, ...) and `MorphConfig` fields."""
    model = {name: options.pop(name) for name in MODEL_OPTIONS if name in options}
    engine = load_engine(**model, progress=progress)
    return engine(MorphConfig(prompts=list(prompts), **options), pixelate=pixelate)


def encode_config(request: RunRequest, result: MorphResult, fmt: str) -> EncodeConfig:
    """Return the encode settings for writing ``result`` as ``fmt``: with an automatic scale, back to
    the render size (at least 256 px wide), or 1 for formats game engines read at native size."""
    if not request.auto_scale:
        return request.encode
    scale = 1 if FORMATS[fmt].native_scale else auto_scale(result.size[0], result.frames[0].width)
    return dataclasses.replace(request.encode, scale=scale)


def model_record(model: dict[str, Any]) -> dict[str, Any]:
    """Return the model options as a settings file records them: the model actually used (a LoRA
    preset's base when no model was given), local paths made absolute."""
    from .models.presets import effective_model, lora_list, parse_lora

    def recorded(spec: str) -> str:
        name, weight = parse_lora(spec, default_weight=float("nan"))
        return str(local_or_id(name)) + ("" if weight != weight else spec[len(name) :])  # keeps ":WEIGHT"

    loras = [recorded(spec) for spec in lora_list(model["lora"])]
    lora = None if not loras else loras[0] if isinstance(model["lora"], str) else loras
    record = {**model, "model": local_or_id(effective_model(model["model"], model["lora"])), "lora": lora}
    if record.get("vae") is None:
        record.pop("vae", None)  # only runs that replace the VAE say so: older settings files stay as they were
    else:
        record["vae"] = local_or_id(record["vae"])
    return record


def run_morph(
    request: RunRequest,
    engine: MorphPipeline | None = None,
    callback: Callable[[float, int], None] | None = None,
    progress: bool = True,
    recorded_output: str | None = None,
    portable_palette: bool = False,
    source: str = "api",
    started: float | None = None,
) -> RunOutput:
    """Render, write and record the morph of ``request``; return what was written.

    ``engine``: an engine already loaded for ``request.model`` (else one is loaded). ``callback``:
    progress reports, raising from it stops the run. ``recorded_output``: the output as the
    settings file names it (default: ``request.output``). ``portable_palette``: record a palette
    file's colours instead of its path (an uploaded file is gone by the time ``--from`` reads it).
    ``started``: when the run began (`time.perf_counter`), if the caller loaded ``engine`` as part of it.
    """
    started = time.perf_counter() if started is None else started
    fmt = check_run(request)
    engine = engine or load_engine(**request.model, progress=progress)
    loaded = time.perf_counter()
    result = engine(request.morph, pixelate=request.pixelate, callback=callback)
    encode = encode_config(request, result, fmt)
    write_animation(result.pixel_frames, request.output, encode, keyframes=result.keyframe_indices)
    if request.save_frames is not None:
        save_frames(result, request.save_frames)
    quality, plot, note = smoothness_report(result, request.output) if request.report else (None, None, None)
    seconds = time.perf_counter() - started
    run_info: dict[str, Any] = {
        "source": source, "device": str(engine.device), "dtype": str(engine.dtype).replace("torch.", ""),
        "frames": len(result.frames), "renders": result.renders, "seconds": round(seconds, 2),
        "timings": {"load": round(loaded - started, 3), **result.timings},
    }  # fmt: skip
    if quality is not None:
        run_info["quality"] = quality.to_dict()
    pixelate = portable(result.pixelate_config) if portable_palette else result.pixelate_config
    settings = build_settings(model=model_record(request.model), morph=result.config, pixelate=pixelate, encode=encode,
                              output=recorded_output or request.output, run=run_info)  # fmt: skip
    settings_file = write_settings(FORMATS[fmt].settings_path(request.output), settings)
    return RunOutput(result, request.output, fmt, FORMATS[fmt].paths(request.output), settings_file, encode, seconds,
                     quality, plot, note)  # fmt: skip


def write_format(request: RunRequest, result: MorphResult, fmt: str, folder: Path, stem: str) -> Path:
    """Write the frames of ``result`` (the run of ``request``) again as ``fmt``, into a new ``folder``
    as ``stem`` + suffix; return the one file to hand out: the animation, or a zip when the format
    writes several files (spritesheet + JSON, frames)."""
    import zipfile

    encode = dataclasses.replace(encode_config(request, result, fmt), format=fmt)
    folder.mkdir(parents=True)
    written = write_animation(result.pixel_frames, folder / f"{stem}{FORMATS[fmt].suffix}", encode,
                              keyframes=result.keyframe_indices)  # fmt: skip
    parts = sorted(p for p in folder.rglob("*") if p.is_file())
    if written.is_file() and parts == [written]:
        return written
    archive = folder.parent / f"{stem}-{fmt}.zip"
    with atomic_output(archive) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as bundle:
        for part in parts:
            bundle.write(part, part.relative_to(folder))
    return archive


def preview_keyframes(
    request: RunRequest, engine: MorphPipeline, folder: Path, callback: Callable[[float, int], None] | None = None
) -> tuple[MorphResult, list[Path]]:
    """Render only the keyframes of ``request`` (`MorphPipeline.keyframes`: the same noise and text
    as in the full morph, so seeds can be picked cheaply first) and write each as a PNG in
    ``folder``, scaled as the run would be; return the result and the files."""
    result = engine.keyframes(request.morph, pixelate=request.pixelate, callback=callback)
    scale = encode_config(request, result, "apng").scale
    paths = []
    for index, image in enumerate(result.pixel_frames):
        paths.append(Path(write_animation([image], folder / f"keyframe-{index + 1}.png",
                                          EncodeConfig(scale=scale, format="apng"))))  # fmt: skip
    return result, paths


def smoothness_report(result: MorphResult, output: Path) -> tuple[MorphQuality, Path | None, str | None]:
    """Return the smoothness of ``result``, its plot next to ``output`` and, when there is no plot, why."""
    from .morph.quality import measure_morph, plot_quality, report_path

    quality = measure_morph(result)
    title = (f"{output.name} ({result.config.spacing} spacing): smoothness {quality.overall.smoothness:.3f}, "
             f"max/mean {quality.overall.max_mean:.2f}")  # fmt: skip
    try:
        return quality, plot_quality(quality, report_path(output), title=title), None
    except PixelgifError as exc:  # the install hint for matplotlib
        return quality, None, str(exc)


def save_frames(result: MorphResult, folder: str | os.PathLike) -> None:
    """Save raw frames (render size) and pixel-art frames (art size) as PNG files in ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for kind, frames in (("raw", result.frames), ("pixel", result.pixel_frames)):
        for index, frame in enumerate(frames):
            with atomic_output(folder / f"{kind}_{index:04d}.png") as tmp:
                frame.save(tmp, format="PNG")


def portable(pixelate: PixelateConfig) -> PixelateConfig:
    """Return the pixelate config with a palette file stored as its colours."""
    colours = pixelate.palette_rgb  # a palette file is read when the config is made
    if (
        pixelate.palette is None
        or not isinstance(pixelate.palette, (str, Path))
        or not Path(pixelate.palette).is_file()
        or colours is None
    ):
        return pixelate
    return dataclasses.replace(pixelate, palette=colours.tolist())
