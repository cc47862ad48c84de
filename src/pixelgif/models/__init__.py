"""Backend models: loading diffusers pipelines and LoRAs, presets, and the bundled sprite model.

Importing this package is cheap; torch and diffusers load on the first call to `load_pipeline`.
"""

from __future__ import annotations

from .presets import BUNDLED, LORA_PRESETS, MODEL_PRESETS, RENAMED_MODELS, SD21


def load_pipeline(model=None, lora=None, lora_scale=1.0, device=None, dtype=None, vae=None):
    """Return a pipeline for the morph engine; see `pixelgif.models.loading.load_pipeline`."""
    from .loading import load_pipeline as _load

    return _load(model, lora=lora, lora_scale=lora_scale, device=device, dtype=dtype, vae=vae)


__all__ = ["BUNDLED", "LORA_PRESETS", "MODEL_PRESETS", "RENAMED_MODELS", "SD21", "load_pipeline"]
