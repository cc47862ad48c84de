"""Fine-tune a LoRA on a Stable Diffusion model from pixel-art images with captions.

    result = train_lora(LoraTrainConfig(data="sprites/", model="./sd15", output="sprites-lora"))

The output folder holds the final LoRA as ``pytorch_lora_weights.safetensors`` (diffusers format:
``pixelgif morph --lora sprites-lora`` and ``pipe.load_lora_weights("sprites-lora")`` load it),
``checkpoints/step-N/`` (safetensors + JSON, for ``resume``), ``validation/`` (renders and a morph
GIF every ``validate_every`` steps), ``training.json`` (the run's settings), ``log.txt`` and
``tensorboard/`` (when tensorboard is installed). ``config`` holds the settings and the checks that
need no model, ``trainer`` the model parts for the shared loop (``pixelgif.train.loop``). No torch
at import time.
"""

from __future__ import annotations

import time

from ..data import Example
from .config import LORA_FILE, LoraTrainConfig, LoraTrainResult, check_inputs


def train_lora(config: LoraTrainConfig, progress: bool = True, log=print,
               examples: list[Example] | None = None) -> LoraTrainResult:  # fmt: skip
    """Train (or resume) a LoRA as ``config`` says; return a LoraTrainResult once the LoRA is written.

    ``examples`` are those ``check_inputs(config)`` returned, when the caller checked already.
    """
    from .trainer import LoraTrainer, load_base

    started = time.perf_counter()
    examples = check_inputs(config) if examples is None else examples
    pipe = load_base(config.model)
    trainer = LoraTrainer(pipe, examples, config, progress=progress)
    if config.resume:
        where = trainer.load_latest_checkpoint()
        if trainer.accelerator.is_main_process:
            log(f"resumed from {where} at step {trainer.step}")
    resumed_from = trainer.step
    losses = trainer.run()
    trainer.save_final()
    return LoraTrainResult(config.output, trainer.step, resumed_from, losses, trainer.validation_files,
                           time.perf_counter() - started, lora=config.lora_file,
                           main_process=trainer.accelerator.is_main_process)  # fmt: skip


__all__ = ["LORA_FILE", "LoraTrainConfig", "LoraTrainResult", "check_inputs", "train_lora"]
