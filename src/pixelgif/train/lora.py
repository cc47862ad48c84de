"""Fine-tune a LoRA on a Stable Diffusion UNet from pixel-art images with captions.

    result = train_lora(LoraTrainConfig(data="sprites/", model="./sd15", output="sprites.safetensors"))

The output is a diffusers-format LoRA (``unet.*.lora_A/B.weight``) that
``pixelgif morph --lora sprites.safetensors`` and ``pipe.load_lora_weights`` load. This module
holds the settings and the checks that need no model; ``lora_trainer`` holds the training loop.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PixelgifError
from ..outputs import check_writable
from .lora_data import RESAMPLE, Example, find_examples

# No torch at import time: `pixelgif --help` builds the train parser from LoraTrainConfig.
MIXED_PRECISION = ("no", "bf16", "fp16")


@dataclass
class LoraTrainConfig:
    """Settings of one LoRA fine-tune; the defaults suit a few hundred pixel-art images on a GPU."""

    data: Path | str
    model: str
    output: Path | str
    resolution: int | None = None  # None: the model's own size (512 for SD 1.5, 768 for SD 2.1)
    resample: str = "nearest"  # how images are resized; nearest keeps pixel-art edges hard
    caption_column: str = "text"  # metadata.jsonl column holding the caption
    rank: int = 8
    learning_rate: float = 1e-4
    warmup_steps: int = 0
    steps: int = 1000
    batch_size: int = 1
    gradient_accumulation: int = 1
    max_grad_norm: float = 1.0
    seed: int = 0
    mixed_precision: str = "no"
    gradient_checkpointing: bool = False
    cache: bool = True  # keep VAE latents and text embeddings after first use: later epochs skip both encoders
    checkpoint_every: int = 500  # optimizer steps between checkpoints; 0: never
    checkpoint: Path | str | None = None  # None: next to the output, OUT.checkpoint.pt
    resume: bool = False
    device: str | None = None

    def __post_init__(self):
        self.data, self.output = Path(self.data).expanduser(), Path(self.output).expanduser()
        self.model = str(self.model) if self.model else ""
        if not self.model:
            raise ValueError("no base model: give a Stable Diffusion hub id, diffusers folder or .safetensors checkpoint")
        if self.output.suffix != ".safetensors":
            raise ValueError(f"output {str(self.output)!r} must end in .safetensors (the LoRA is written as safetensors)")
        self.checkpoint = Path(self.checkpoint).expanduser() if self.checkpoint else checkpoint_path(self.output)
        if self.checkpoint.resolve() == self.output.resolve():
            raise ValueError(f"checkpoint and output are the same file {str(self.output)!r}; give another --checkpoint")
        for name in ("steps", "rank", "batch_size", "gradient_accumulation"):
            _check_int(name, getattr(self, name), 1)
        for name in ("warmup_steps", "checkpoint_every", "seed"):
            _check_int(name, getattr(self, name), 0)
        if not (math.isfinite(self.learning_rate) and 0 < self.learning_rate < 1):
            raise ValueError(f"learning_rate must be above 0 and below 1 (typical: 1e-4), got {self.learning_rate}")
        if not (math.isfinite(self.max_grad_norm) and self.max_grad_norm > 0):
            raise ValueError(f"max_grad_norm must be above 0, got {self.max_grad_norm}")
        if self.resolution is not None:
            _check_int("resolution", self.resolution, 8)
            if self.resolution % 8:
                raise ValueError(f"resolution must be a multiple of 8, got {self.resolution}")
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(f"mixed_precision must be one of {', '.join(MIXED_PRECISION)}, got {self.mixed_precision!r}")
        if self.resample not in RESAMPLE:
            raise ValueError(f"resample must be one of {', '.join(RESAMPLE)}, got {self.resample!r}")


@dataclass
class LoraTrainResult:
    """What a training run made: the LoRA file, its step count and the loss of each step run here."""

    output: Path
    steps: int
    resumed_from: int = 0
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0


def checkpoint_path(output: Path) -> Path:
    """Return the default checkpoint file of ``output``: ``sprites.safetensors`` -> ``sprites.checkpoint.pt``."""
    return output.with_suffix(".checkpoint.pt")


def check_inputs(config: LoraTrainConfig) -> list[Example]:
    """Return the data set's examples after every check that needs no model: fails in a blink on bad input."""
    from ..models.presets import check_names

    check_writable(config.output)
    if config.checkpoint_every or config.resume:
        check_writable(config.checkpoint)
    if config.resume and not config.checkpoint.is_file():
        raise PixelgifError(f"nothing to resume: no checkpoint {str(config.checkpoint)!r} (train without --resume first)")
    if config.model == "bundled":
        raise PixelgifError("the bundled model cannot take a LoRA; give a Stable Diffusion model with --model")
    check_names(config.model)
    return find_examples(config.data, config.caption_column)


def train_lora(config: LoraTrainConfig, progress: bool = True, log=print, examples: list[Example] | None = None):
    """Train (or resume) a LoRA as ``config`` says; return a LoraTrainResult once ``config.output`` is written.

    ``examples`` are those ``check_inputs(config)`` returned, when the caller checked already.
    """
    from .lora_trainer import LoraTrainer, load_base

    started = time.perf_counter()
    examples = check_inputs(config) if examples is None else examples
    pipe = load_base(config.model, config.device)
    trainer = LoraTrainer(pipe, examples, config)
    if config.resume:
        trainer.load_checkpoint(config.checkpoint)
        log(f"resumed from {config.checkpoint} at step {trainer.step}")
    elif config.checkpoint_every and config.checkpoint.exists():
        log(f"note: {config.checkpoint} is from an earlier run and will be replaced (--resume continues it)")
    resumed_from = trainer.step
    losses = trainer.run(progress=progress)
    if config.checkpoint_every:
        trainer.save_checkpoint(config.checkpoint)  # the final state: --resume --steps MORE trains on
    trainer.save_lora(config.output)
    return LoraTrainResult(config.output, trainer.step, resumed_from, losses, time.perf_counter() - started)


def _check_int(name: str, value, minimum: int) -> None:
    """Raise ValueError unless ``value`` is a whole number of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be a whole number of at least {minimum}, got {value!r}")
