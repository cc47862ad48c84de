"""The bundled model's training set: emoji art from npm packages, pixelated, with captions.

Sources (package registries only, no model hub): npm ``emoji-datasource-twitter`` (Twemoji art,
CC-BY 4.0) and ``emoji-datasource-google`` (Noto Emoji art, Apache-2.0). Each 64x64 PNG becomes a
32x32 RGBA sprite through pixelgif's own pixel-art engine; captions come from the emoji's name,
short names and (sub)category.

The command that builds it, v1 or v2 (more sources, colour copies), is ``build.py``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

# npm package -> (image folder inside it, emoji.json flag that says the art exists)
SOURCES = {
    "emoji-datasource-twitter": ("img/twitter/64", "has_img_twitter"),
    "emoji-datasource-google": ("img/google/64", "has_img_google"),
}
# Skin-tone swatches and country/region flags teach little about drawing things.
SKIPPED_CATEGORIES = {"Component"}
SKIPPED_SUBCATEGORIES = {"country-flag", "subdivision-flag"}
SPRITE_SIZE = 32
SPRITE_COLORS = 16


@dataclass
class Sprite:
    """One training example: a sprite, its captions, and the concept (emoji code) it shows."""

    pixels: np.ndarray  # (32, 32, 4) uint8 RGBA
    captions: list[str]
    concept: str
    source: str


def _words(text: str) -> str:
    text = re.sub(r"[_\-]+", " ", text.lower())
    text = text.replace("&", "and")
    return " ".join(text.split())


def _with_article(phrase: str) -> str:
    return ("an " if phrase[:1] in "aeiou" else "a ") + phrase


def captions_for(entry: dict) -> list[str]:
    """Return several distinct captions for an emoji.json entry, e.g. 'a red apple, fruit, food'."""
    name = _words(entry.get("name") or entry.get("short_name") or "")
    if not name:
        return []
    sub = _words(entry.get("subcategory") or "")
    category = _words(entry.get("category") or "")
    captions = [
        name,
        _with_article(name),
        f"{_with_article(name)}, {sub}, {category}",
        f"pixel art of {_with_article(name)}",
    ]
    for short in entry.get("short_names") or []:
        short = _words(short)
        if short and short != name:
            captions += [short, f"{_with_article(short)}, {sub}"]
    return list(dict.fromkeys(c.strip(", ") for c in captions))


def iter_entries(emoji_json: Path):
    """Yield the emoji.json entries worth training on."""
    for entry in json.loads(emoji_json.read_text()):
        if entry.get("category") in SKIPPED_CATEGORIES or entry.get("subcategory") in SKIPPED_SUBCATEGORIES:
            continue
        yield entry


def to_sprite(image: Image.Image) -> np.ndarray:
    """Return a (32, 32, 4) uint8 pixel-art sprite made with pixelgif's engine; transparent is white."""
    from ...pixelate import PixelateConfig, pixelate_frames

    art = pixelate_frames(
        [image.convert("RGBA")], PixelateConfig(grid=(SPRITE_SIZE, SPRITE_SIZE), colors=SPRITE_COLORS, dither="none")
    )
    rgba = np.asarray(art.images[0].convert("RGBA")).copy()
    rgba[rgba[..., 3] < 128] = (255, 255, 255, 0)
    rgba[..., 3] = np.where(rgba[..., 3] >= 128, 255, 0)
    return rgba


def load_sprites(npm_root: Path, limit: int | None = None, progress: bool = True) -> list[Sprite]:
    """Return sprites from every emoji package found under ``npm_root`` (a node_modules folder)."""
    from tqdm import tqdm

    jobs = []
    for package, (image_dir, flag) in SOURCES.items():
        root = npm_root / package
        if not (root / "emoji.json").is_file():
            continue
        for entry in iter_entries(root / "emoji.json"):
            path = root / image_dir / entry["image"]
            if entry.get(flag) and path.is_file():
                jobs.append((package, entry, path))
    if not jobs:
        raise FileNotFoundError(f"no emoji packages found under {npm_root} (expected {', '.join(SOURCES)})")
    jobs = jobs[:limit] if limit else jobs
    sprites = []
    for package, entry, path in tqdm(jobs, desc="pixelating emoji", disable=not progress):
        captions = captions_for(entry)
        if captions:
            with Image.open(path) as image:
                sprites.append(Sprite(to_sprite(image), captions, entry["unified"], package))
    return sprites


def save_dataset(sprites: list[Sprite], out: Path) -> Path:
    """Write sprites to one .npz (pixels + JSON metadata) and return its path."""
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = [{"captions": s.captions, "concept": s.concept, "source": s.source} for s in sprites]
    np.savez_compressed(out, pixels=np.stack([s.pixels for s in sprites]), meta=np.array(json.dumps(meta)))
    return out


def load_dataset(path: Path) -> tuple[np.ndarray, list[dict]]:
    """Return ``(pixels (N, 32, 32, 4) uint8, metadata list)`` from a saved data set."""
    with np.load(path) as data:
        return data["pixels"], json.loads(str(data["meta"]))
