"""The run settings file: a JSON next to every output that records everything needed to redo it.

``pixelgif morph --from cabin.json`` reads it back; flags given on the command line override it.
No torch here: the file is read and checked before any model loads.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import platform
from pathlib import Path

import numpy as np

from . import __version__
from .errors import PixelgifError
from .outputs import atomic_output

FORMAT_NAME = "pixelgif-settings"
FORMAT_VERSION = 2  # 2: morph.spacing (version 1 files were all made with linear spacing)
SECTIONS = ("model", "morph", "pixelate", "encode")


def config_to_dict(config) -> dict:
    """Return the init fields of dataclass ``config`` as JSON-ready values."""
    return {f.name: _jsonable(getattr(config, f.name)) for f in dataclasses.fields(config) if f.init}


def config_from_dict(cls, data: dict, section: str):
    """Return ``cls(**data)``, naming the section when a key is unknown."""
    known = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown {section} setting(s) in settings file: {', '.join(unknown)}")
    return cls(**data)


def versions() -> dict[str, str]:
    """Return the versions of pixelgif and of the libraries that decide the pixels."""
    return dict(_installed_versions())


@functools.cache  # read once a process: a batch or the studio writes a settings file per run
def _installed_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"pixelgif": __version__, "python": platform.python_version()}
    for name in ("torch", "diffusers", "transformers", "peft", "numpy", "Pillow"):
        try:
            found[name] = version(name)  # from package metadata: nothing heavy is imported
        except PackageNotFoundError:
            continue
    return found


def build_settings(*, model: dict, morph, pixelate, encode, output: str | os.PathLike, run: dict | None = None) -> dict:
    """Return the settings document of one run (configs are dataclasses or dicts)."""
    as_dict = lambda c: c if isinstance(c, dict) else config_to_dict(c)  # noqa: E731
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "versions": versions(),
        "output": str(output),
        "model": dict(model),
        "morph": as_dict(morph),
        "pixelate": as_dict(pixelate),
        "encode": as_dict(encode),
        "run": run or {},  # what happened (device, timings); informative, not read back
    }


def write_settings(path: str | os.PathLike, settings: dict) -> Path:
    """Write ``settings`` as indented JSON to ``path`` atomically; return the path."""
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(settings, indent=2, default=_jsonable) + "\n", encoding="utf-8")
    return Path(path)


def read_settings(path: str | os.PathLike) -> dict:
    """Return the checked settings document at ``path``; PixelgifError says what is wrong."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PixelgifError(f"settings file not found: {str(path)!r}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PixelgifError(f"cannot read settings file {str(path)!r}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise PixelgifError(f"settings file {str(path)!r} is not valid JSON: {exc}") from exc
    return check_settings(data, path)


def check_settings(data, path: str | os.PathLike) -> dict:
    """Return the settings document ``data`` (read from ``path``) checked, sections filled in."""
    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
        raise PixelgifError(f'{str(path)!r} is not a pixelgif settings file (no "format": "{FORMAT_NAME}")')
    if not isinstance(data.get("version"), int) or data["version"] > FORMAT_VERSION:
        raise PixelgifError(
            f"settings file {str(path)!r} has version {data.get('version')!r}; this pixelgif reads up to "
            f"{FORMAT_VERSION} (upgrade pixelgif)"
        )
    for section in SECTIONS:
        if not isinstance(data.get(section, {}), dict):
            raise PixelgifError(f"settings file {str(path)!r}: section {section!r} must be an object")
        data.setdefault(section, {})
    if data["version"] < 2:
        data["morph"].setdefault("spacing", "linear")  # what they were made with, so --from stays byte-identical
    data["morph"].setdefault("library", False)  # files from before the sprite library: the model drew every keyframe
    # Files from before vivid in-betweens: frames as rendered, no guidance midway.
    data["morph"].setdefault("vivid", False)
    data["morph"].setdefault("midway_guidance", 0.0)
    data["morph"].setdefault("keyframe_colours", False)  # files from before renders were recoloured to their prompt
    data["morph"].setdefault("shapes", 0.0)  # files from before shape-aware starts: in-betweens from noise
    data["morph"].setdefault("shape_guidance", None)  # files from before it: the run's guidance
    data["morph"].setdefault(
        "shapes_for_renders", False
    )  # files from before: model-drawn keyframes' in-betweens from noise
    # Files from before keyframe-weighted palettes and flat areas without dither.
    data["pixelate"].setdefault("dither_threshold", 0.0)
    data["pixelate"].setdefault("keyframe_share", 0.0)
    return data


def local_or_id(name: str | None) -> str | None:
    """Return ``name`` as an absolute path when it is a local file or folder, else unchanged."""
    if name is None:
        return None
    path = Path(name).expanduser()
    return str(path.resolve()) if path.exists() else name


def _jsonable(value):
    """Return ``value`` with tuples, numpy values, paths and keyframes turned into JSON types."""
    if hasattr(value, "to_dict") and not isinstance(value, type):  # an image keyframe
        return _jsonable(value.to_dict())
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):
        return str(value)
    return value
