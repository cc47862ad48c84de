"""The server side of `pixelgif serve` without gradio: limits, the loaded engine, per-session
output folders, and one call into the API per Morph or Preview. No torch until a model loads."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import itertools
import logging
import re
import shutil
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..encode import FORMATS
from ..errors import PixelgifError
from ..morph.keyframes import keyframe_label
from ..pixelate.palettes import PALETTE_SUFFIXES, load_palette_file
from ..run import RunRequest, load_engine, preview_keyframes, run_morph, write_format
from . import viewer
from .form import formats
from .history import save_run
from .limits import Limits

if TYPE_CHECKING:
    from ..morph import MorphPipeline

HISTORY = 24  # morphs of a session kept on disk to compare and restore; older ones are removed
LOG = logging.getLogger("pixelgif.web")


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


# An image keyframe is fitted to the render size (at most --max-resolution a side), so a picture
# far larger than that is no sprite; refusing it on upload keeps a decompression bomb off the render.
KEYFRAME_PIXELS_PER_RENDER_PIXEL = 16


def check_keyframe_upload(path: str | Path, limits: Limits) -> Path:
    """Return ``path`` if it is an image the studio takes as a keyframe; PixelgifError says why not.

    Reads only the header (size, format), so a 14000x14000 PNG is refused without decoding it.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    size = path.stat().st_size
    if size > limits.max_upload_bytes:
        raise PixelgifError(f"image {path.name!r} is {size:,} bytes; the server accepts up to "
                            f"{limits.max_upload_bytes:,} (pixelgif serve --max-upload-size)")  # fmt: skip
    most = limits.max_resolution**2 * KEYFRAME_PIXELS_PER_RENDER_PIXEL
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit below says it
            with Image.open(path) as image:
                width, height = image.size
    except Image.DecompressionBombError:
        raise PixelgifError(f"image {path.name!r} has too many pixels for a keyframe (over {most:,}); "
                            "use a smaller picture") from None  # fmt: skip
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise PixelgifError(f"{path.name!r} is not an image (use PNG, JPEG, WebP or GIF)") from None
    if width * height > most:
        raise PixelgifError(f"image {path.name!r} is {width}x{height} pixels, too many for a keyframe (over "
                            f"{most:,}); use a smaller picture")  # fmt: skip
    return path


class EngineCache:
    """Keeps the last loaded engine, since loading a model takes far longer than a morph."""

    def __init__(self, factory: Callable[..., Any] | None = None):
        self._factory = factory or (lambda **model: load_engine(**model, progress=False))
        self._key: tuple | None = None
        self._engine: MorphPipeline | None = None
        self.lock = threading.Lock()  # one render at a time: they share the model and the device
        self.loading = False  # a model is being loaded (what the status line says a new run waits for)

    @property
    def loaded(self) -> bool:
        """Return True when a model is loaded."""
        return self._engine is not None

    def get(self, model: dict[str, Any]):
        """Return the engine for ``model`` (`load_engine` keyword arguments), loading it if new."""
        key = tuple(sorted(model.items()))
        if key != self._key:
            self._engine, self._key = None, None  # free the old model before loading the next
            self.loading = True
            try:
                self._engine, self._key = self._factory(**model), key
            finally:
                self.loading = False
        return self._engine


@dataclass(eq=False)  # one run's flag: compared (and hashed) by identity
class Job:
    """One render's link to the page: progress reports and a cancel flag checked at every step."""

    report: Callable[[float, int], None] | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    by_button: bool = False  # the page's Cancel (or Escape) set the flag: its own answer goes out first

    def check(self) -> None:
        """Raise Cancelled if the run was cancelled."""
        if self.cancel.is_set():
            raise Cancelled("cancelled")

    def __call__(self, done: float, total: int) -> None:
        self.check()
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
    report: Path | None = None  # the smoothness plot, when matplotlib is there
    durations: list[int] = field(default_factory=list)  # ms of each frame as written, holds included


@dataclass
class Previewed:
    """The keyframes of a Preview: (image file, caption) pairs and a summary."""

    images: list[tuple[Path, str]]
    summary: str


class Studio:
    """Runs Morphs and Previews for many browser sessions, one at a time, in per-session temp folders."""

    def __init__(
        self, limits: Limits | None = None, engines: EngineCache | None = None, root: str | Path | None = None
    ):
        self.limits = limits or Limits()
        self.engines = engines or EngineCache()
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="pixelgif-serve-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self._runs = itertools.count(1)

    def preload(self, model: dict[str, Any]) -> threading.Thread:
        """Start loading the engine for ``model`` and then the GIF writer in the background (the first
        render then waits for them, not for a fresh load); a failure is logged, and the first render reports it."""

        def load() -> None:
            try:
                with self.engines.lock:
                    self.engines.get(model)
            except Exception as exc:  # e.g. no weights offline: the page still opens
                LOG.warning("could not preload the model: %s", " ".join(str(exc).split()))
            try:  # and the GIF writer's compiled code (numba: a second, or several the first time ever)
                from ..encode.gif.helper import warm_up

                warm_up()
            except Exception as exc:  # the first GIF then loads it
                LOG.warning("could not preload the GIF writer: %s", " ".join(str(exc).split()))

        thread = threading.Thread(target=load, name="pixelgif-preload", daemon=True)
        thread.start()
        return thread

    def activity(self) -> str:
        """Return what a run started now waits for, as the status line says it: the model loading, another
        render (it queues behind it), or nothing."""
        if self.engines.loading or (not self.engines.loaded and not self.engines.lock.locked()):
            return "loading the model (the first run, or a new model)"
        if self.engines.lock.locked():
            return "queued: another render is running"
        return "starting"

    @contextlib.contextmanager
    def run_folder(self, session: str, kind: str = "run", keep: int = 1) -> Iterator[Path]:
        """Yield a new empty folder for a ``kind`` run of ``session``. If the run succeeds, only the
        last ``keep`` folders of that kind stay (this one included); if it fails, its own is removed."""
        number = next(self._runs)  # two runs a second still differ
        run = self.root / _safe(session) / f"{kind}-{number}"
        run.mkdir(parents=True)
        try:
            yield run
        except BaseException:
            shutil.rmtree(run, ignore_errors=True)
            raise
        earlier = sorted((p for p in run.parent.glob(f"{kind}-*") if p.name.split("-")[-1].isdigit()),
                         key=lambda p: int(p.name.split("-")[-1]))  # fmt: skip
        for old in earlier[:-keep]:
            shutil.rmtree(old, ignore_errors=True)

    def close_session(self, session: str) -> None:
        """Remove the folder of ``session`` (its tab was closed)."""
        shutil.rmtree(self.root / _safe(session), ignore_errors=True)

    def close(self) -> None:
        """Remove every session folder."""
        shutil.rmtree(self.root, ignore_errors=True)

    @contextlib.contextmanager
    def _render_lock(self, job: Job | None) -> Iterator[None]:
        """Hold the engine lock for one render. A run cancelled while it waits for the lock (a model
        loading, another render still running) stops there, not once it has the lock."""
        lock = self.engines.lock
        while not lock.acquire(timeout=0.2):
            if job is not None:
                job.check()
        try:
            if job is not None:
                job.check()
            yield
        finally:
            lock.release()

    def _engine(self, request: RunRequest):
        """Return the engine for ``request`` once limits pass; the caller holds the engine lock."""
        engine = self.engines.get(request.model)
        resolved = engine.resolve(request.morph)
        self.limits.check_size(resolved.width, resolved.height)
        return engine

    def morph(self, request: RunRequest, session: str, job: Job | None = None) -> Morphed:
        """Render the morph of ``request`` and write it in every format, with its settings file.

        The GIF (or the first format) is written by `pixelgif.run.run_morph`, as `pixelgif morph`
        writes it; the other formats are the same frames written again.
        """
        self.limits.check_frames(request.morph.num_frames)
        started = time.perf_counter()
        with self.run_folder(session, "morph", keep=HISTORY) as folder:
            return self._morph_into(folder, request, job, started)

    def _morph_into(self, folder: Path, request: RunRequest, job: Job | None, started: float) -> Morphed:
        stem = output_stem([keyframe_label(k) for k in request.morph.prompts])
        main_format, *other_formats = formats()
        main = dataclasses.replace(request, output=folder / f"{stem}{FORMATS[main_format].suffix}",
                                   report=importlib.util.find_spec("matplotlib") is not None)  # fmt: skip
        with self._render_lock(job):
            engine = self._engine(request)
            # The output is a bare name so that `pixelgif morph --from` writes next to where it runs.
            written = run_morph(main, engine, callback=job, progress=False, recorded_output=main.output.name,
                                portable_palette=True, source="web")  # fmt: skip
        result = written.result
        files, skipped = {main_format: written.output}, {}
        for fmt in other_formats:
            if job is not None:
                job.check()  # a Cancel that came as the render ended stops the run before the other formats
            try:
                files[fmt] = write_format(request, result, fmt, folder / fmt, stem)
            except PixelgifError as exc:  # e.g. MP4 without ffmpeg: the other formats still come
                skipped[fmt] = " ".join(str(exc).split())
        seconds = time.perf_counter() - started
        width, height = (side * written.encode.scale for side in result.size)
        summary = (f"{len(result.pixel_frames)} frames, {width}x{height} px, "
                   f"{written.output.stat().st_size / 1024:.1f} KB {written.output.suffix[1:].upper()}, {seconds:.1f} s")  # fmt: skip
        if written.quality is not None:
            summary += f"; {written.quality.summary_lines()[0]}"
        if written.report_note:
            summary += f" ({written.report_note})"
        summary += library_note(result)
        durations = written.encode.durations(len(result.pixel_frames), result.keyframe_indices)
        morphed = Morphed(files, written.settings, skipped, summary, result, written.report, durations)
        title = " → ".join(keyframe_label(k) for k in result.config.prompts)
        save_run(folder, morphed, viewer.viewer_html(result.pixel_frames, durations, result.keyframe_indices, title))
        return morphed

    def preview(self, request: RunRequest, session: str, job: Job | None = None) -> Previewed:
        """Render only the keyframes of ``request`` and save them as upscaled PNGs."""
        started = time.perf_counter()
        with self.run_folder(session, "preview") as folder, self._render_lock(job):
            result, paths = preview_keyframes(request, self._engine(request), folder, callback=job)
        images = []
        for i, (path, prompt, seed) in enumerate(
            zip(paths, result.config.prompts, result.config.keyframe_seeds, strict=True)
        ):
            source = " from the sprite library" if i in result.library else ""
            images.append((path, f"{i + 1}: {keyframe_label(prompt)} (seed {seed}{source})"))
        summary = f"{len(images)} keyframes in {time.perf_counter() - started:.1f} s" + library_note(result)
        return Previewed(images, summary)


def library_note(result) -> str:
    """Return "; keyframe 1 from the sprite library: 'a dragon' (...)" for each library keyframe of ``result``."""
    return "".join(
        f"; keyframe {i + 1} from the sprite library: {match.describe()}" for i, match in sorted(result.library.items())
    )


def output_stem(prompts: list[str], limit: int = 60) -> str:
    """Return a file name stem from the prompts: "red-apple-to-blue-whale" (words, ASCII, short)."""
    words = [[w for w in re.findall(r"[a-z0-9]+", p.lower()) if w not in ("a", "an", "the")] for p in prompts]
    parts = ["-".join(w[:4]) for w in words if w]
    stem = "-to-".join(parts)[:limit].strip("-")
    return stem or "morph"


def _safe(session: str) -> str:
    """Return ``session`` as a folder name (gradio session hashes are already; this guards the rest)."""
    return "".join(c for c in str(session) if c.isalnum() or c in "-_") or "anonymous"
