"""Full training of a small sprite model (the bundled architecture) from image/caption data.

    result = train_full(FullTrainConfig(data="sprites/", output="my-sprites"))

``pixelgif train DATA --full -o OUT`` runs this: it fine-tunes every weight of the bundled 32x32
RGBA model (``init="bundled"``, the default) or trains the same architecture from random weights
(``init="scratch"``) on the same shared loop as LoRA training (``loop.TrainLoop``), with the
bundled recipe's parts: sprites made by the pixel-art engine, MiniLM captions embedded once,
caption dropout, EMA, float32 (bf16 autocast on request). OUT becomes a model folder (``unet/`` fp16 safetensors,
``scheduler/``, ``pixelgif_model.json``) that ``pixelgif morph --model OUT`` loads, next to
``checkpoints/``, ``validation/``, ``training.json`` and ``log.txt``. No torch at import time.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ...errors import PixelgifError
from ..lora.config import CHECKPOINTS, RUN_FILE, TrainResult, check_output
from ..data import Example, find_examples
from ..options import check_loop_options
from ..preprocess import crop_square, reduce_upscaled, to_rgb

INITS = ("bundled", "scratch")  # or the path of a model folder made by --full
SPRITE_SIZE = 32


@dataclass
class FullTrainConfig:
    """Settings of one full training run of the bundled sprite architecture; defaults suit a fine-tune."""

    data: Path | str
    output: Path | str  # the model folder, with checkpoints/ and validation/
    model: str = "bundled"  # the architecture: only the bundled sprite model trains in full
    init: str = "bundled"  # bundled: the shipped weights; scratch: random; or a model folder made by --full
    # data
    flip: bool = False
    caption_column: str = "text"
    image_column: str = "image"
    trigger_word: str = ""
    caption_dropout: float = 0.1  # as the bundled recipe: keeps classifier-free guidance working
    # optimisation (the bundled recipe's, with a lower rate when starting from trained weights)
    steps: int = 1000
    learning_rate: float | None = None  # None: 1e-4 from trained weights, 3e-4 from scratch
    lr_scheduler: str = "constant"
    warmup_steps: int = 100
    batch_size: int = 32
    gradient_accumulation: int = 1
    max_grad_norm: float = 1.0
    ema_decay: float = 0.999  # 0: no EMA, the model is the last weights
    seed: int = 0
    mixed_precision: str = "auto"  # auto: float32 (bf16 autocast was slower on CPU here, measured)
    device: str | None = None
    # checkpoints, validation, logging
    checkpoint_every: int = 200
    keep_checkpoints: int = 3
    resume: bool = False
    validate_every: int = 200
    validation_prompts: tuple[str, ...] = ()
    validation_frames: int = 8
    validation_steps: int | None = None
    log_every: int = 10
    tensorboard: bool = True

    def __post_init__(self):
        self.data, self.output = str(self.data), Path(self.output).expanduser()
        self.model, self.init = str(self.model or "bundled"), str(self.init)
        if not self.data:
            raise ValueError("no data: give a folder of images with captions, a .parquet file or a hub data set id")
        if self.model != "bundled":
            raise ValueError(f"--full trains the bundled sprite architecture, not {self.model!r}: leave --model out "
                             "(start from a model folder of your own with --init PATH)")  # fmt: skip
        if self.output.suffix in (".safetensors", ".bin"):
            raise ValueError(f"output {str(self.output)!r} names a file: give a folder for the model")
        if self.learning_rate is None:
            self.learning_rate = 3e-4 if self.init == "scratch" else 1e-4
        self.validation_prompts = tuple(self.validation_prompts)
        check_loop_options(self)
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be at least 0 and below 1 (0: no EMA), got {self.ema_decay}")

    @property
    def init_folder(self) -> Path | None:
        """Return the folder of the starting weights (None: random weights)."""
        if self.init == "scratch":
            return None
        if self.init == "bundled":
            from ...models.bundled import WEIGHTS_DIR

            return WEIGHTS_DIR
        return Path(self.init).expanduser()


@dataclass
class SpriteData:
    """A data set ready for the bundled model: sprites (N, 32, 32, 4) uint8 RGBA and one caption each."""

    sprites: np.ndarray
    captions: list[str]


@dataclass
class FullTrainResult(TrainResult):
    """What a full training run made: the model folder (``output``), its step count and this run's losses."""


def to_rgba(image: Image.Image) -> Image.Image:
    """Return ``image`` as RGBA, keeping its transparency; modes without alpha go through ``to_rgb``."""
    if image.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in image.info:
        return image.convert("RGBA")
    return to_rgb(image).convert("RGBA")


def sprite_from_image(image: Image.Image) -> np.ndarray:
    """Return ``image`` as a (32, 32, 4) sprite: art pixels found, centre square, then the bundled data's conversion."""
    from ..bundled.data import to_sprite

    art, _ = reduce_upscaled(to_rgba(image))  # an N-times upscale back to its art pixels
    side = min(art.size)
    square = Image.fromarray(crop_square(art, side), "RGBA")
    if side < SPRITE_SIZE:  # the engine reduces, never enlarges: whole-factor nearest-neighbour first
        scale = math.ceil(SPRITE_SIZE / side)
        square = square.resize((side * scale, side * scale), Image.Resampling.NEAREST)
    return to_sprite(square)


def prepare_data(examples: list[Example]) -> SpriteData:
    """Return the sprites and captions of ``examples``; raise PixelgifError naming an image that fails."""
    sprites = []
    for example in examples:
        image = example.open()
        try:
            sprites.append(sprite_from_image(image))
        except ValueError as exc:
            raise PixelgifError(f"image {example.name}: {exc}") from None
    return SpriteData(np.stack(sprites), [e.caption for e in examples])


def check_init(config: FullTrainConfig) -> None:
    """Raise PixelgifError unless ``config.init`` names weights that exist."""
    from ...models.bundled import bundled_model_available, is_sprite_model_folder

    if config.init == "bundled":
        if not bundled_model_available():
            raise PixelgifError("--init bundled: the bundled weights are not installed; use --init scratch")
    elif config.init != "scratch" and not is_sprite_model_folder(config.init):
        raise PixelgifError(f"--init {config.init!r} is not bundled, scratch or a model folder made by "
                            "pixelgif train --full (with pixelgif_model.json and unet/)")  # fmt: skip


def check_inputs(config: FullTrainConfig) -> SpriteData:
    """Return the prepared data after every check that needs no model: fails in a blink on bad input."""
    check_output(config, what="the model")
    check_init(config)
    examples = find_examples(config.data, config.caption_column, config.image_column, config.trigger_word)
    if not any(e.caption for e in examples) and not config.validation_prompts:
        raise PixelgifError(f"every caption in {config.data!r} is empty; write captions for the images")
    return prepare_data(examples)


def train_full(config: FullTrainConfig, progress: bool = True, log=print, data: SpriteData | None = None) -> FullTrainResult:
    """Train (or resume) the sprite model as ``config`` says; return a FullTrainResult once OUT is a model folder.

    ``data`` is what ``check_inputs(config)`` returned, when the caller checked already.
    """
    from .trainer import FullTrainer

    started = time.perf_counter()
    data = check_inputs(config) if data is None else data
    trainer = FullTrainer(data, config, progress=progress)
    if config.resume:
        where = trainer.load_latest_checkpoint()
        log(f"resumed from {where} at step {trainer.step}")
    resumed_from = trainer.step
    losses = trainer.run()
    trainer.save_model()
    return FullTrainResult(config.output, trainer.step, resumed_from, losses, trainer.validation_files,
                           time.perf_counter() - started)  # fmt: skip


__all__ = ["CHECKPOINTS", "RUN_FILE", "FullTrainConfig", "FullTrainResult", "SpriteData", "check_inputs", "train_full"]
