"""The one training loop of pixelgif: LoRA fine-tunes and full training of the bundled model share it.

A recipe (``lora.trainer.LoraTrainer``, ``full.trainer.FullTrainer``, ``bundled.trainer.train``)
builds its model parts and gives the loop a loss function that draws its own batch; the loop owns
everything around it:

* ``accelerate.Accelerator``: device placement, mixed precision (fp16 loss scaling on GPU, bf16
  autocast on CPU or GPU) and data-parallel training under ``accelerate launch``;
* AdamW, a learning-rate schedule by name (diffusers' ``get_scheduler``) or any ``step -> factor``
  function, gradient accumulation, gradient clipping, an optional EMA of the weights;
* the progress bar with the loss, a ``log.txt``, TensorBoard when installed, a stop time,
  checkpoint and validation hooks every N steps, and a stop with a hint when the loss diverges.

``diffusion_loss`` is the shared noise-prediction objective and ``drop_captions`` the shared
caption dropout for classifier-free guidance.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import torch

from ..errors import PixelgifError
from .options import LR_SCHEDULES, MIXED_PRECISION

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter


@dataclass
class LoopSettings:
    """How the loop runs; the recipes fill it from their own (user-facing) config."""

    steps: int
    learning_rate: float
    gradient_accumulation: int = 1
    max_grad_norm: float = 1.0
    weight_decay: float = 1e-2
    ema_decay: float | None = None  # None: no EMA
    checkpoint_every: int = 0  # 0: only the final checkpoint (when final_checkpoint)
    final_checkpoint: bool = True
    validate_every: int = 0
    log_every: int = 10
    log_file: Path | None = None  # "step N loss X time HH:MM:SS" lines, appended
    tensorboard_dir: Path | None = None  # used when the tensorboard package is installed
    minutes: float | None = None  # stop after this long (the final checkpoint is still written)
    progress: bool = True
    description: str = "training"
    bar_interval: float = 0.5  # seconds between progress bar refreshes


def make_accelerator(mixed_precision: str = "no", device: str | None = None):
    """Return an ``accelerate.Accelerator`` for ``mixed_precision`` on ``device`` (None/auto: its own pick)."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    if mixed_precision not in MIXED_PRECISION:
        raise ValueError(f"mixed_precision must be one of {', '.join(MIXED_PRECISION)}, got {mixed_precision!r}")
    cpu = device == "cpu" or (device in (None, "auto") and not torch.cuda.is_available())
    if device not in (None, "auto", "cpu") and not str(device).startswith("cuda"):
        raise PixelgifError(f"--device {device} is not supported by training: use auto, cpu or cuda "
                            "(pick GPUs with CUDA_VISIBLE_DEVICES or accelerate launch)")  # fmt: skip
    if not cpu and not torch.cuda.is_available():
        raise PixelgifError(f"--device {device} needs a CUDA GPU, and torch sees none")
    if mixed_precision == "fp16" and cpu:
        raise PixelgifError("--mixed-precision fp16 needs a CUDA GPU (device here: cpu); on CPU use bf16")
    if mixed_precision == "bf16" and not cpu and not torch.cuda.is_bf16_supported():
        raise PixelgifError("this GPU has no bfloat16 support; use --mixed-precision fp16")
    # One process may train several times (notebooks, tests): settings of an earlier run must not stick.
    AcceleratorState._reset_state()
    return Accelerator(mixed_precision=mixed_precision, cpu=cpu)


def lr_schedule(name: str, warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """Return diffusers' learning-rate factor for optimizer step ``step`` (0-based) of schedule ``name``."""
    from diffusers.optimization import get_scheduler

    if name not in LR_SCHEDULES:
        raise ValueError(f"lr_scheduler must be one of {', '.join(LR_SCHEDULES)}, got {name!r}")
    if name == "constant" and warmup_steps:
        name = "constant_with_warmup"  # diffusers' "constant" ignores the warm-up
    # The factor only depends on the step, so resuming needs no scheduler state: set lr from it each step.
    scratch = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    return get_scheduler(name, scratch, num_warmup_steps=warmup_steps, num_training_steps=total_steps).lr_lambdas[0]


class EMA:
    """Exponential moving average of a model's weights, kept in ``target`` (a module of the same shape)."""

    def __init__(self, target: torch.nn.Module, decay: float):
        self.target, self.decay = target.requires_grad_(False), decay

    @torch.no_grad()
    def update(self, parameters, step: int) -> None:
        """Move the average towards ``parameters``; early steps average over fewer steps (warm-up)."""
        decay = min(self.decay, (1 + step) / (10 + step))
        for average, current in zip(self.target.parameters(), parameters, strict=True):
            average.lerp_(current, 1 - decay)


def drop_captions(count: int, probability: float, random) -> torch.Tensor:
    """Return a bool mask of the ``count`` captions to replace by the empty one (classifier-free guidance).

    ``random(count)`` returns ``count`` uniform numbers in [0, 1) (numpy's ``rng.random`` or a seeded torch one).
    """
    import numpy as np

    # Draw even at probability 0: the random stream (and so the run) stays the same for any setting.
    return torch.from_numpy(np.asarray(random(count)) < probability)


def diffusion_loss(
    forward, noise_scheduler, clean: torch.Tensor, generator: torch.Generator | None = None, snr_gamma: float = 0.0
):
    """Return the MSE of ``forward(noisy, timesteps)`` against the scheduler's target for ``clean`` samples.

    Noise, then timesteps, are drawn from ``generator`` (None: torch's global one) on the CPU. The target
    is the noise (epsilon), the velocity (v_prediction) or the clean sample, as the scheduler predicts.
    ``snr_gamma`` > 0: each sample's error is weighted by Min-SNR-gamma (Hang et al., 2023), so
    nearly clean timesteps, easy to predict, stop dominating the gradient (gamma 5 is the paper's).
    """
    # Like randn_like: the noise follows clean's memory layout (the bundled model's data is channels-last).
    noise = torch.empty_like(clean, device="cpu").normal_(generator=generator).to(clean.device)
    count = noise_scheduler.config.num_train_timesteps
    timesteps = torch.randint(0, count, (len(clean),), generator=generator).to(clean.device)
    noisy = noise_scheduler.add_noise(clean, noise, timesteps)
    kind = noise_scheduler.config.prediction_type
    if kind == "epsilon":
        target = noise
    elif kind == "v_prediction":
        target = noise_scheduler.get_velocity(clean, noise, timesteps)
    elif kind == "sample":
        target = clean
    else:
        raise PixelgifError(f"the model predicts {kind!r}, which training does not know")
    prediction = forward(noisy, timesteps)
    if not snr_gamma:
        return torch.nn.functional.mse_loss(prediction.float(), target.float())
    from diffusers.training_utils import compute_snr

    snr = compute_snr(noise_scheduler, timesteps).float()
    clipped = torch.clamp(snr, max=snr_gamma)
    # min(SNR, gamma) / SNR in epsilon terms; the v and x0 targets scale the error by SNR + 1 and 1 / SNR.
    weights = {"epsilon": clipped / snr, "v_prediction": clipped / (snr + 1), "sample": clipped}[kind]
    errors = (prediction.float() - target.float()).pow(2).mean(dim=tuple(range(1, target.ndim)))
    return (errors * weights).mean()


class TrainLoop:
    """AdamW over ``parameters`` of ``models`` under ``accelerator``; ``run(loss)`` trains to ``settings.steps``."""

    def __init__(self, settings: LoopSettings, accelerator, models: list[torch.nn.Module], parameters,
                 lr_factor: Callable[[int], float] | None = None,
                 ema_target: torch.nn.Module | None = None):  # fmt: skip
        self.settings, self.accelerator = settings, accelerator
        self.parameters = list(parameters)
        self.lr_factor = lr_factor or (lambda step: 1.0)
        self.optimizer = torch.optim.AdamW(self.parameters, lr=settings.learning_rate,
                                           weight_decay=settings.weight_decay)  # fmt: skip
        *self.models, self._optimizer = accelerator.prepare(*models, self.optimizer)
        self.ema: EMA | None = None
        if settings.ema_decay is not None:
            if ema_target is None:
                raise ValueError("an EMA (settings.ema_decay) needs ema_target, the module that keeps the average")
            self.ema = EMA(ema_target, settings.ema_decay)
        self.step = 0
        self._log_losses: list[float] = []
        self._log: TextIO | None = None
        self._writer: SummaryWriter | None = None

    @property
    def is_main(self) -> bool:
        return self.accelerator.is_main_process

    def autocast(self):
        """Return the mixed-precision context of the forward passes."""
        return self.accelerator.autocast()

    def run(self, compute_loss: Callable[[], torch.Tensor], on_checkpoint: Callable[[], object] | None = None,
            on_validate: Callable[[], object] | None = None) -> list[float]:  # fmt: skip
        """Train from ``self.step`` to ``settings.steps`` (or the stop time); return the loss of each step."""
        from tqdm.auto import tqdm

        s = self.settings
        deadline = time.monotonic() + s.minutes * 60 if s.minutes is not None else math.inf
        bar = tqdm(total=s.steps, initial=self.step, desc=s.description, unit="step", dynamic_ncols=True,
                   disable=not (s.progress and self.is_main), mininterval=s.bar_interval)  # fmt: skip
        losses: list[float] = []
        smooth = None
        try:
            while self.step < s.steps and time.monotonic() < deadline:
                loss = self.train_step(compute_loss)
                losses.append(loss)
                # One step's loss swings with its random timesteps; the bar shows a running average.
                smooth = loss if smooth is None else 0.9 * smooth + 0.1 * loss
                bar.set_postfix(loss=f"{smooth:.4f}", refresh=False)
                bar.update(1)
                self._record(loss)
                if on_checkpoint and s.checkpoint_every and self.step % s.checkpoint_every == 0 and self.step < s.steps:
                    self._on_main(on_checkpoint)
                if on_validate and s.validate_every and self.step % s.validate_every == 0:
                    self._on_main(on_validate)
            if on_validate and s.validate_every and losses and self.step % s.validate_every:
                self._on_main(on_validate)  # the end result, when the last step was not a validation step
            if on_checkpoint and s.final_checkpoint:
                self._on_main(on_checkpoint)
        finally:
            bar.close()
            self.close()
        return losses

    def train_step(self, compute_loss: Callable[[], torch.Tensor]) -> float:
        """Run one optimizer step over ``gradient_accumulation`` batches; return its mean loss."""
        accumulation = self.settings.gradient_accumulation
        total = 0.0
        for micro in range(accumulation):
            # Gradients sync between processes only on the last batch of the step.
            last = micro == accumulation - 1
            with contextlib.nullcontext() if last else self.accelerator.no_sync(self.models[0]):
                loss = compute_loss() / accumulation
                value = loss.item()
                if not math.isfinite(value):
                    hint = " or --mixed-precision no" if self.accelerator.mixed_precision != "no" else ""
                    raise PixelgifError(f"training diverged: the loss is {value} at step {self.step + 1}; "
                                        f"try a lower --learning-rate{hint}")  # fmt: skip
                self.accelerator.backward(loss)
            total += value
        for group in self.optimizer.param_groups:
            group["lr"] = self.settings.learning_rate * self.lr_factor(self.step)
        self.accelerator.clip_grad_norm_(self.parameters, self.settings.max_grad_norm)
        self._optimizer.step()
        self._optimizer.zero_grad(set_to_none=True)
        if self.ema is not None:
            self.ema.update(self.parameters, self.step)
        self.step += 1
        return total

    def _on_main(self, hook: Callable[[], object]) -> None:
        """Run ``hook`` on the main process only, with every process at the same step."""
        self.accelerator.wait_for_everyone()
        if self.is_main:
            hook()
        self.accelerator.wait_for_everyone()

    def _record(self, loss: float) -> None:
        """Every ``log_every`` steps, write the window's mean loss to log.txt and TensorBoard (main process)."""
        self._log_losses.append(loss)
        s = self.settings
        if not s.log_every or self.step % s.log_every or not self.is_main:
            return
        mean = sum(self._log_losses) / len(self._log_losses)
        self._log_losses = []
        if s.log_file is not None:
            if self._log is None:
                s.log_file.parent.mkdir(parents=True, exist_ok=True)
                self._log = open(s.log_file, "a", encoding="utf-8")  # noqa: SIM115 (open for the whole run; close() closes it)
            self._log.write(f"step {self.step} loss {mean:.4f} time {time.strftime('%H:%M:%S')}\n")
            self._log.flush()
        writer = self._tensorboard()
        if writer is not None:
            writer.add_scalar("train/loss", mean, self.step)
            writer.add_scalar("train/lr", self.optimizer.param_groups[0]["lr"], self.step)

    def _tensorboard(self):
        """Return a TensorBoard writer, made on first use; None without a folder or the tensorboard package."""
        if self._writer is None and self.settings.tensorboard_dir is not None and tensorboard_available():
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.settings.tensorboard_dir))
        return self._writer

    def close(self) -> None:
        """Close the log file and TensorBoard writer."""
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def tensorboard_available() -> bool:
    """Return True when the ``tensorboard`` package (needed by torch's SummaryWriter) is installed."""
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None
