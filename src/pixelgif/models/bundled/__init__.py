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
DISTILL_FILE = "distill.json"  # a distilled student's folder: its step count (see `sampling_steps`)


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

    ``weights_dir``: another folder of the same layout (a model made by ``pixelgif train --full``,
    or a distilled student of the bundled model). Its UNet, sampler and text encoder load as the
    torch-only modules `sprite_unet`, `samplers` and `minilm` (no diffusers, transformers or peft
    import: those took most of a cold start); a UNet config or sampler setting they do not
    implement loads through diffusers instead.
    """
    import torch

    from .pipeline import PixelSpritePipeline
    from .text import load_text_encoder

    if weights_dir is None and not bundled_model_available():
        raise ModelNotFoundError(f"bundled model weights are missing from {WEIGHTS_DIR}; reinstall pixelgif")
    folder = Path(weights_dir).expanduser() if weights_dir is not None else WEIGHTS_DIR
    dtype = dtype or torch.float32
    unet = load_unet(folder / "unet", dtype)
    # The text encoder runs once per prompt: float32 on CPU costs nothing and keeps the prompts exact.
    on_cpu = torch.device(device or "cpu").type == "cpu"
    tokenizer, text_encoder = load_text_encoder(dtype=torch.float32 if on_cpu else dtype)
    pipe = PixelSpritePipeline(unet=unet, text_encoder=text_encoder, tokenizer=tokenizer,
                               scheduler=load_sampler(folder / "scheduler"))  # fmt: skip
    steps = sampling_steps(folder)
    if steps is not None:  # a few-step student of the bundled model says how many steps it was distilled for
        pipe.default_num_inference_steps = steps
    if weights_dir is None:  # the library belongs to the shipped weights, not to a model trained on other sprites
        from .library import bundled_library

        pipe.library = bundled_library()
    pipe = pipe.to(device or "cpu")
    from .onnx_unet import onnx_unet_for

    pipe.onnx_unet = onnx_unet_for(pipe.unet)  # None: the eager module (another device, dtype or architecture)
    return pipe


def sampling_steps(folder: Path) -> int | None:
    """Return the sampling steps a weights folder asks for (``distill.json``'s ``steps``, written by
    ``python -m pixelgif.train.bundled.distill --export``), or None for the pipeline's default."""
    import json

    try:
        steps = json.loads((Path(folder) / DISTILL_FILE).read_text()).get("steps")
    except (OSError, ValueError, AttributeError):
        return None
    return steps if isinstance(steps, int) and steps > 0 else None


def load_unet(folder: Path, dtype):
    """Return the UNet in ``folder``: a `sprite_unet.SpriteUNet`, or diffusers' UNet for a config it does not implement."""
    from .sprite_unet import load_sprite_unet, read_config, unsupported

    if unsupported(read_config(folder)) is None:
        return load_sprite_unet(folder, dtype)
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel.from_pretrained(folder, torch_dtype=dtype, local_files_only=True)


def load_sampler(folder: Path):
    """Return the sampler in ``folder`` (scheduler_config.json): one of `samplers`, or diffusers' for other settings."""
    import json

    from .samplers import scheduler_for

    config = json.loads((folder / "scheduler_config.json").read_text())
    sampler = scheduler_for(config.get("_class_name", ""), config)
    if sampler is not None:
        return sampler
    import diffusers

    return getattr(diffusers, config["_class_name"]).from_pretrained(folder, local_files_only=True)
