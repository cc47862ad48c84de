"""Settings of a full training run of the bundled sprite architecture and the checks that need no model.

No torch here (``pixelgif --help`` reads them); ``trainer`` builds the model parts from these settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...errors import PixelgifError
from ..data import find_examples
from ..options import check_loop_options
from ..results import TrainResult, check_output
from .data import SpriteData, prepare_data

INITS = ("bundled", "scratch")  # or the path of a model folder made by --full
# `auto` mixed precision is none (float32) on CPU and GPU alike: the model is small, so on a GPU
# float32 is fast enough, and on the 2-core CPU here bf16 autocast was 11-17 % slower than float32
# per step at batch 32 (benchmarks/train_full_step.py, a quiet machine, 2 threads, with and
# without OpenMP spinning).
AUTO_PRECISION_ON_GPU = "no"


@dataclass
class FullTrainConfig:
    """Settings of one full training run of the bundled sprite architecture; defaults suit a fine-tune."""

    data: Path | str
    output: Path  # the model folder, with checkpoints/ and validation/ (a str is made a Path)
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
    snr_gamma: float = 0.0  # Min-SNR-gamma loss weighting; 0: plain MSE (the bundled recipe so far)
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
class FullTrainResult(TrainResult):
    """What a full training run made: the model folder (``output``), its step count and this run's losses."""


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
