"""Image/caption data sets for LoRA fine-tuning: discovery, checks, pixel-art-friendly resizing, batches.

Two layouts are read, both flat or nested:

* images with a same-name ``.txt`` caption next to each (``knight.png`` + ``knight.txt``);
* the Hugging Face ``imagefolder`` layout: a ``metadata.jsonl`` (or ``metadata.csv``) whose rows
  have ``file_name`` and a caption column (``text`` by default), in the folder or in ``train/``.

No torch at import time, except for the batch sampler's type hints.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import PixelgifError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp")
METADATA_NAMES = ("metadata.jsonl", "metadata.csv")
RESAMPLE = {
    "nearest": Image.Resampling.NEAREST,
    "box": Image.Resampling.BOX,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}
# Transparent sprite pixels become this colour: white is the usual sprite-sheet background, and
# keeping whatever RGB hides under alpha 0 (often black or noise) would teach the LoRA that instead.
BACKGROUND = (255, 255, 255)


@dataclass(frozen=True)
class Example:
    """One training image and its caption."""

    path: Path
    caption: str


def find_examples(folder: str | Path, caption_column: str = "text") -> list[Example]:
    """Return the image/caption pairs of ``folder``, checked: every image opens and has a caption."""
    folder = Path(folder).expanduser()
    if not folder.exists():
        raise PixelgifError(f"data folder {str(folder)!r} does not exist")
    if not folder.is_dir():
        raise PixelgifError(f"data {str(folder)!r} is not a folder; give a folder of images with captions")
    metadata = _find_metadata(folder)
    if metadata is not None:
        examples = _read_metadata(metadata, caption_column)
    else:
        examples = _read_caption_files(folder)
    for example in examples:
        check_image(example.path)
    return examples


def _find_metadata(folder: Path) -> Path | None:
    """Return the metadata file of an imagefolder layout in ``folder`` (or its ``train/``), or None."""
    for base in (folder, folder / "train"):
        for name in METADATA_NAMES:
            if (base / name).is_file():
                return base / name
    return None


def _read_caption_files(folder: Path) -> list[Example]:
    """Return the images under ``folder`` with the text of their same-name ``.txt`` files."""
    images = sorted(
        p for p in folder.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not _hidden(p.relative_to(folder))
    )  # fmt: skip
    if not images:
        raise PixelgifError(
            f"data folder {str(folder)!r} has no images ({', '.join(IMAGE_SUFFIXES)}); give images with same-name "
            ".txt captions, or a metadata.jsonl"
        )
    examples = []
    for image in images:
        caption = image.with_suffix(".txt")
        if not caption.is_file():
            raise PixelgifError(
                f"image {str(image)!r} has no caption: write it in {caption.name!r} next to it "
                "(or list the images in a metadata.jsonl)"
            )
        examples.append(Example(image, _clean(caption.read_text(encoding="utf-8", errors="replace"))))
    return examples


def _read_metadata(path: Path, caption_column: str) -> list[Example]:
    """Return the examples listed in a ``metadata.jsonl``/``.csv``; file names are relative to its folder."""
    rows = list(_metadata_rows(path))
    if not rows:
        raise PixelgifError(f"metadata file {str(path)!r} lists no images")
    examples = []
    for line, row in rows:
        where = f"{str(path)!r} line {line}"
        if "file_name" not in row:
            raise PixelgifError(f"{where} has no 'file_name'; each row needs file_name and {caption_column!r}")
        if caption_column not in row or row[caption_column] is None:
            found = ", ".join(repr(k) for k in row if k != "file_name") or "none"
            raise PixelgifError(
                f"{where}: image {row['file_name']!r} has no caption column {caption_column!r} "
                f"(columns: {found}; choose one with --caption-column)"
            )
        image = path.parent / str(row["file_name"])
        if not image.is_file():
            raise PixelgifError(f"{where} names image {str(image)!r}, which does not exist")
        examples.append(Example(image, _clean(str(row[caption_column]))))
    return examples


def _metadata_rows(path: Path):
    """Yield (line number, row dict) for each row of a metadata file."""
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as f:
            for line, row in enumerate(csv.DictReader(f), start=2):
                yield line, row
        return
    with open(path, encoding="utf-8") as f:
        for line, text in enumerate(f, start=1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                raise PixelgifError(f"{str(path)!r} line {line} is not valid JSON: {exc.msg}") from None
            if not isinstance(row, dict):
                raise PixelgifError(f"{str(path)!r} line {line} is not a JSON object")
            yield line, row


def check_image(path: Path) -> None:
    """Raise PixelgifError naming ``path`` unless it is a whole, readable image."""
    try:
        with Image.open(path) as image:
            image.verify()  # reads the whole file: a truncated PNG fails here, not mid-training
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise PixelgifError(f"image {str(path)!r} is broken or not an image: {exc}") from None


def load_image(path: Path, resolution: int, resample: str = "nearest") -> np.ndarray:
    """Return ``path`` as a (resolution, resolution, 3) uint8 array: resized on its short side, centre-cropped."""
    try:
        with Image.open(path) as image:
            image = flatten_alpha(ImageOps.exif_transpose(image))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise PixelgifError(f"image {str(path)!r} is broken or not an image: {exc}") from None
    return np.asarray(resize_and_crop(image, resolution, resample))


def flatten_alpha(image: Image.Image) -> Image.Image:
    """Return ``image`` as RGB, transparent pixels laid over the white background."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def resize_and_crop(image: Image.Image, resolution: int, resample: str = "nearest") -> Image.Image:
    """Return ``image`` scaled so its short side is ``resolution``, then the centre square of that side.

    Small sprites scale up by a whole factor first: nearest-neighbour at an integer factor keeps
    every art pixel the same size, where a fractional factor would make some pixels a row wider.
    """
    width, height = image.size
    short = min(width, height)
    if short < resolution and resample == "nearest" and resolution // short >= 2:
        factor = resolution // short
        image = image.resize((width * factor, height * factor), Image.Resampling.NEAREST)
        width, height = image.size
        short = min(width, height)
    if short != resolution:
        scale = resolution / short
        size = (max(resolution, round(width * scale)), max(resolution, round(height * scale)))
        image = image.resize(size, RESAMPLE[resample])
        width, height = size
    left, top = (width - resolution) // 2, (height - resolution) // 2
    return image.crop((left, top, left + resolution, top + resolution))


class BatchOrder:
    """Shuffled epochs of example indices, drawn in batches; its state goes into checkpoints."""

    def __init__(self, count: int, generator):
        self.count = count
        self.generator = generator
        self.order = self._shuffle()
        self.position = 0

    def _shuffle(self):
        import torch

        return torch.randperm(self.count, generator=self.generator)

    def next(self, batch_size: int) -> list[int]:
        """Return the next ``batch_size`` indices, starting a new shuffled epoch when one runs out."""
        indices = []
        while len(indices) < batch_size:
            if self.position == self.count:
                self.order, self.position = self._shuffle(), 0
            indices.append(int(self.order[self.position]))
            self.position += 1
        return indices

    def state_dict(self) -> dict:
        """Return the order and position, to continue exactly here after a resume."""
        return {"order": self.order.clone(), "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.order, self.position = state["order"], int(state["position"])


def _clean(caption: str) -> str:
    """Return ``caption`` on one line, without surrounding whitespace."""
    return " ".join(caption.split())


def _hidden(relative: Path) -> bool:
    """Return True for paths under a dot-folder or dot-files (e.g. .ipynb_checkpoints)."""
    return any(part.startswith(".") for part in relative.parts)
