"""The full-training recipe behind ``pixelgif.train.full.train_full``: the bundled UNet on the shared loop.

Model parts and batches are those of ``pixelgif.train.bundled.trainer`` (UNet config, DDPM schedule, the
MiniLM ``CaptionBank``, EMA, float32 unless bf16 is asked for); files are those of LoRA training: safetensors +
JSON checkpoints (``checkpoints.py``), ``training.json`` marking the run, validation renders. The
batch draws and the noise come from two seeded generators whose states go into checkpoints, so a
resumed run continues exactly as an uninterrupted one would.
"""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ...errors import PixelgifError
from ...models.bundled import SPRITE_MODEL_FILE, SPRITE_MODEL_FORMAT
from ...outputs import atomic_output
from .. import checkpoints as ckpt
from ..bundled.trainer import CaptionBank, sprites_to_tensor, write_weights
from ..loop import LoopSettings, TrainLoop, diffusion_loss, lr_schedule, make_accelerator
from ..options import resolve_mixed_precision
from ..results import CHECKPOINTS, RUN_FILE
from .config import AUTO_PRECISION_ON_GPU, FullTrainConfig
from .data import SpriteData

if TYPE_CHECKING:
    from ...models.bundled.pipeline import PixelSpritePipeline

CHECKPOINT_FORMAT = "pixelgif-full-checkpoint-1"
RUN_FORMAT = "pixelgif-full-run-1"
ARCHITECTURE = "bundled"


def new_unet(init: Path | None, seed: int):
    """Return a float32 bundled-architecture UNet: the weights in ``init``/unet, or random ones drawn from ``seed``."""
    from diffusers import UNet2DConditionModel

    from ...models.bundled.unet import unet_config

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(**unet_config())
    if init is not None:
        start = UNet2DConditionModel.from_pretrained(init / "unet", local_files_only=True)
        try:
            unet.load_state_dict({k: v.float() for k, v in start.state_dict().items()})
        except RuntimeError:
            raise PixelgifError(f"--init {str(init)!r} is not the bundled sprite architecture") from None
    return unet


class FullTrainer(ckpt.RunFiles):
    """Every weight of the bundled UNet with its loop, EMA and random state; ``run`` trains it."""

    checkpoint_format, run_format, run_file, checkpoints = CHECKPOINT_FORMAT, RUN_FORMAT, RUN_FILE, CHECKPOINTS
    foreign_checkpoint = ("{folder} is not a checkpoint of pixelgif train --full (a LoRA run?); "
                          "train into another --output")  # fmt: skip
    config: FullTrainConfig

    def __init__(self, data: SpriteData, config: FullTrainConfig, progress: bool = True):
        from diffusers import DDPMScheduler

        from ...models.bundled.unet import scheduler_config

        self.config = config
        precision = resolve_mixed_precision(config.mixed_precision, config.device, AUTO_PRECISION_ON_GPU)
        self.accelerator = make_accelerator(precision, config.device)
        self.device = self.accelerator.device
        self.images = sprites_to_tensor(data.sprites)
        self.captions = data.captions
        self.bank = CaptionBank([{"captions": [c]} for c in data.captions], cache=None)
        self.unet = new_unet(config.init_folder, config.seed)
        self.ema = None
        if config.ema_decay:
            self.ema = copy.deepcopy(self.unet).requires_grad_(False)
        self.noise_scheduler = DDPMScheduler(**scheduler_config(), clip_sample=False)
        # Batches, flips and caption draws; under `accelerate launch` each process draws its own.
        rank = self.accelerator.process_index
        self.rng = np.random.default_rng(config.seed if rank == 0 else [config.seed, rank])
        self.noise_generator = torch.Generator().manual_seed(config.seed + 1 + rank)
        self.validation_files: list[Path] = []
        self._pipe: PixelSpritePipeline | None = None
        out = config.output
        assert config.learning_rate is not None  # FullTrainConfig.__post_init__ picks one
        settings = LoopSettings(
            steps=config.steps, learning_rate=config.learning_rate, gradient_accumulation=config.gradient_accumulation,
            max_grad_norm=config.max_grad_norm, ema_decay=config.ema_decay or None,
            checkpoint_every=config.checkpoint_every, validate_every=config.validate_every, log_every=config.log_every,
            log_file=out / "log.txt", tensorboard_dir=out / "tensorboard" if config.tensorboard else None,
            progress=progress, description="training sprite model",
        )  # fmt: skip
        lr_factor = lr_schedule(config.lr_scheduler, config.warmup_steps, config.steps)
        self.loop = TrainLoop(settings, self.accelerator, [self.unet], self.unet.parameters(), lr_factor, self.ema)
        if self.ema is not None:
            self.ema.to(self.device)
        self.unet.train()

    @property
    def step(self) -> int:
        return self.loop.step

    @property
    def model(self):
        """Return the weights the output holds: the EMA, or the trained UNet without one."""
        return self.ema if self.ema is not None else self.unet

    # -- training -----------------------------------------------------------------------------
    def run(self) -> list[float]:
        """Train from the current step to ``config.steps``; return each step's loss."""
        return self.loop.run(self.batch_loss, on_checkpoint=self.save_checkpoint, on_validate=self.validate)

    def train_step(self) -> float:
        """Run one optimizer step; return its loss (for tests and notebooks)."""
        return self.loop.train_step(self.batch_loss)

    def batch_loss(self) -> torch.Tensor:
        """Return the noise-prediction MSE of the UNet on a random batch (flipped, captions dropped as configured)."""
        ids = self.rng.integers(0, len(self.images), self.config.batch_size)
        clean = self.images[torch.from_numpy(ids)]
        if self.config.flip:
            flips = torch.from_numpy(self.rng.random(len(ids)) < 0.5)
            clean = torch.where(flips[:, None, None, None], clean.flip(-1), clean)
        context = self.bank.sample(ids, self.rng, self.config.caption_dropout).to(self.device)
        unet = self.loop.models[0]  # under accelerate: runs in the mixed precision's autocast

        def forward(noisy, timesteps):
            return unet(noisy, timesteps, encoder_hidden_states=context).sample

        return diffusion_loss(
            forward, self.noise_scheduler, clean.to(self.device), self.noise_generator, self.config.snr_gamma
        )

    # -- files --------------------------------------------------------------------------------
    def fingerprint(self) -> dict:
        """Return what a checkpoint must share with this run to be resumed by it."""
        init = self.config.init
        if init not in ("bundled", "scratch"):
            init = str(Path(init).expanduser().resolve())
        return {"architecture": ARCHITECTURE, "init": init, "images": len(self.images),
                "ema": bool(self.config.ema_decay)}  # fmt: skip

    def save_checkpoint(self) -> Path:
        """Write the whole training state to OUT/checkpoints/step-N (safetensors + JSON); return the folder."""
        optimizer_tensors, optimizer_rest = ckpt.flatten_optimizer(self.loop.optimizer.state_dict())
        tensors = {f"unet.{k}": v for k, v in self.unet.state_dict().items()}
        if self.ema is not None:
            tensors.update({f"ema.{k}": v for k, v in self.ema.state_dict().items()})
        tensors.update(optimizer_tensors)
        tensors["random.noise"] = self.noise_generator.get_state()
        meta = {"optimizer": optimizer_rest, "random_batches": self.rng.bit_generator.state}
        return self._save_checkpoint(tensors, meta)

    def load_checkpoint(self, folder: Path) -> None:
        """Restore the state ``save_checkpoint`` wrote; raise PixelgifError if it belongs to another run."""
        tensors, meta = self._read_checkpoint(folder)
        self.unet.load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("unet.")})
        if self.ema is not None:
            self.ema.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
        self.loop.optimizer.load_state_dict(ckpt.unflatten_optimizer(tensors, meta["optimizer"]))
        self.noise_generator.set_state(tensors["random.noise"])
        self.rng.bit_generator.state = meta["random_batches"]
        self.loop.step = int(meta["step"])

    def save_model(self) -> Path:
        """Write OUT as a sprite model folder (unet/ fp16, scheduler/, pixelgif_model.json); return OUT.

        The weights go to a hidden folder first and are moved into place when complete.
        """
        from diffusers.utils import logging

        out = self.config.output
        if not self.accelerator.is_main_process:
            self.accelerator.wait_for_everyone()
            return out
        self._write_run_file()
        logging.set_verbosity_error()  # the fp16 cast warning is expected
        work = Path(tempfile.mkdtemp(prefix=".model.", suffix=".part", dir=out))
        try:
            write_weights(copy.deepcopy(self.model).to("cpu"), work)
            for part in ("unet", "scheduler"):
                if (out / part).exists():
                    shutil.rmtree(out / part)
                (work / part).rename(out / part)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        marker = {"format": SPRITE_MODEL_FORMAT, "architecture": ARCHITECTURE, "steps": self.step,
                  "init": self.fingerprint()["init"], "images": len(self.images)}  # fmt: skip
        with atomic_output(out / SPRITE_MODEL_FILE) as tmp:
            tmp.write_text(json.dumps(marker, indent=1))
        self.accelerator.wait_for_everyone()
        return out

    # -- validation ---------------------------------------------------------------------------
    def pipeline(self):
        """Return a PixelSpritePipeline over the output weights (EMA), made on first use."""
        if self._pipe is None:
            from diffusers import DPMSolverMultistepScheduler

            from ...models.bundled import WEIGHTS_DIR
            from ...models.bundled.pipeline import PixelSpritePipeline
            from ...models.bundled.text import load_text_encoder
            from ...models.bundled.unet import scheduler_config

            tokenizer, encoder = load_text_encoder()
            sampler = DPMSolverMultistepScheduler(**scheduler_config(), algorithm_type="dpmsolver++", thresholding=True,
                                                  sample_max_value=1.0)  # fmt: skip
            if (WEIGHTS_DIR / "scheduler").is_dir():  # the shipped sampler settings, when installed
                sampler = DPMSolverMultistepScheduler.from_pretrained(WEIGHTS_DIR / "scheduler", local_files_only=True)
            self._pipe = PixelSpritePipeline(unet=self.model, text_encoder=encoder.to(self.device), tokenizer=tokenizer,
                                             scheduler=sampler)  # fmt: skip
            self._pipe.set_progress_bar_config(disable=True)
        return self._pipe

    @torch.no_grad()
    def validate(self) -> list[Path]:
        """Render the validation prompts and a morph GIF into OUT/validation/step-N.*; return the files."""
        from ...models.bundled.unet import SPRITE_SIZE
        from ..validation import render_validation

        prompts = list(self.config.validation_prompts) or self.default_prompts()
        self.unet.eval()
        try:
            files = render_validation(self.pipeline(), prompts, self.config.output / "validation",
                                      ckpt.checkpoint_name(self.step), seed=self.config.seed,
                                      frames=self.config.validation_frames, steps=self.config.validation_steps,
                                      size=SPRITE_SIZE)  # fmt: skip
        finally:
            self.unet.train()
        self.validation_files.extend(files)
        return files

    def default_prompts(self) -> list[str]:
        """Return up to two distinct captions of the data, the validation prompts when none are given."""
        return list(dict.fromkeys(c for c in self.captions if c))[:2]
