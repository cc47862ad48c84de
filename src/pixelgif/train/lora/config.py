"""Settings of a LoRA fine-tune and the checks that need no model; no torch here (``pixelgif --help`` reads them).

``trainer`` builds the model parts for the shared loop (``pixelgif.train.loop``) from these settings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ...errors import PixelgifError
from ..data import Example, find_examples
from ..options import check_choice, check_int, check_loop_options
from ..preprocess import CROPS, RESAMPLE
from ..results import TrainResult, check_output

# No torch at import time: `pixelgif --help` builds the train parser from LoraTrainConfig.
LORA_FILE = "pytorch_lora_weights.safetensors"  # the name diffusers' load_lora_weights looks for
# `auto` mixed precision on a CUDA GPU; on CPU it is none.
AUTO_PRECISION_ON_GPU = "fp16"
UNET_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")  # the UNet attention projections, as in diffusers' script


@dataclass
class LoraTrainConfig:
    """Settings of one LoRA fine-tune. Defaults follow the seed recipe (rank 4, lr 1e-4 constant, batch 16)."""

    data: Path | str  # folder of images + captions, a .parquet file, or a hub data set id
    model: str
    output: Path  # folder: final LoRA, checkpoints/, validation/ (a str is made a Path)
    # data
    resolution: int | None = None  # None: the model's own size (512 for SD 1.5, 768 for SD 2.1)
    resample: str = "auto"  # auto: whole-number nearest-neighbour for pixel art, Lanczos for other images
    crop: str = "center"
    flip: bool = False  # mirror half of the images at random
    caption_column: str = "text"
    image_column: str = "image"
    trigger_word: str = ""  # appended to every caption, e.g. "pixelartstyle" -> "a knight, pixelartstyle"
    caption_dropout: float = 0.0  # share of captions trained as "" (helps classifier-free guidance)
    cache: bool = True  # keep VAE latents and text embeddings after first use
    # LoRA
    rank: int = 4
    lora_alpha: float | None = None  # None: the rank (scale 1)
    target_modules: tuple[str, ...] = UNET_TARGETS
    train_text_encoder: bool = False
    # optimisation: 4 x 4 accumulated = the seed recipe's batch 16 in the memory of 4
    steps: int = 1000
    learning_rate: float = 1e-4
    lr_scheduler: str = "constant"
    warmup_steps: int = 0
    batch_size: int = 4
    gradient_accumulation: int = 4
    max_grad_norm: float = 1.0
    snr_gamma: float = 0.0  # Min-SNR-gamma loss weighting; 0: plain MSE (the seed recipe)
    seed: int = 0
    mixed_precision: str = "auto"  # auto: fp16 on a CUDA GPU, none on CPU
    gradient_checkpointing: bool = False
    device: str | None = None
    # checkpoints, validation, logging
    checkpoint_every: int = 500  # 0: only at the end
    keep_checkpoints: int = 3
    resume: bool = False
    validate_every: int = 500  # 0: never
    validation_prompts: tuple[str, ...] = ()  # empty: the first two captions of the data
    validation_frames: int = 8  # frames per transition of the validation morph
    validation_steps: int | None = None  # denoising steps of validation renders (None: the model's default)
    log_every: int = 10
    tensorboard: bool = True  # log to OUTPUT/tensorboard when the tensorboard package is installed

    def __post_init__(self):
        self.data, self.output = str(self.data), Path(self.output).expanduser()
        self.model = str(self.model) if self.model else ""
        if not self.model:
            raise ValueError("no base model: give a Stable Diffusion hub id, diffusers folder or "
                             ".safetensors checkpoint")  # fmt: skip
        if not self.data:
            raise ValueError("no data: give a folder of images with captions, a .parquet file or a hub data set id")
        if self.output.suffix in (".safetensors", ".bin"):
            raise ValueError(f"output {str(self.output)!r} names a file: give a folder; the LoRA is written into it "
                             f"as {LORA_FILE}")  # fmt: skip
        self.target_modules = tuple(self.target_modules)
        self.validation_prompts = tuple(self.validation_prompts)
        check_loop_options(self)
        check_int("rank", self.rank, 1)
        if self.lora_alpha is not None and not (math.isfinite(self.lora_alpha) and self.lora_alpha > 0):
            raise ValueError(f"lora_alpha must be above 0, got {self.lora_alpha}")
        if not self.target_modules or not all(isinstance(m, str) and m for m in self.target_modules):
            raise ValueError("target_modules must name at least one layer, e.g. to_q,to_k,to_v,to_out.0")
        if self.resolution is not None:
            check_int("resolution", self.resolution, 8)
            if self.resolution % 8:
                raise ValueError(f"resolution must be a multiple of 8, got {self.resolution}")
        check_choice("resample", self.resample, tuple(RESAMPLE))
        check_choice("crop", self.crop, CROPS)

    @property
    def alpha(self) -> float:
        """Return the LoRA alpha (the rank unless set): the LoRA's output is scaled by alpha / rank."""
        return float(self.lora_alpha) if self.lora_alpha is not None else float(self.rank)

    @property
    def lora_file(self) -> Path:
        return self.output / LORA_FILE


@dataclass(kw_only=True)
class LoraTrainResult(TrainResult):
    """A LoRA run's `TrainResult`, plus the LoRA file and whether this is the main process."""

    lora: Path
    main_process: bool = True  # False in the other processes of `accelerate launch`


def check_inputs(config: LoraTrainConfig) -> list[Example]:
    """Return the data set's examples after every check that needs no model: fails in a blink on bad input."""
    from ...models.presets import check_names

    check_output(config, what="the LoRA")
    if config.model == "bundled":
        raise PixelgifError("the bundled model cannot take a LoRA; give a Stable Diffusion model with --model "
                            "(to train the bundled model itself on your images: "
                            "pixelgif train DATA --full -o OUT)")  # fmt: skip
    check_names(config.model)
    examples = find_examples(config.data, config.caption_column, config.image_column, config.trigger_word)
    if not any(e.caption for e in examples) and not config.validation_prompts:
        raise PixelgifError(f"every caption in {config.data!r} is empty; write captions for the images")
    return examples
