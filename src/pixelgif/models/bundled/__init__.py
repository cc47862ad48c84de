"""The bundled offline sprite model: loads from the package with no network and no GPU."""

from __future__ import annotations

from pathlib import Path

from ...errors import ModelNotFoundError

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
BUNDLED_NAME = "bundled"
BUNDLED_DESCRIPTION = "pixelgif sprite model: 32x32 RGBA, trained on Twemoji + Noto emoji art, CPU-friendly"
# A model folder made by `pixelgif train --full` holds this file: it tells the loader that the
# folder is a bundled-architecture sprite model (unet/ + scheduler/, no model_index.json).
SPRITE_MODEL_FILE = "pixelgif_model.json"
SPRITE_MODEL_FORMAT = "pixelgif-sprite-model-1"


def is_sprite_model_folder(path) -> bool:
    """Return True when ``path`` is a folder with a sprite-model marker and UNet weights."""
    folder = Path(path).expanduser()
    return (folder / SPRITE_MODEL_FILE).is_file() and (
        folder / "unet" / "diffusion_pytorch_model.safetensors"
    ).is_file()


def bundled_model_available() -> bool:
    """Return True when the bundled weights are installed."""
    return (WEIGHTS_DIR / "unet" / "diffusion_pytorch_model.safetensors").is_file()


def load_bundled_pipeline(device=None, dtype=None, weights_dir: Path | None = None):
    """Return the bundled ``PixelSpritePipeline`` on ``device`` (default CPU, float32).

    ``weights_dir``: another folder of the same layout (a model made by ``pixelgif train --full``).
    """
    import torch
    from diffusers import DPMSolverMultistepScheduler, UNet2DConditionModel

    from .pipeline import PixelSpritePipeline
    from .text import load_text_encoder

    if weights_dir is None and not bundled_model_available():
        raise ModelNotFoundError(f"bundled model weights are missing from {WEIGHTS_DIR}; reinstall pixelgif")
    folder = Path(weights_dir).expanduser() if weights_dir is not None else WEIGHTS_DIR
    dtype = dtype or torch.float32
    unet = UNet2DConditionModel.from_pretrained(folder / "unet", torch_dtype=dtype, local_files_only=True)
    # The text encoder runs once per prompt: float32 on CPU costs nothing and keeps the prompts exact.
    on_cpu = torch.device(device or "cpu").type == "cpu"
    tokenizer, text_encoder = load_text_encoder(dtype=torch.float32 if on_cpu else dtype)
    noise_scheduler = DPMSolverMultistepScheduler.from_pretrained(folder / "scheduler", local_files_only=True)
    pipe = PixelSpritePipeline(unet=unet, text_encoder=text_encoder, tokenizer=tokenizer, scheduler=noise_scheduler)
    pipe.set_progress_bar_config(disable=True)
    if weights_dir is None:  # the library belongs to the shipped weights, not to a model trained on other sprites
        from .library import bundled_library

        pipe.library = bundled_library()
    return pipe.to(device or "cpu")
