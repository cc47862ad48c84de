"""Image/caption data sets for training: discovery, checks, and the shuffled batch order.

Three sources are read:

* a folder of images with a same-name ``.txt`` caption next to each (``knight.png`` + ``knight.txt``);
* a folder in the Hugging Face ``imagefolder`` layout: a ``metadata.jsonl`` or ``metadata.csv`` whose
  rows have ``file_name`` and a caption column (``text`` by default), in the folder or in ``train/``;
* a table read by the ``datasets`` library (optional): a hub data set id such as
  ``jiovine/pixel-art-nouns-2k`` (needs the network) or a local ``.parquet`` file, with an image
  column and a caption column (``--image-column``, ``--caption-column``).

Every example opens as an RGB-convertible PIL image (``Example.open``); broken files are reported
with their path (or row). No torch at import time, except for the batch order's generator.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from ..errors import PixelgifError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff")
METADATA_NAMES = ("metadata.jsonl", "metadata.csv")
TABLE_SUFFIXES = (".parquet", ".arrow")
_IMAGE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError)


@dataclass(frozen=True)
class Example:
    """One training image and its caption: a file (``path``) or row ``row`` of a ``datasets`` table."""

    path: Path | None
    caption: str
    row: int | None = None
    table: Any = field(default=None, compare=False, repr=False)  # a datasets.Dataset when ``row`` is set
    image_column: str = "image"
    source: str = ""

    @property
    def name(self) -> str:
        """Return how messages name this image: its path, or its row in the data set."""
        return repr(str(self.path)) if self.path is not None else f"row {self.row} of {self.source!r}"

    def open(self) -> Image.Image:
        """Return the image, loaded (any mode); raise PixelgifError naming it when it cannot be read."""
        try:
            if self.path is not None:
                with Image.open(self.path) as image:
                    image.load()
                    return _upright(image)
            return _upright(_table_image(self.table[self.row][self.image_column]))
        except _IMAGE_ERRORS as exc:
            raise PixelgifError(f"image {self.name} is broken or not an image: {exc}") from None


def with_trigger(caption: str, trigger: str) -> str:
    """Return ``caption`` with ``trigger`` appended: ", word" unless the trigger brings its own separator."""
    if not trigger:
        return caption
    if trigger[0].isalnum():
        trigger = ", " + trigger
    return (caption + trigger).strip(" ,") if caption else trigger.strip(" ,")


def find_examples(data: str | Path, caption_column: str = "text", image_column: str = "image",
                  trigger_word: str = "") -> list[Example]:  # fmt: skip
    """Return the image/caption pairs of ``data``, checked: every image has a caption (local files: and opens)."""
    path = Path(data).expanduser()
    if path.is_file() and path.suffix in TABLE_SUFFIXES:
        examples = _read_table(str(path), caption_column, image_column)
    elif path.exists() or not _looks_like_hub_id(str(data)):
        examples = _read_folder(path, caption_column)
    else:
        examples = _read_table(str(data), caption_column, image_column)
    if trigger_word:
        examples = [Example(e.path, with_trigger(e.caption, trigger_word), e.row, e.table, e.image_column, e.source)
                    for e in examples]  # fmt: skip
    return examples


def _read_folder(folder: Path, caption_column: str) -> list[Example]:
    """Return the checked examples of a local folder (caption files or imagefolder metadata)."""
    if not folder.exists():
        raise PixelgifError(f"data folder {str(folder)!r} does not exist")
    if not folder.is_dir():
        raise PixelgifError(f"data {str(folder)!r} is not a folder; give a folder of images with captions, "
                            "a .parquet file or a hub data set id")  # fmt: skip
    metadata = _find_metadata(folder)
    examples = _read_metadata(metadata, caption_column) if metadata is not None else _read_caption_files(folder)
    for example in examples:
        assert example.path is not None  # the examples of a folder are files
        check_image(example.path)
    return examples


def _looks_like_hub_id(name: str) -> bool:
    """Return True when ``name`` has the shape of a hub data set id (owner/name)."""
    from ..models.presets import is_hub_id

    return is_hub_id(name)


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
        if image.suffix.lower() not in IMAGE_SUFFIXES:
            raise PixelgifError(f"{where} names {str(image)!r}, which is not an image ({', '.join(IMAGE_SUFFIXES)})")
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
    except _IMAGE_ERRORS as exc:
        raise PixelgifError(f"image {str(path)!r} is broken or not an image: {exc}") from None


def _upright(image: Image.Image) -> Image.Image:
    """Return ``image`` turned as its EXIF orientation says (phone photos), loaded."""
    from PIL import ImageOps

    return ImageOps.exif_transpose(image)


def _table_image(value) -> Image.Image:
    """Return the PIL image in a ``datasets`` image cell: a PIL image, {"bytes", "path"}, or a path."""
    if isinstance(value, Image.Image):
        return value
    if isinstance(value, dict) and value.get("bytes"):
        return Image.open(io.BytesIO(value["bytes"]))
    if isinstance(value, dict) and value.get("path"):
        return Image.open(value["path"])
    if isinstance(value, (str, Path)):
        return Image.open(value)
    raise ValueError(f"the image column holds {type(value).__name__}, not an image")


def _read_table(name: str, caption_column: str, image_column: str) -> list[Example]:
    """Return the examples of a ``datasets`` table: a hub data set id or a local .parquet/.arrow file."""
    try:
        import datasets
    except ImportError:
        raise PixelgifError(
            f"reading {name!r} needs the datasets package: pip install datasets "
            "(or pip install 'pixelgif[train]'); a local folder of images needs nothing"
        ) from None
    datasets.utils.logging.set_verbosity_error()
    datasets.utils.logging.disable_progress_bar()
    try:
        if name.endswith(TABLE_SUFFIXES):
            table = datasets.load_dataset(Path(name).suffix[1:], data_files=name, split="train")
        else:
            table = datasets.load_dataset(name, split="train")
    except Exception as exc:
        reason = " ".join(str(exc).split())[:200]
        raise PixelgifError(f"data set {name!r} could not be loaded (it is no local folder either): {reason}") from None
    columns = list(table.column_names)
    wanted = (("image", image_column, "--image-column"), ("caption", caption_column, "--caption-column"))
    for kind, column, flag in wanted:
        if column not in columns:
            raise PixelgifError(f"data set {name!r} has no {kind} column {column!r} (columns: "
                                f"{', '.join(map(repr, columns))}); choose one with {flag}")  # fmt: skip
    if not len(table):
        raise PixelgifError(f"data set {name!r} has no rows")
    examples = []
    for row, caption in enumerate(table[caption_column]):
        if caption is None:
            raise PixelgifError(f"row {row} of data set {name!r} has no caption in column {caption_column!r}")
        examples.append(Example(None, _clean(str(caption)), row, table, image_column, name))
    return examples


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
        indices: list[int] = []
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
