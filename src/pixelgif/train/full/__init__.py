"""Full training of a small sprite model (the bundled architecture) from image/caption data.

    result = train_full(FullTrainConfig(data="sprites/", output="my-sprites"))

``pixelgif train DATA --full -o OUT`` runs this: it fine-tunes every weight of the bundled 32x32
RGBA model (``init="bundled"``, the default) or trains the same architecture from random weights
(``init="scratch"``) on the same shared loop as LoRA training (``loop.TrainLoop``), with the
bundled recipe's parts: sprites made by the pixel-art engine, MiniLM captions embedded once,
caption dropout, EMA, float32 (bf16 autocast on request). OUT becomes a model folder (``unet/``
fp16 safetensors, ``scheduler/``, ``pixelgif_model.json``) that ``pixelgif morph --model OUT``
loads, next to ``checkpoints/``, ``validation/``, ``training.json`` and ``log.txt``. ``config``
holds the settings and the checks that need no model, ``data`` makes the sprites, ``trainer``
the model parts. No torch at import time.
"""

from __future__ import annotations

import time

from .config import FullTrainConfig, FullTrainResult, check_inputs
from .data import SpriteData, sprite_from_image


def train_full(config: FullTrainConfig, progress: bool = True, log=print,
               data: SpriteData | None = None) -> FullTrainResult:  # fmt: skip
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


__all__ = ["FullTrainConfig", "FullTrainResult", "SpriteData", "check_inputs", "sprite_from_image", "train_full"]
