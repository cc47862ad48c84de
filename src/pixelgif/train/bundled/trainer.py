"""Train the bundled sprite model (or resume its run), then export it; parts that ``pixelgif train --full`` shares.

A small pixel-space UNet from scratch, EMA, caption dropout, on the same loop as LoRA fine-tuning
(``pixelgif.train.loop.TrainLoop``). ``CaptionBank``, ``sprites_to_tensor`` and ``write_weights``
are public: the full-training recipe (``pixelgif.train.full.trainer``) uses them too.
Steps up to 10,971 used bf16 autocast on CPU; a later clean measurement here found float32
11-17 % faster (benchmarks/train_full_step.py), so float32 is the default now.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ...models.bundled import WEIGHTS_DIR
from ...models.bundled.text import MAX_TOKENS, load_text_encoder
from ...models.bundled.unet import scheduler_config, unet_config
from ..loop import LoopSettings, TrainLoop, diffusion_loss, drop_captions, make_accelerator
from .config import TrainConfig
from .data import load_dataset


@torch.no_grad()
def embed_captions(captions: list[str], batch: int = 256) -> torch.Tensor:
    """Return MiniLM token states (N, MAX_TOKENS, 384) in fp16 for ``captions``."""
    tokenizer, encoder = load_text_encoder()
    device = "cuda" if torch.cuda.is_available() else "cpu"  # a GPU embeds a data set's captions in seconds
    encoder.to(device)
    chunks = []
    for i in range(0, len(captions), batch):
        tokens = tokenizer(
            captions[i : i + batch], padding="max_length", max_length=MAX_TOKENS, truncation=True, return_tensors="pt"
        )
        chunks.append(encoder(**{k: v.to(device) for k, v in tokens.items()}).last_hidden_state.half().cpu())
    return torch.cat(chunks)


class CaptionBank:
    """All captions of the data set embedded once; samples one caption per image per step."""

    def __init__(self, meta: list[dict], cache: Path | None):
        """``cache``: a file that keeps the embeddings between runs (None: embed every time)."""
        self.captions = [""] + [c for m in meta for c in m["captions"]]
        self.owner_ranges = []
        start = 1
        for m in meta:
            self.owner_ranges.append((start, start + len(m["captions"])))
            start += len(m["captions"])
        if cache is None:
            self.embeds = embed_captions(self.captions)
            return
        if cache.is_file():
            self.embeds = torch.load(cache, weights_only=True)
        if not cache.is_file() or self.embeds.shape[0] != len(self.captions):
            self.embeds = embed_captions(self.captions)
            torch.save(self.embeds, cache)

    def sample(self, image_ids: np.ndarray, rng: np.random.Generator, dropout: float) -> torch.Tensor:
        """Return the embeddings of one random caption per image, some dropped to the empty caption."""
        drawn = [rng.integers(*self.owner_ranges[i]) for i in image_ids]
        rows = np.where(drop_captions(len(drawn), dropout, rng.random).numpy(), 0, drawn)  # row 0 is the empty caption
        return self.embeds[torch.from_numpy(rows)].float()


def sprites_to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """Return uint8 sprites (N, H, W, C) as a float (N, C, H, W) tensor in [-1, 1], the models' range."""
    return torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 127.5 - 1


def _save_atomic(obj, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train(config: TrainConfig, progress: bool = True) -> Path:
    """Run (or resume) training on the shared loop (``pixelgif.train.loop``); return the last checkpoint's path.

    The checkpoint ``OUT/last.pt`` is ``{"unet", "ema", "optimizer": state dicts, "step": int}``, read
    with ``torch.load(weights_only=True)``; a run resumes from it when it exists.
    """
    from diffusers import DDPMScheduler, UNet2DConditionModel

    # The order of everything random below is that of the runs that made the shipped weights.
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    config.out.mkdir(parents=True, exist_ok=True)
    pixels, meta = load_dataset(config.data)
    images = sprites_to_tensor(pixels)
    bank = CaptionBank(meta, config.out / "captions.pt")
    unet = UNet2DConditionModel(**unet_config())
    ema = UNet2DConditionModel(**unet_config()).requires_grad_(False)
    if config.init_weights:
        start = UNet2DConditionModel.from_pretrained(Path(config.init_weights) / "unet", local_files_only=True)
        unet.load_state_dict({k: v.float() for k, v in start.state_dict().items()})
    ema.load_state_dict(unet.state_dict())
    noise_scheduler = DDPMScheduler(**scheduler_config(), clip_sample=False)
    # bf16 autocast on CPU only: on a GPU the model is small enough for float32.
    accelerator = make_accelerator("bf16" if config.bf16 and not torch.cuda.is_available() else "no")
    settings = LoopSettings(
        steps=config.steps, learning_rate=config.learning_rate, ema_decay=config.ema_decay,
        checkpoint_every=config.checkpoint_every, log_every=config.log_every, log_file=config.out / "log.txt",
        minutes=config.minutes, progress=progress, bar_interval=10,
    )  # fmt: skip
    loop = TrainLoop(settings, accelerator, [unet], unet.parameters(),
                     lr_factor=config.lr_factor, ema_target=ema)  # fmt: skip
    ema.to(accelerator.device)
    checkpoint = config.out / "last.pt"
    if checkpoint.is_file():
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        unet.load_state_dict(state["unet"])
        ema.load_state_dict(state["ema"])
        loop.optimizer.load_state_dict(state["optimizer"])
        loop.step = state["step"]
        rng = np.random.default_rng([config.seed, loop.step])
        torch.manual_seed(config.seed + loop.step)
        print(f"resumed from {checkpoint} at step {loop.step}")
    params = sum(p.numel() for p in unet.parameters())
    print(f"{len(images)} sprites, {len(bank.captions)} captions, UNet {params / 1e6:.2f} M parameters")
    model, device = loop.models[0], accelerator.device

    def compute_loss() -> torch.Tensor:
        ids = rng.integers(0, len(images), config.batch_size)
        clean = images[torch.from_numpy(ids)].to(device)
        context = bank.sample(ids, rng, config.caption_dropout).to(device)

        def forward(noisy, timesteps):
            return model(noisy, timesteps, encoder_hidden_states=context).sample

        return diffusion_loss(forward, noise_scheduler, clean, snr_gamma=config.snr_gamma)

    def save_checkpoint() -> None:
        _save_atomic({"unet": unet.state_dict(), "ema": ema.state_dict(),
                      "optimizer": loop.optimizer.state_dict(), "step": loop.step}, checkpoint)  # fmt: skip

    unet.train()
    loop.run(compute_loss, on_checkpoint=save_checkpoint)
    return checkpoint


def export(checkpoint: Path, weights_dir: Path = WEIGHTS_DIR) -> Path:
    """Write the EMA weights as fp16 safetensors + scheduler config into ``weights_dir``."""
    from diffusers import UNet2DConditionModel
    from diffusers.utils import logging

    logging.set_verbosity_error()  # the fp16 cast warning is expected: nothing here needs fp32
    state = torch.load(checkpoint, weights_only=True)
    unet = UNet2DConditionModel(**unet_config())
    unet.load_state_dict(state["ema"])
    write_weights(unet, weights_dir)
    _note_export(weights_dir / "training.txt", state["step"])
    return weights_dir


def _note_export(notes: Path, step: int) -> None:
    """Put "exported from step N" first in the weights' training notes, keeping the history below it."""
    history = notes.read_text().splitlines()[1:] if notes.is_file() else []
    notes.write_text("\n".join([f"exported from step {step}", *history]) + "\n")


def write_weights(unet, weights_dir: Path) -> Path:
    """Write ``unet`` as fp16 safetensors (``unet/``) and the sampling scheduler (``scheduler/``); return the folder."""
    from diffusers import DPMSolverMultistepScheduler

    unet.to(torch.float16).save_pretrained(weights_dir / "unet", safe_serialization=True)
    # Dynamic thresholding keeps each step's predicted sprite inside [-1, 1]: right for a
    # pixel-space model, and without it 12-25 step sampling left bright speckle noise (measured).
    DPMSolverMultistepScheduler(
        **scheduler_config(), algorithm_type="dpmsolver++", thresholding=True, sample_max_value=1.0
    ).save_pretrained(weights_dir / "scheduler")
    return weights_dir
