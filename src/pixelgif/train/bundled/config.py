"""Settings of the bundled model's training run and of its export; no torch here (the command line reads them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...models.bundled import WEIGHTS_DIR
from ..options import check_snr_gamma


@dataclass
class TrainConfig:
    """Settings of one training run; defaults are those used for the shipped weights."""

    data: Path = Path("data/emoji32.npz")
    out: Path = Path("runs/bundled")
    steps: int = 20000
    minutes: float = 120.0
    batch_size: int = 32
    learning_rate: float = 3e-4
    warmup_steps: int = 200
    # Linear cool-down of the learning rate to `final_lr_fraction` of it over `decay_steps` steps
    # from step `decay_start` (0: constant after warm-up, as for the first 10,971 steps).
    decay_start: int = 0
    decay_steps: int = 4000
    final_lr_fraction: float = 0.1
    caption_dropout: float = 0.1
    snr_gamma: float = 0.0  # Min-SNR-gamma loss weighting (5 is typical); 0: plain MSE, as the shipped weights
    ema_decay: float = 0.999
    checkpoint_every: int = 200
    log_every: int = 50
    seed: int = 0
    bf16: bool = False  # bf16 autocast on CPU: slower than float32 here (measured), kept as an option
    # Start from exported weights (e.g. the shipped ones) instead of random ones, when there is
    # no checkpoint in `out` yet: lets later runs keep improving the shipped model.
    init_weights: str = ""

    def __post_init__(self):
        self.data, self.out = Path(self.data), Path(self.out)
        if self.batch_size < 1 or self.steps < 1:
            raise ValueError("batch_size and steps must be at least 1")
        if not 0 <= self.caption_dropout < 1:
            raise ValueError("caption_dropout must be in [0, 1)")
        check_snr_gamma(self.snr_gamma)
        if self.decay_start < 0 or self.decay_steps < 1 or not 0 < self.final_lr_fraction <= 1:
            raise ValueError("decay_start must be >= 0, decay_steps >= 1 and final_lr_fraction in (0, 1]")

    def lr_factor(self, step: int) -> float:
        """Return the learning-rate multiplier at ``step``: warm-up, constant, then the optional cool-down."""
        factor = min(1.0, (step + 1) / self.warmup_steps)
        if self.decay_start and step >= self.decay_start:
            done = min(1.0, (step - self.decay_start) / self.decay_steps)
            factor *= 1.0 - (1.0 - self.final_lr_fraction) * done
        return factor


@dataclass
class ExportConfig:
    """Settings of ``export``: the checkpoint to read and the weights folder to write (the package's own)."""

    checkpoint: Path = Path("runs/bundled/last.pt")
    to: Path = WEIGHTS_DIR
