"""Backend models: loading diffusers pipelines and LoRAs, presets, and the bundled sprite model.

Importing this package is cheap; torch and diffusers load on the first call to `load_pipeline`
or `load_backend`. `load_backend` (and `backend_of` for a pipeline loaded otherwise) return the
`pixelgif.morph.backend.Backend` the morph engine drives.
"""

from __future__ import annotations

from typing import Any

from .presets import BUNDLED, LORA_PRESETS, LORA_SCALE, MODEL_PRESETS, RENAMED_MODELS, SD21


def load_pipeline(model=None, lora=None, lora_scale=LORA_SCALE, device=None, dtype=None, vae=None):
    """Return the diffusers pipeline alone; see `pixelgif.models.loading.load_pipeline`."""
    from .loading import load_pipeline as _load

    return _load(model, lora=lora, lora_scale=lora_scale, device=device, dtype=dtype, vae=vae)


def load_backend(model=None, lora=None, lora_scale=LORA_SCALE, device=None, dtype=None, vae=None):
    """Return the morph engine's backend; see `pixelgif.models.loading.load_backend`."""
    from .loading import load_backend as _load

    return _load(model, lora=lora, lora_scale=lora_scale, device=device, dtype=dtype, vae=vae)


def backend_of(pipe: Any, presets=()):
    """Return the backend of a loaded pipeline; see `pixelgif.models.backend.backend_of`."""
    from .backend import backend_of as _describe

    return _describe(pipe, presets)


def start_sprite_session(model: dict[str, Any]) -> bool:
    """Start building, in a thread, the ONNX Runtime session that loading ``model`` (`RunRequest.model`'s
    options) will run its UNet on (`bundled.onnx_session.prebuild`): for a sprite model without
    LoRAs on the CPU in float32. Return True when started. No torch: a cold command calls it
    before it imports torch, which the build then overlaps."""
    from .cpu import may_have_accelerator
    from .presets import sprite_model_folder

    folder = sprite_model_folder(model)
    device, dtype = model.get("device"), model.get("dtype") or "auto"
    if folder is None or model.get("lora") or str(device or "cpu") != "cpu" or dtype not in ("auto", "float32"):
        return False
    if device is None and may_have_accelerator():
        return False
    from .bundled.onnx_session import prebuild

    return prebuild(folder / "unet")


__all__ = ["BUNDLED", "LORA_PRESETS", "LORA_SCALE", "MODEL_PRESETS", "RENAMED_MODELS", "SD21", "backend_of",
           "load_backend", "load_pipeline", "start_sprite_session"]  # fmt: skip
