"""The server side of `pixelgif serve` without gradio: limits, the loaded engine, per-session
output folders, and one call into the API per Morph or Preview. No torch until a model loads."""

from __future__ import annotations

import dataclasses
import importlib.util
import itertools
import shutil
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .. import encode as encode_module
from ..encode import SUFFIXES, EncodeConfig, auto_scale, write_animation
from ..errors import PixelgifError
from ..outputs import atomic_output
from ..pixelate.palettes import PALETTE_SUFFIXES, load_palette_file
from .form import Request, formats
from .limits import Limits


class Cancelled(PixelgifError):
    """The user cancelled the render."""


def check_palette_upload(path: str | Path, limits: Limits) -> Path:
    """Return ``path`` if it is a palette file the pixel-art stage can read; PixelgifError says why not."""
    path = Path(path)
    if path.suffix.lower() not in PALETTE_SUFFIXES:
        raise PixelgifError(f"palette file {path.name!r} is not a palette: use a {'/'.join(PALETTE_SUFFIXES)} file")
    size = path.stat().st_size
    if size > limits.max_upload_bytes:
        raise PixelgifError(f"palette file {path.name!r} is {size:,} bytes; the server accepts up to "
                            f"{limits.max_upload_bytes:,} (pixelgif serve --max-upload-size)")  # fmt: skip
    try:
        load_palette_file(path)
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        reason = str(exc).replace(str(path), path.name)
        raise PixelgifError(f"palette file {path.name!r} is not a palette: {reason}") from None
    return path


class EngineCache:
    """Keeps the last loaded engine, since loading a model takes far longer than a morph."""

    def __init__(self, factory: Callable[..., Any] | None = None):
        self._factory = factory or _load_engine
        self._key: tuple | None = None
        self._engine = None
        self.lock = threading.Lock()  # one render at a time: they share the model and the device

    def get(self, model: dict[str, Any]):
        """Return the engine for ``model`` (from_pretrained keyword arguments), loading it if new."""
        key = tuple(sorted(model.items()))
        if key != self._key:
            self._engine, self._key = None, None  # free the old model before loading the next
            self._engine, self._key = self._factory(**model), key
        return self._engine


def _load_engine(**model):
    from ..pipeline import MorphPipeline

    return MorphPipeline.from_pretrained(**model, progress=False)


@dataclass
class Job:
    """One render's link to the page: progress reports and a cancel flag checked at every step."""

    report: Callable[[float, int], None] | None = None
    cancel: threading.Event = field(default_factory=threading.Event)

    def __call__(self, done: float, total: int) -> None:
        if self.cancel.is_set():
            raise Cancelled("cancelled")
        if self.report is not None:
            self.report(done, total)


@dataclass
class Morphed:
    """What one Morph wrote: a file per format, the settings file, what could not be written, a summary."""

    files: dict[str, Path]
    settings: Path
    skipped: dict[str, str]
    summary: str
    result: Any = None  # the MorphResult
    report: Path | None = None  # the smoothness plot, when pixelgif.quality and matplotlib are there


@dataclass
class Previewed:
    """The keyframes of a Preview: (image file, caption) pairs and a summary."""

    images: list[tuple[Path, str]]
    summary: str


class Studio:
    """Runs Morphs and Previews for many browser sessions, one at a time, in per-session temp folders."""

    def __init__(self, limits: Limits | None = None, engines: EngineCache | None = None, root: str | Path | None = None):
        self.limits = limits or Limits()
        self.engines = engines or EngineCache()
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="pixelgif-serve-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self._runs = itertools.count(1)

    def run_folder(self, session: str) -> Path:
        """Return a new empty folder for a run of ``session``; the session's earlier runs are removed."""
        folder = self.root / _safe(session)
        shutil.rmtree(folder, ignore_errors=True)  # the page has its own copies of earlier results
        run = folder / f"run-{next(self._runs)}"  # file names stay readable; two runs a second still differ
        run.mkdir(parents=True)
        return run

    def close_session(self, session: str) -> None:
        """Remove the folder of ``session`` (its tab was closed)."""
        shutil.rmtree(self.root / _safe(session), ignore_errors=True)

    def close(self) -> None:
        """Remove every session folder."""
        shutil.rmtree(self.root, ignore_errors=True)

    def _engine(self, request: Request):
        """Return the engine for ``request`` once limits pass; the caller holds the engine lock."""
        engine = self.engines.get(request.model)
        resolved = engine.resolve(request.morph)
        self.limits.check_size(resolved.width, resolved.height)
        return engine

    def morph(self, request: Request, session: str, job: Job | None = None) -> Morphed:
        """Render the morph of ``request`` and write it in every format, with its settings file."""
        from ..settings import build_settings, local_or_id, write_settings

        self.limits.check_frames(request.morph.num_frames)
        started = time.perf_counter()
        with self.engines.lock:
            engine = self._engine(request)
            result = engine(request.morph, pixelate=request.pixelate, callback=job)
        encode = self._encode_config(request, result)
        folder = self.run_folder(session)
        stem = f"morph-{time.strftime('%Y%m%d-%H%M%S')}"
        files, skipped = {}, {}
        for fmt in formats():
            try:
                files[fmt] = write_format(result, dataclasses.replace(encode, format=fmt), folder / fmt, stem)
            except PixelgifError as exc:  # e.g. MP4 without ffmpeg: the other formats still come
                skipped[fmt] = " ".join(str(exc).split())
        seconds = time.perf_counter() - started
        main = files.get("gif") or next(iter(files.values()))
        record = {**request.model, "model": local_or_id(request.model["model"]), "lora": local_or_id(request.model["lora"])}
        # The output is a bare name so that `pixelgif morph --from` writes next to where it runs.
        settings = build_settings(model=record, morph=result.config, pixelate=_portable(result.pixelate_config),
                                  encode=dataclasses.replace(encode, format=None), output=main.name,
                                  run={"seconds": round(seconds, 2), "source": "web"})  # fmt: skip
        settings_file = write_settings(folder / f"{stem}.json", settings)
        report, smoothness = smoothness_report(result, folder / f"{stem}.report.png")
        width, height = (side * encode.scale for side in result.size)
        summary = (f"{len(result.pixel_frames)} frames, {width}x{height} px, "
                   f"{main.stat().st_size / 1024:.1f} KB {main.suffix[1:].upper()}, {seconds:.1f} s")  # fmt: skip
        if smoothness:
            summary += f"; {smoothness}"
        return Morphed(files, settings_file, skipped, summary, result, report)

    def preview(self, request: Request, session: str, job: Job | None = None) -> Previewed:
        """Render only the keyframes of ``request`` and save them as upscaled PNGs."""
        started = time.perf_counter()
        with self.engines.lock:
            engine = self._engine(request)
            result = engine.keyframes(request.morph, pixelate=request.pixelate, callback=job)
        scale = self._encode_config(request, result).scale
        folder = self.run_folder(session)
        images = []
        for i, (image, prompt, seed) in enumerate(zip(result.pixel_frames, result.config.prompts, result.config.seeds)):
            path = folder / f"keyframe-{i + 1}.png"
            write_animation([image], path, EncodeConfig(scale=scale, format="apng"))
            images.append((path, f"{i + 1}: {prompt} (seed {seed})"))
        summary = f"{len(images)} keyframes in {time.perf_counter() - started:.1f} s"
        return Previewed(images, summary)

    @staticmethod
    def _encode_config(request: Request, result) -> EncodeConfig:
        if not request.auto_scale:
            return request.encode
        return dataclasses.replace(request.encode, scale=auto_scale(result.size[0], result.frames[0].width))


def smoothness_report(result, path: Path) -> tuple[Path | None, str | None]:
    """Return (plot file, one-line summary) of how evenly the morph's frames change, or (None, None)
    when this pixelgif has no `pixelgif.quality`; without matplotlib only the line comes back."""
    if importlib.util.find_spec("pixelgif.quality") is None:
        return None, None
    from .. import quality

    measured = quality.measure_morph(result)
    line = measured.summary_lines()[0]
    try:
        return quality.plot_quality(measured, path), line
    except PixelgifError as exc:  # the install hint for matplotlib
        return None, f"{line} ({exc})"


def write_format(result, encode: EncodeConfig, folder: Path, stem: str) -> Path:
    """Write the morph in ``encode.format`` into ``folder`` and return the one file to download:
    the animation, or a zip when the format writes several files (spritesheet + JSON, frames)."""
    folder.mkdir(parents=True)
    written = write_animation(result.pixel_frames, folder / f"{stem}{suffix_of(encode.format)}", encode,
                              keyframes=result.keyframe_indices)  # fmt: skip
    parts = sorted(p for p in folder.rglob("*") if p.is_file())
    if written.is_file() and parts == [written]:
        return written
    archive = folder.parent / f"{stem}-{encode.format}.zip"
    with atomic_output(archive) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as bundle:
        for part in parts:
            bundle.write(part, part.relative_to(folder))
    return archive


def suffix_of(fmt: str) -> str:
    """Return the suffix of a ``fmt`` output: the encoder's default, else the first it reads as ``fmt``."""
    defaults = getattr(encode_module, "DEFAULT_SUFFIXES", {})
    if fmt in defaults:
        return defaults[fmt]
    return next((suffix for suffix, name in SUFFIXES.items() if name == fmt), f".{fmt}")


def _portable(pixelate):
    """Return the pixelate config with an uploaded palette stored as its colours, since the
    uploaded file lives in a temp folder that is gone by the time `--from` reads the settings."""
    if pixelate.palette is None or not isinstance(pixelate.palette, (str, Path)) or not Path(pixelate.palette).is_file():
        return pixelate
    return dataclasses.replace(pixelate, palette=pixelate.palette_rgb.tolist())


def _safe(session: str) -> str:
    """Return ``session`` as a folder name (gradio session hashes are already; this guards the rest)."""
    return "".join(c for c in str(session) if c.isalnum() or c in "-_") or "anonymous"
