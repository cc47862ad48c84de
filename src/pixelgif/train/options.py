"""Choices and checks shared by the training settings and the loop, and command-line flags made from
a settings dataclass; no torch here (``pixelgif --help`` reads them)."""

from __future__ import annotations

import argparse
import dataclasses
import math

LR_SCHEDULES = ("constant", "constant_with_warmup", "linear", "cosine", "cosine_with_restarts", "polynomial")
MIXED_PRECISION = ("no", "bf16", "fp16")


def check_loop_options(config) -> None:
    """Raise ValueError on the first bad setting that every training config shares (steps, rates, logging)."""
    for name in ("steps", "batch_size", "gradient_accumulation", "keep_checkpoints", "validation_frames"):
        check_int(name, getattr(config, name), 1)
    for name in ("warmup_steps", "checkpoint_every", "validate_every", "log_every", "seed"):
        check_int(name, getattr(config, name), 0)
    if config.validation_steps is not None:
        check_int("validation_steps", config.validation_steps, 1)
    if not (math.isfinite(config.learning_rate) and 0 < config.learning_rate < 1):
        raise ValueError(f"learning_rate must be above 0 and below 1 (typical: 1e-4), got {config.learning_rate}")
    if not (math.isfinite(config.max_grad_norm) and config.max_grad_norm > 0):
        raise ValueError(f"max_grad_norm must be above 0, got {config.max_grad_norm}")
    if not 0 <= config.caption_dropout < 1:
        raise ValueError(f"caption_dropout must be at least 0 and below 1, got {config.caption_dropout}")
    check_snr_gamma(config.snr_gamma)
    check_choice("mixed_precision", config.mixed_precision, ("auto", *MIXED_PRECISION))
    check_choice("lr_scheduler", config.lr_scheduler, LR_SCHEDULES)


def resolve_mixed_precision(setting: str, device: str | None, auto_on_gpu: str) -> str:
    """Return the mixed precision ``setting`` means: itself, or for ``auto`` ``auto_on_gpu`` on a CUDA GPU, else ``no``.

    Each recipe picks its ``auto_on_gpu`` (fp16 for LoRAs, none for the small sprite model).
    """
    if setting != "auto":
        return setting
    if auto_on_gpu == "no" or device == "cpu":
        return "no"
    import torch  # only here: `pixelgif --help` reads this module

    return auto_on_gpu if torch.cuda.is_available() else "no"


def check_snr_gamma(value) -> None:
    """Raise ValueError unless ``value`` is a Min-SNR gamma: 0 (off) or above 0 (typical: 5)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"snr_gamma must be 0 (off) or above 0 (typical: 5), got {value!r}")


def check_int(name: str, value, minimum: int) -> None:
    """Raise ValueError unless ``value`` is a whole number of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be a whole number of at least {minimum}, got {value!r}")


def check_choice(name: str, value, choices: tuple) -> None:
    """Raise ValueError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


def add_config_flags(parser: argparse.ArgumentParser, config_class) -> None:
    """Add a ``--field-name`` flag to ``parser`` for each field of dataclass ``config_class``.

    Each flag takes the type and default of the field's default value; booleans read 1/true/yes as
    true and anything else as false (``--bf16 true``).
    """
    defaults = config_class()
    for field in dataclasses.fields(config_class):
        value = getattr(defaults, field.name)
        kind = _parse_bool if isinstance(value, bool) else type(value)
        parser.add_argument("--" + field.name.replace("_", "-"), type=kind, default=value,
                            help="default: %(default)s")  # fmt: skip


def config_from_args(config_class, args: argparse.Namespace):
    """Return a ``config_class`` made from the flags that ``add_config_flags`` added, as parsed into ``args``."""
    return config_class(**{field.name: getattr(args, field.name) for field in dataclasses.fields(config_class)})


def _parse_bool(text: str) -> bool:
    return text.lower() in ("1", "true", "yes")
